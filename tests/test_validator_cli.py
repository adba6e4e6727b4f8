"""eco-validate as a user runs it: exit codes, formats, step summary, start-up cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, ROOT

from validator.cli import main

GOOD = FIXTURES / "valid" / "synthetic-two-measurements.json"
BAD = FIXTURES / "invalid" / "stats.mismatch__power_std_edited.json"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def test_exit_codes() -> None:
    runner = CliRunner()
    assert runner.invoke(main, [str(GOOD)]).exit_code == 0
    assert runner.invoke(main, [str(BAD)]).exit_code == 1
    assert runner.invoke(main, ["does-not-exist.json"]).exit_code == 2
    assert runner.invoke(main, []).exit_code == 2
    assert runner.invoke(main, ["--format", "xml", str(GOOD)]).exit_code == 2


@pytest.mark.parametrize("where", ["missing", "fifo"])
def test_an_accepted_folder_that_is_not_one_is_a_usage_error(where: str, tmp_path: Path) -> None:
    """--accepted naming no folder checked nothing against the accepted files and said ACCEPTED."""
    accepted = tmp_path / "submissions"
    if where == "fifo":
        os.mkfifo(accepted)
    result = CliRunner().invoke(main, ["--accepted", str(accepted), str(GOOD)])
    assert result.exit_code == 2 and "is not a folder" in result.output and "ACCEPTED" not in result.output


def test_text_output_is_actionable() -> None:
    out = CliRunner().invoke(main, [str(BAD)]).output
    assert "stats.mismatch" in out and "/measurements/0/summary/power_w_std" in out and "fix:" in out
    assert out.rstrip().endswith("0 warning(s)") and "REJECTED" in out


def test_json_output(tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    other = FIXTURES / "valid" / "synthetic-ok-gatefailed-skipped.json"
    result = CliRunner().invoke(main, ["--format", "json", "--output", str(report_file), str(BAD), str(other)])
    payload = json.loads(result.output)
    assert payload["accepted"] is False
    assert payload["counts"] == {"stats.mismatch": 1}
    assert payload["findings"][0]["line"] > 1
    assert json.loads(report_file.read_text()) == payload


def test_output_replaces_only_its_own_report(tmp_path: Path) -> None:
    """--output creates a file or replaces an eco-validate report: naming the submission under test
    replaced it with the report, and a link was written through."""
    runner = CliRunner()
    report = tmp_path / "report.json"
    assert runner.invoke(main, ["--output", str(report), str(GOOD)]).exit_code == 0
    assert json.loads(report.read_text())["accepted"] is True
    assert runner.invoke(main, ["--output", str(report), str(BAD)]).exit_code == 1  # its own: replaced
    assert json.loads(report.read_text())["accepted"] is False
    submission = tmp_path / "mine.json"
    submission.write_bytes(GOOD.read_bytes())
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me")
    (tmp_path / "link.json").symlink_to(elsewhere)
    for target, says in ((submission, "is not a report eco-validate wrote"), (tmp_path / "link.json", "is a link")):
        result = runner.invoke(main, ["--output", str(target), str(submission)])
        assert result.exit_code == 2 and says in result.output, result.output
    assert submission.read_bytes() == GOOD.read_bytes() and elsewhere.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.txt", "link.json", "mine.json", "report.json"]


def test_output_replaces_no_file_that_only_begins_like_a_report(tmp_path: Path) -> None:
    """A report is known by all of its bytes: a note that starts like one, an edited report, a huge
    file that starts like one, and JSON nested beyond the parser are left as they are."""
    runner = CliRunner()
    report = tmp_path / "report.json"
    assert runner.invoke(main, ["--output", str(report), str(GOOD)]).exit_code == 0
    ours = report.read_bytes()
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:  # sparse: no disk is used for the zeros
        fh.write(ours)
        fh.truncate(70 << 20)
    cases = {
        "note.json": b'{\n  "accepted": true, "my notes": "keep"}\n',
        "edited.json": ours.replace(b'"accepted": true', b'"accepted": true '),
        "deep.json": b'{\n  "accepted": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "not-utf8.json": b'{\n  "accepted": "\xff"}',
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    for name in [*cases, "huge.json"]:
        result = runner.invoke(main, ["--output", str(tmp_path / name), str(GOOD)])
        assert result.exit_code == 2 and "is not a report eco-validate wrote" in result.output, (name, result.output)
    assert all((tmp_path / name).read_bytes() == content for name, content in cases.items())
    assert huge.stat().st_size == 70 << 20 and huge.read_bytes()[: len(ours)] == ours
    assert runner.invoke(main, ["--output", str(report), str(BAD)]).exit_code == 1  # its own: replaced


def test_a_file_larger_than_any_report_is_not_read_to_be_refused(tmp_path: Path) -> None:
    """A file that starts like a report but is larger than one can be is refused by its size: 64 MiB
    of it were read into memory first."""
    import tracemalloc

    from validator import reporters

    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:  # sparse: no disk is used for the zeros
        fh.write(reporters.JSON_REPORT_START)
        fh.truncate(reporters.MAX_JSON_REPORT_BYTES + 1)
    tracemalloc.start()
    try:
        result = CliRunner().invoke(main, ["--output", str(huge), str(GOOD)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code == 2 and "is not a report eco-validate wrote" in result.output
    assert peak < 16 << 20, peak


def test_a_write_protected_report_is_refused_before_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only report (or one made immutable, which even root cannot replace) is refused before
    the run, not after it: the kernel's answer is what counts, so it is asked (here as a non-root
    user's would answer for a 0444 file)."""
    import os

    report = tmp_path / "report.json"
    assert CliRunner().invoke(main, ["--output", str(report), str(GOOD)]).exit_code == 0
    ours = report.read_bytes()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == report else real_access(p, mode))
    result = CliRunner().invoke(main, ["--output", str(report), str(BAD)])
    assert result.exit_code == 2 and "write-protected" in result.output and "REJECTED" not in result.output
    assert report.read_bytes() == ours


def test_the_json_report_starts_as_output_recognises_it() -> None:
    from validator import reporters
    from validator.run import Report

    for report in (Report(), Report(files=["x"], findings=[])):
        text = reporters.render_json(report)
        assert text.encode().startswith(reporters.JSON_REPORT_START)
        assert json.loads(text).keys() == reporters.JSON_REPORT_KEYS
        assert reporters.is_json_report(text.encode())


def test_output_is_refused_before_the_run_where_it_cannot_be_written(tmp_path: Path) -> None:
    """A folder (a trailing slash once made a file of it), a missing folder: usage errors, nothing run."""
    runner = CliRunner()
    for given, says in (
        (f"{tmp_path}/newdir/", "names a folder"),
        (f"{tmp_path}/newdir/.", "names a folder"),
        (str(tmp_path / "missing" / "r.json"), "no such folder, or no permission"),
    ):
        result = runner.invoke(main, ["--output", given, str(GOOD)])
        assert result.exit_code == 2 and says in result.output and "ACCEPTED" not in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def test_output_of_the_longest_name_gets_the_mode_a_new_file_gets(tmp_path: Path) -> None:
    """The temporary file's name once added to the report's and passed the 255-byte limit; mkstemp's
    0600 was kept."""
    import os

    report = tmp_path / ("r" * 250 + ".json")
    old = os.umask(0o022)
    try:
        assert CliRunner().invoke(main, ["--output", str(report), str(GOOD)]).exit_code == 0
    finally:
        os.umask(old)
    assert report.stat().st_mode & 0o777 == 0o644 and json.loads(report.read_text())["accepted"] is True


def test_github_annotations_and_step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = CliRunner().invoke(main, ["--format", "github", str(BAD)]).output
    first = out.splitlines()[0]
    assert first.startswith(
        "::error file=tests/fixtures/submissions/invalid/stats.mismatch__power_std_edited.json,line="
    )
    assert "title=stats.mismatch::" in first
    assert "| `stats.mismatch` |" in summary.read_text()


def test_github_escapes_untrusted_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from validator import reporters
    from validator.findings import make
    from validator.run import Report

    evil = make("json.syntax", "a,b:c\n::error::pwned.json", "", "bad\n::warning::x %0A \x1b[2J\u202e")
    out = reporters.render_github(Report(files=[evil.file], findings=[evil]))
    assert out.count("\n") == 2  # one annotation line + verdict: no injected workflow command
    assert "file=a%2Cb%3Ac\\n%3A%3Aerror%3A%3Apwned.json," in out and "bad\\n::warning::x %250A" in out
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b[2J\\u202e" in out


def test_annotations_are_capped() -> None:
    from validator import reporters
    from validator.findings import make
    from validator.run import Report

    findings = [make("json.syntax", f"f{i}.json", "", "x") for i in range(80)]
    out = reporters.render_github(Report(files=[f.file for f in findings], findings=findings))
    assert out.count("::error") == reporters.GITHUB_ANNOTATION_CAP
    assert "30 more findings" in out


def test_help_starts_fast_without_torch() -> None:
    code = "import sys, validator.cli; assert 'torch' not in sys.modules and 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    result = subprocess.run([sys.executable, "-m", "validator", "--help"], capture_output=True, text=True, check=True)
    assert "Exit status" in result.stdout


@pytest.mark.parametrize("option", ["--base", "--reference"])
def test_usage_errors_escape_the_values_they_echo(option: str, tmp_path: Path) -> None:
    # a newline in --base or --reference started a line of its own: a forged GitHub workflow command
    forged = "nope\n::error file=README.md::forged\x1b[31m"
    value = forged if option == "--base" else str(tmp_path / forged)
    result = CliRunner().invoke(main, [option, value, str(GOOD)])
    assert result.exit_code == 2
    assert "forged" in result.output
    assert not any(line.startswith("::") for line in result.output.splitlines())
    assert "\x1b" not in result.output


def test_a_name_with_a_line_break_is_shown_escaped(tmp_path: Path) -> None:
    """A file named "bad\\nfile.json" reads as that name in every format, not as "bad file.json" (a
    name the user cannot find) and not as a second line."""
    named = tmp_path / "bad\nfile.json"
    named.write_text("{", encoding="utf-8")
    for fmt in ("text", "github"):
        out = CliRunner().invoke(main, ["--format", fmt, str(named)]).output
        assert "bad\\nfile.json" in out, out
        assert "bad file.json" not in out and not any(line.startswith("file.json") for line in out.splitlines())


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_step_summary_that_cannot_be_written_is_one_line_naming_the_variable(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO no process reads held the finished run for ever; other failures named a path the user
    never typed, with no word of where it came from."""
    import signal

    summary = tmp_path / "summary"
    os.mkfifo(summary) if kind == "fifo" else summary.mkdir()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    def blocked(*_: object) -> None:
        pytest.fail("blocked: the step summary's FIFO was opened and waited on")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(5)
    try:
        result = CliRunner().invoke(main, ["--format", "github", str(GOOD)])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result.exit_code == 1
    last = result.output.splitlines()[-1]
    assert last.startswith(f"eco-validate: error: cannot append the step summary to GITHUB_STEP_SUMMARY={summary} (")
