"""Bounded outputs pick findings fairly (review37's shared cap, in the reporters): GitHub's annotations and the
step summary took the first findings sorted by file, so one file's hundreds hid every later file's, an error
behind another file's warnings, and a file's second code behind its first code's many findings."""

from __future__ import annotations

from validator import reporters
from validator.findings import Finding, make
from validator.run import Report


def _many(file: str, n: int, code: str = "stats.mismatch", message: str = "x") -> list[Finding]:
    return [make(code, file, f"/measurements/{i}", message, line=i + 1) for i in range(n)]


def _annotated(findings: list[Finding]) -> list[str]:
    out = reporters.render_github(Report(files=sorted({f.file for f in findings}), findings=findings))
    return [line for line in out.splitlines() if line.startswith(("::error file=", "::warning file="))]


def test_one_files_many_findings_leave_room_for_every_other_files() -> None:
    findings = _many("a.json", 80) + _many("b.json", 1) + _many("c.json", 3)
    lines = _annotated(findings)
    assert len(lines) == reporters.GITHUB_ANNOTATION_CAP
    assert sum("file=b.json" in line for line in lines) == 1 and sum("file=c.json" in line for line in lines) == 3
    assert lines == sorted(lines, key=lambda line: (line.split(",")[0], int(line.split("line=")[1].split(",")[0])))


def test_errors_are_annotated_before_warnings() -> None:
    warnings = _many("a.json", 80, code="physics.counter_sampler")
    lines = _annotated(warnings + _many("b.json", 1))
    assert warnings[0].severity.value == "warning" and any(line.startswith("::error file=b.json") for line in lines)


def test_a_files_every_code_before_a_second_of_one() -> None:
    findings = [*_many("a.json", 80), make("json.syntax", "a.json", "/z", "y", line=999)]
    assert any("title=json.syntax" in line for line in _annotated(findings))


def test_the_step_summary_shows_every_files_first_findings() -> None:
    findings = _many("a.json", 12_000, message="y" * 100) + _many("z.json", 2)
    out = reporters.render_step_summary(Report(files=["a.json", "z.json"], findings=findings))
    assert len(out.encode()) <= reporters.STEP_SUMMARY_MAX_BYTES
    rows = [line for line in out.splitlines() if line.startswith("| ") and "json" in line]
    assert sum(row.startswith("| z\\.json |") for row in rows) == 2
    assert rows[-2:] == [row for row in rows if row.startswith("| z\\.json")]  # shown sorted
    assert out.rstrip().endswith(f"{len(findings) - len(rows)} more finding(s) not shown here; see the JSON report.")


def test_the_note_claims_every_files_first_finding_only_where_they_are() -> None:
    # 60 files of one finding each: 10 files have none annotated, and the note said "each file's first of each code
    # are" (review39)
    findings = [f for k in range(60) for f in _many(f"f{k:02d}.json", 1)]
    out = reporters.render_github(Report(files=sorted({f.file for f in findings}), findings=findings))
    (note,) = [line for line in out.splitlines() if "more findings not annotated" in line]
    assert "first of each code are" not in note and "10 more findings" in note
    out = reporters.render_github(Report(files=["a.json"], findings=_many("a.json", 80)))
    assert "(each file's first of each code are)" in out
