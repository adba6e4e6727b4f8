"""Places eco-dataset's outputs and inputs may name (attack ds2): a mount point as --out, the folders a
failed run made to hold --out, a --submissions folder given as a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ROOT

from dataset_card import build, outdir
from ecocompute import folders


def _fail(staging: Path) -> None:
    (staging / "README.md").write_text("half")
    raise OSError(27, "File too large")


def test_a_mount_point_is_refused_before_any_work() -> None:
    """A volume (docker -v host:/out) took the whole build, then its swap failed with 'Device or resource
    busy: <a folder the user never named>': a rename cannot replace a mount point."""
    mount = next((Path(p) for p in ("/proc", "/sys", "/dev") if os.path.ismount(p)), None)
    if mount is None:
        pytest.skip("no mount point to try")
    with pytest.raises(folders.OutError, match=r"is a mount point.*nothing written: give a new folder inside it"):
        folders.refuse_target(mount)


def test_a_failed_run_removes_the_folders_it_made_for_out(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "mine.txt").write_text("mine")
    for out in (tmp_path / "new" / "deeper" / "llm-energy", tmp_path / "kept" / "made" / "llm-energy"):
        with pytest.raises(folders.FolderError, match="File too large"):
            outdir.replace(out, _fail)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["kept", "kept/mine.txt"]
    out = tmp_path / "new" / "deeper" / "llm-energy"  # a build that succeeds keeps them
    outdir.replace(out, lambda staging: (staging / "README.md").write_text("card"))
    assert (out / "README.md").read_text() == "card"


def test_a_submissions_folder_given_as_a_link_is_a_usage_error(tmp_path: Path) -> None:
    """It read as one file: '2 validation error(s) ... path 'submissions/.' ... is a symbolic link'."""
    link = tmp_path / "subs"
    link.symlink_to(ROOT / "submissions", target_is_directory=True)
    with pytest.raises(build.BuildOptionError) as caught:  # an OptionError: exit 2, one line
        build.validated_tables(Path(f"{link}/"))
    assert str(caught.value) == (
        f"submissions folder {link} is a symbolic link (--submissions): give the folder itself "
        f"({ROOT / 'submissions'}); links are never followed"
    )
