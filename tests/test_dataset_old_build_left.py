"""eco-dataset build: removing the previous build after the swap failed (a folder in it the user made
read-only) ended in a raw error though the new build was complete (attackv24). Now one warning line naming
the set-aside folder, the build succeeds (exit 0), and nothing else is deleted (leftovers33)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest

from dataset_card import outdir
from ecocompute import folders


def _write(content: str):  # a stand-in for the dataset writer
    def write(staging: Path) -> None:
        (staging / "figures").mkdir()
        (staging / "figures" / "a.txt").write_text(content)
        (staging / "README.md").write_text(f"card {content}")

    return write


def test_an_old_build_that_cannot_be_removed_is_named_and_the_new_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "llm-energy"
    outdir.replace(out, _write("old"))
    real_rmtree = shutil.rmtree

    def rmtree(path: Path, *args: object, **kwargs: object) -> None:
        if Path(path).name.startswith(".llm-energy.old-"):  # as a read-only folder inside it makes it fail
            raise PermissionError(13, "Permission denied", str(Path(path) / "figures" / "a.txt"))
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(folders.shutil, "rmtree", rmtree)
    with click.Context(click.Command("eco-dataset"), info_name="eco-dataset"):
        outdir.replace(out, _write("new"))  # no exception: the command ends with exit 0
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith(".llm-energy.old-")]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"eco-dataset: warning: the new output is in place at {out}; the previous one, set aside at {aside}, could "
        f"not be removed (Permission denied: {aside / 'figures' / 'a.txt'}): remove that folder by hand\n"
    )
    assert (out / "README.md").read_text() == "card new" and (aside / "README.md").read_text() == "card old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([aside.name, "llm-energy"])
