"""eco-dataset build: removing the previous build after the swap failed (a folder in it the user made
read-only) ended in a raw error though the new build was complete (attackv24). Now one warning line naming
the set-aside folder, the build succeeds (exit 0), and nothing else is deleted (leftovers33). The library
returns that line (``folders.Swap.warnings``) and each command prints it: eco-dataset build, eco-dataset
report and eco-advise report (tidy34)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import ROOT

from advisor.cli import main as advise
from advisor.report import REPORT
from dataset_card import outdir
from dataset_card.cli import main as dataset
from ecocompute import folders


def _write(content: str):  # a stand-in for the dataset writer
    def write(staging: Path) -> None:
        (staging / "figures").mkdir()
        (staging / "figures" / "a.txt").write_text(content)
        (staging / "README.md").write_text(f"card {content}")

    return write


def _unremovable(monkeypatch: pytest.MonkeyPatch, out: Path) -> None:
    """Removing ``out``'s set-aside folder fails, as a read-only folder inside it makes it fail."""
    real_rmtree = shutil.rmtree

    def rmtree(path: Path, *args: object, **kwargs: object) -> None:
        if Path(path).name.startswith(f".{out.name}.old-"):
            raise PermissionError(13, "Permission denied", str(Path(path) / "figures" / "a.txt"))
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(folders.shutil, "rmtree", rmtree)


def _aside(out: Path) -> Path:
    [aside] = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.old-")]
    return aside


def _warning(tool: str, out: Path) -> str:
    aside = _aside(out)
    return (
        f"{tool}: warning: the new output is in place at {out}; the previous one, set aside at {aside}, could "
        f"not be removed (Permission denied: {aside / 'figures' / 'a.txt'}): remove that folder by hand\n"
    )


def test_an_old_build_that_cannot_be_removed_is_named_and_the_new_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "llm-energy"
    outdir.replace(out, _write("old"))
    _unremovable(monkeypatch, out)
    with click.Context(click.Command("eco-dataset"), info_name="eco-dataset"):
        warnings = outdir.replace(out, _write("new"))  # no exception: the command ends with exit 0
    aside = _aside(out)
    assert capsys.readouterr() == ("", "")  # returned for the command to show, never printed by the library
    assert [f"eco-dataset: warning: {line}\n" for line in warnings] == [_warning("eco-dataset", out)]
    assert (out / "README.md").read_text() == "card new" and (aside / "README.md").read_text() == "card old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([aside.name, "llm-energy"])


def test_eco_dataset_build_prints_the_warning_and_succeeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "llm-energy"
    outdir.replace(out, _write("old"))
    (tmp_path / "submissions").mkdir()
    _unremovable(monkeypatch, out)
    args = ["build", "--submissions", str(tmp_path / "submissions"), "--legacy", str(ROOT / "legacy")]
    result = CliRunner().invoke(dataset, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr == _warning("eco-dataset", out)
    assert result.stdout.startswith(f"built {out} version ")
    assert (_aside(out) / "README.md").read_text() == "card old" and (out / outdir.MARKER).exists()


@pytest.mark.parametrize(("tool", "main"), [("eco-advise", advise), ("eco-dataset", dataset)])
def test_a_report_command_prints_the_warning_and_succeeds(
    advisor_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str, main: click.Group
) -> None:
    out = tmp_path / "report"
    with REPORT.replacing(out) as swap:
        (swap.staging / "REPORT.md").write_text("the earlier report")
    _unremovable(monkeypatch, out)
    result = CliRunner().invoke(main, ["report", "--dataset", str(advisor_build), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr == _warning(tool, out)
    assert result.stdout.startswith(f"wrote {out / 'REPORT.md'} and ")
    assert (_aside(out) / "REPORT.md").read_text() == "the earlier report"
