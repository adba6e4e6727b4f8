"""Small defects left by attackds2 (N1, N3, N4, N6) and attack v23 (U5), each with what the user should have met.

- N1: eco-dataset build --out inside an earlier build (or an earlier report, or inside any input) was accepted; the
  earlier build then held files its marker does not list, and its next rebuild was refused. Refused up front.
- N6: eco-collect run --out-dir submissions/<handle> wrote submissions/<handle>/<handle>/<id>.json, which CI refuses
  (file.path_policy), after the whole run: refused before anything is measured, naming the folder to give.
- U5: an integer literal longer than Python's 4,300 digits was refused with Python's own advice to call
  sys.set_int_max_str_digits(); the finding now says which number, where, and what to write instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import synthetic
from click.testing import CliRunner
from conftest import ROOT, usage_error

from advisor.report import REPORT
from collector import cli, submission
from collector.errors import CollectOptionError
from dataset_card import outdir
from dataset_card.cli import main as dataset
from ecocompute import folders
from validator import loading


def test_an_integer_too_long_to_read_is_named_at_its_place(tmp_path: Path) -> None:
    doc = synthetic.submission(seed=3)
    doc["measurements"][1]["batch_size"] = 123456789  # a marker, replaced by 5,000 nines in the text
    text = json.dumps(doc, indent=1).replace("123456789", "9" * 5000, 1)
    path = tmp_path / "big.json"
    path.write_text(text)
    [finding] = loading.load(path).findings
    line = text[: text.index("9" * 5000)].count("\n") + 1
    assert (finding.code, finding.pointer, finding.line) == ("json.syntax", "/measurements/1/batch_size", line)
    assert finding.message.startswith(f"an integer of 5000 digits at /measurements/1/batch_size (line {line}), ")
    assert "set_int_max_str_digits" not in finding.message and "write the value eco-collect recorded" in finding.message


@pytest.mark.parametrize(
    ("given", "why", "instead"),
    [
        ("submissions/alice", "lies inside submissions/alice", "submissions"),
        ("repo/submissions/Alice/run-1", "lies inside submissions/Alice", "repo/submissions"),
        ("results/alice", "ends in the handle alice", "results"),
    ],
)
def test_an_out_dir_that_is_the_handles_own_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, why: str, instead: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CollectOptionError) as caught:
        submission.check_out_dir(Path(given), "alice")
    assert str(caught.value) == (
        f"--out-dir {given} {why}: the file goes to a folder named after the handle inside --out-dir, here "
        f"{given}/alice, which CI refuses (file.path_policy); nothing measured: give --out-dir {instead}, the folder "
        "that holds the handles' folders"
    )
    for fine in ("submissions", "alice-results", "submissions/bob/../"):
        submission.check_out_dir(Path(fine), "alice")
    (tmp_path / "submissions" / "alice").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "submissions" / "alice")  # "." is the handle's folder too
    with pytest.raises(CollectOptionError, match=f"give --out-dir {tmp_path / 'submissions'}, "):
        submission.check_out_dir(Path("."), "alice")


def test_the_cli_refuses_the_handles_folder_in_one_line_before_anything(tmp_path: Path) -> None:
    out = tmp_path / "submissions" / "alice"
    args = ["run", "--model", "Qwen/Qwen2.5-3B-Instruct", "--weights", "random", "--handle", "alice"]
    result = CliRunner().invoke(cli.main, [*args, "--out-dir", str(out)])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"eco-collect: error: --out-dir {out} lies inside submissions/alice: ")
    assert line.endswith(f"give --out-dir {out.parent}, the folder that holds the handles' folders")
    assert not out.exists() and not (tmp_path / ".eco-collect").exists()


def _earlier_build(folder: Path) -> Path:
    (folder / "figures").mkdir(parents=True)
    (folder / "README.md").write_text("card")
    (folder / "figures" / "a.png").write_bytes(b"png")
    outdir.mark(folder)
    return folder


@pytest.mark.parametrize("inside", ["figures/x", "new", "new/deeper"])
def test_an_out_inside_an_earlier_build_is_refused_before_any_work(tmp_path: Path, inside: str) -> None:
    build = _earlier_build(tmp_path / "build" / "llm-energy")
    (tmp_path / "submissions").mkdir()
    out = build / inside
    args = ["build", "--submissions", str(tmp_path / "submissions"), "--legacy", str(ROOT / "legacy")]
    line = usage_error(CliRunner().invoke(dataset, [*args, "--out", str(out)]))
    assert line == (
        f"--out {out} lies inside {build}, an earlier eco-dataset build, whose next run would find files eco-dataset "
        f"did not write and refuse to replace it; nothing written: give a folder outside it, or {build} itself to "
        "replace it"
    )
    assert not out.exists() and outdir.BUILD.foreign(build) == []


def test_an_output_inside_another_kinds_output_is_refused(tmp_path: Path) -> None:
    build = _earlier_build(tmp_path / "build")
    with pytest.raises(folders.OutError, match=r"lies inside .*, an earlier eco-dataset build, .* outside it$"):
        REPORT.check(build / "report")  # a report written inside a build
    (tmp_path / "report").mkdir()
    REPORT.mark(tmp_path / "report")
    with pytest.raises(folders.OutError, match=r"lies inside .*, an earlier eco-advise report, .* outside it$"):
        outdir.check(tmp_path / "report" / "build")


def test_an_earlier_build_holding_an_input_is_refused(tmp_path: Path) -> None:
    build = _earlier_build(tmp_path / "build")  # --submissions its figures folder: the swap would replace it
    args = ["build", "--submissions", str(build / "figures"), "--legacy", str(ROOT / "legacy"), "--out", str(build)]
    line = usage_error(CliRunner().invoke(dataset, args))
    assert line == (
        f"--submissions {build / 'figures'} lies inside --out {build}, which the build replaces whole; nothing "
        "written: give an --out outside it (the default is build/llm-energy)"
    )
