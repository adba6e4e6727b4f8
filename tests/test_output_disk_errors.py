"""A full disk (ENOSPC, EFBIG, EDQUOT, EROFS) while a build or report is written ended in a bare "File too large":
one line names what was being written, where, why and what to do; the staging folder and the folders made for
--out are gone (attackds2 N3)."""

from __future__ import annotations

import errno
import re
from collections import OrderedDict
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from advisor import report as advisor_report
from advisor.report import REPORT
from dataset_card import build, outdir
from dataset_card.cli import main as dataset
from ecocompute import folders


def test_a_full_disk_during_a_build_is_one_line_naming_the_file_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    def full(figure: Figure, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"\x89PNG")  # a part written, then the disk is full (PIL's error names no file)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    monkeypatch.setattr(advisor_report, "_DRAWN", OrderedDict())  # no copy of a figure an earlier test drew
    # neither the layout nor the checks are part of it: 0.4 s and 0.3 s (pandera's first import) saved
    monkeypatch.setattr(Figure, "tight_layout", lambda figure: None)
    monkeypatch.setattr(build, "_check", lambda tables: None)
    (tmp_path / "submissions").mkdir()
    out = tmp_path / "out" / "new"
    args = ["build", "--submissions", str(tmp_path / "submissions"), "--legacy", str(ROOT / "legacy")]
    result = CliRunner().invoke(dataset, [*args, "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    [line] = result.output.splitlines()
    said = (
        rf"eco-dataset: error: cannot write an eco-dataset build beside --out {re.escape(str(out))}: No space left on "
        r"device \(ENOSPC\), writing figures/report/[a-z0-9-]+\.png in "
        rf"{re.escape(str(out.parent))}/\.new\.tmp-[0-9a-f]{{8}}, the staging folder; nothing written, --out is as "
        r"it was: the disk is full: free space on it, or give an --out on another disk"
    )
    assert re.fullmatch(said, line), line
    assert not (tmp_path / "out").exists()  # the staging folder and the folder made for it are gone


def test_the_parquet_writer_names_its_file_on_a_disk_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    from dataset_card import writer

    def too_large(table: object, path: Path, **kwargs: object) -> None:
        raise OSError(errno.EFBIG, "Error writing bytes to file. Detail: [errno 27] File too large")  # pyarrow's

    monkeypatch.setattr(writer.pq, "write_table", too_large)
    out = tmp_path / "new"
    with pytest.raises(folders.FolderError) as caught:
        outdir.replace(out, lambda staging: writer.write(pa.table({"a": [1]}), staging, "trials"))
    assert re.fullmatch(
        rf"cannot write an eco-dataset build beside --out {re.escape(str(out))}: File too large \(EFBIG\), writing "
        r"trials/train-00000-of-00001\.parquet in .*/\.new\.tmp-[0-9a-f]{8}, the staging folder; nothing written, "
        r"--out is as it was: a file grew past the size this process \(ulimit -f\) or the file system allows: raise "
        r"the limit, or give an --out on another file system",
        str(caught.value),
    )
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_disk_under_a_report_keeps_the_earlier_one(tmp_path: Path) -> None:
    from ecocompute import diskerrors

    out = tmp_path / "report"
    out.mkdir()
    (out / "REPORT.md").write_text("the earlier report")
    REPORT.mark(out)
    with (
        pytest.raises(folders.FolderError) as caught,
        REPORT.replacing(out) as swap,
        diskerrors.writing(swap.staging / "REPORT.md"),
    ):
        raise OSError(errno.EROFS, "Read-only file system")
    assert str(caught.value).startswith(f"cannot write an eco-advise report beside --out {out}: Read-only file ")
    assert "(EROFS), writing REPORT.md in " in str(caught.value)
    assert str(caught.value).endswith("the file system is read-only: give an --out on a writable one")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"] and (out / "REPORT.md").read_text().startswith(
        "the"
    )


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOMEM, "Cannot allocate memory"), PermissionError(errno.EACCES, "Permission denied", "/in/a.json")],
)
def test_an_error_that_is_no_disks_is_not_worded_as_one(tmp_path: Path, error: OSError) -> None:
    """A fork out of memory, or an input that cannot be read, met while the output was made, read "cannot write
    ... beside --out ...: give an --out on another disk" (review 33): it leaves as it was, the staging folder gone."""
    with pytest.raises(OSError) as caught, REPORT.replacing(tmp_path / "report"):
        raise error
    assert caught.value is error and list(tmp_path.iterdir()) == []


def test_a_file_refused_in_the_staging_folder_is_the_disks(tmp_path: Path) -> None:
    from ecocompute import diskerrors

    out = tmp_path / "report"
    with (
        pytest.raises(folders.FolderError, match=r"Permission denied \(EACCES\), writing REPORT\.md in "),
        REPORT.replacing(out) as swap,
        diskerrors.writing(swap.staging / "REPORT.md"),
    ):
        raise PermissionError(errno.EACCES, "Permission denied")
    assert list(tmp_path.iterdir()) == []
