"""The report in the dataset (issue 16): the build embeds eco-advise's report in the card, and
`eco-dataset report` writes the same report for a built folder, failing like the other commands."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FIXTURES, ROOT, usage_error

from advisor.data import DatasetError
from dataset_card.build import build
from dataset_card.cli import main as dataset

REAL = FIXTURES / "valid" / "h100-mistral7b-random-sweep.json"  # eight rows, every one gate_failed
TITLE = "## Energy per token against fp16: crossovers, batch size and power"


def _report(*args: str) -> Result:
    return CliRunner().invoke(dataset, ["report", *args])


def _section(card: str) -> str:
    """The card's report section: from its title to the next section of the card's own."""
    return card[card.index(TITLE) : card.index("\n## Measurement protocol")].strip()


def _as_embedded(markdown: str) -> str:
    """A standalone REPORT.md as the card embeds it: headings one level down, figures in figures/report/."""
    lines = ("#" + line if line.startswith("#") else line for line in markdown.splitlines())
    return "\n".join(line.replace("](figures/", "](figures/report/") for line in lines).strip()


def _without_source(markdown: str) -> str:
    return re.sub(r"^Dataset: `[^`]*`", "Dataset: `SOURCE`", markdown, flags=re.M)


@pytest.fixture(scope="module")
def gate_failed_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build whose only rows failed their gates, like the H100 rows in submissions/ today."""
    root = tmp_path_factory.mktemp("gate-failed")
    doc = json.loads(REAL.read_text(encoding="utf-8"))
    (root / "submissions" / doc["contributor"]["handle"]).mkdir(parents=True)
    shutil.copyfile(REAL, root / "submissions" / doc["contributor"]["handle"] / f"{doc['submission_id']}.json")
    return build(root / "submissions", ROOT / "legacy", root / "llm-energy", version="1.0.0").out_dir


def test_the_card_embeds_the_report_that_eco_dataset_report_writes(advisor_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = _report("--dataset", str(advisor_build), "--out", str(out))
    assert result.exit_code == 0, result.output
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert result.output == f"wrote {out / 'REPORT.md'} and {len(figures)} figure(s)\n"
    standalone = (out / "REPORT.md").read_text(encoding="utf-8")
    section = _section((advisor_build / "README.md").read_text(encoding="utf-8"))
    assert _without_source(section) == _without_source(_as_embedded(standalone))
    # the card names its dataset by repository and build label, never by a local path
    assert re.search(r"^Dataset: `ecocompute/llm-energy, build 0\.0\.0-dev\+[0-9a-f]{12}`", section, re.M)
    assert {"ratio", "batch", "power", "legacy"} <= {name.split("-")[0] for name in figures}
    built = advisor_build / "figures" / "report"
    assert sorted(p.name for p in built.iterdir()) == figures
    # Equal bytes: drawn from equal inputs (the report copies a figure it drew before from the same inputs,
    # to the last digit of every float) or drawn again, deterministically (test_rebuild_is_byte_identical).
    assert all((built / name).read_bytes() == (out / "figures" / name).read_bytes() for name in figures)
    assert "Crossovers" in section and "crossover at" in section  # the synthetic sweeps cross fp16


def test_without_gate_passing_rows_the_card_says_nothing_is_an_estimate(gate_failed_build: Path) -> None:
    section = _section((gate_failed_build / "README.md").read_text(encoding="utf-8"))
    assert "Rows: 0 ok, 8 gate_failed, 0 skipped" in section
    assert "**No row has status ok: nothing below is an estimate.**" in section
    assert "`eco-dataset report --include-gate-failed`" in section
    validated, legacy = section.split("### Legacy data (not validated: shown beside, never pooled)")
    points = [line for line in validated.splitlines() if line.startswith("| mistralai/")]
    assert len(points) == 6 and all(" | no | " in line for line in points)  # six ratios, none used
    crossovers = validated.split("### Crossovers", 1)[1].split("###", 1)[0]
    assert all("NVIDIA H100 80GB HBM3" in r for r in crossovers.splitlines() if r.startswith("| NVIDIA"))
    assert "A800" in legacy and "A800" not in validated  # legacy rows shown beside, never pooled
    assert "![legacy " in legacy and "/report/legacy-" in legacy


def test_include_gate_failed_reaches_the_report(gate_failed_build: Path, tmp_path: Path) -> None:
    result = _report("--dataset", str(gate_failed_build), "--out", str(tmp_path / "r"), "--include-gate-failed")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r" / "REPORT.md").read_text(encoding="utf-8")
    assert "Estimates use rows with status ok or gate_failed (8 rows)" in text
    assert "nothing below is an estimate" not in text
    assert all(" | yes | " in line for line in text.splitlines() if line.startswith("| mistralai/"))


def test_a_missing_dataset_is_a_usage_error_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = usage_error(_report("--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "r")))
    assert f"no dataset folder {tmp_path / 'nope'}" in line
    monkeypatch.chdir(tmp_path)
    assert "no dataset folder build/llm-energy" in usage_error(_report())  # the build's default --out
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_out_inside_a_file_or_on_a_build_is_a_usage_error_and_touches_nothing(
    gate_failed_build: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    line = usage_error(_report("--dataset", str(gate_failed_build), "--out", str(blocker / "report")))
    assert f"lies inside {blocker}, which is a file" in line
    assert "is not a folder" in usage_error(_report("--dataset", str(gate_failed_build), "--out", str(blocker)))
    assert blocker.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    before = {p: p.read_bytes() for p in gate_failed_build.rglob("*") if p.is_file()}
    line = usage_error(_report("--dataset", str(gate_failed_build), "--out", str(gate_failed_build)))
    assert "is not empty and is not an eco-advise report (no .eco-report marker)" in line
    assert {p: p.read_bytes() for p in gate_failed_build.rglob("*") if p.is_file()} == before


def test_usage_errors_exit_2_and_traceback_shows_the_story(tmp_path: Path) -> None:
    result = _report("--bogus")
    assert result.exit_code == 2 and "Usage:" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(dataset, ["--traceback", "report", "--dataset", str(tmp_path / "nope")])
    assert result.exit_code == 1 and isinstance(result.exception, DatasetError)


def test_the_batch_figure_says_sequence_where_the_dataset_says_request(advisor_build: Path) -> None:
    """The card's J/request (energy_per_request_j) is one decoding of the whole batch, as in eco-advise's answer;
    the report's batch figure plots one sequence of it, and says so rather than calling that a request too."""
    section = _section((advisor_build / "README.md").read_text(encoding="utf-8"))
    assert "#### Energy per sequence vs batch size" in section
    assert "energy per request" not in section.lower()
    assert "request, the dataset's `energy_per_request_j`, is one generate() call over the whole batch" in section
