"""A file an earlier build (or report) wrote and the user edited since (notes added to its README.md, a figure
replaced) was replaced with the rest and lost: the marker listed the files, not their bytes. It records each
file's size and sha256, and an edited file is refused as one the tool did not write, before any work and again
just before the swap; a deleted one loses nothing and does not stop the build (attack ds2 N2)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, usage_error
from fake_hub import GITATTRIBUTES, PARQUET, Hub, make_build, released

from advisor.report import REPORT
from dataset_card import outdir
from dataset_card.cli import main as dataset
from dataset_card.publish import MANIFEST, PublishError, dry_run, publish
from ecocompute import marked, smallfile

posix = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs")


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p != out)


def _write(content: str):  # a stand-in for the dataset writer: a card and a Parquet file in a subfolder
    def write(staging: Path) -> None:
        (staging / "measurements").mkdir()
        (staging / "measurements" / "part.parquet").write_text(content)
        (staging / "README.md").write_text(f"card {content}")

    return write


def _earlier(tmp_path: Path) -> Path:
    out = tmp_path / "llm-energy"
    outdir.replace(out, _write("old"))
    return out


def test_an_edited_file_is_refused_before_any_work_and_kept(tmp_path: Path) -> None:
    out = _earlier(tmp_path)
    (out / "README.md").write_text("card old\n\nMy notes on these numbers.\n")
    before = _tree(out)
    (tmp_path / "submissions").mkdir()
    args = ["build", "--submissions", str(tmp_path / "submissions"), "--legacy", str(ROOT / "legacy")]
    line = usage_error(CliRunner().invoke(dataset, [*args, "--out", str(out)]))  # exit 2, one line
    assert line == (
        f"--out {out} is an earlier eco-dataset build, but README.md no longer holds the bytes eco-dataset wrote "
        "there (edited since?); nothing written: move the edited file out of the folder, or remove the folder "
        "yourself (eco-dataset never deletes what it did not write)"
    )
    assert _tree(out) == before and _siblings(out) == ["submissions"]


def test_a_file_edited_while_the_build_runs_is_refused_before_the_swap(tmp_path: Path) -> None:
    out = _earlier(tmp_path)

    def edit_then_write(staging: Path) -> None:
        (out / "measurements" / "part.parquet").write_text("mine")  # the same size, other bytes
        _write("new")(staging)

    with pytest.raises(outdir.OutputError, match=r"but measurements/part\.parquet no longer holds the bytes"):
        outdir.replace(out, edit_then_write)
    assert _tree(out)["measurements/part.parquet"] == b"mine" and _siblings(out) == []


def test_a_file_edited_after_the_last_check_is_kept_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Edited between the check before the swap and the rename that sets the old build aside: the old build is
    kept where it was set aside, as with a file added in that instant."""
    out = _earlier(tmp_path)
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if self == out:
            (out / "README.md").write_text("my card")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(outdir.OutputError, match=r"it now holds README\.md \(edited since eco-dataset wrote it\)$"):
        outdir.replace(out, _write("new"))
    [aside] = [tmp_path / name for name in _siblings(out)]
    assert (aside / "README.md").read_text() == "my card" and (out / "README.md").read_text() == "card new"


def test_a_set_aside_build_holding_a_file_not_its_own_is_kept_without_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the build did not write keeps the set-aside folder already: its listed files (a build's Parquet files
    reach 100 MB) were hashed for the message alone (review35 L2). With none such, an edit is named as before."""
    out = _earlier(tmp_path)
    (out / "notes.txt").write_text("mine")
    (out / "README.md").write_text("my card")

    def hashed(path: Path, wrote: marked.Written) -> str | None:
        raise AssertionError(f"{path} hashed")

    with monkeypatch.context() as patched:
        patched.setattr(marked, "differs", hashed)
        assert outdir.BUILD.kept_back(out) == ["notes.txt"]
    (out / "notes.txt").unlink()
    assert outdir.BUILD.kept_back(out) == ["README.md (edited since eco-dataset wrote it)"]


def test_a_deleted_file_does_not_stop_the_build(tmp_path: Path) -> None:
    out = _earlier(tmp_path)
    (out / "README.md").unlink()
    (out / "measurements" / "part.parquet").unlink()
    (out / "measurements").rmdir()
    outdir.replace(out, _write("new"))
    assert _tree(out)["README.md"] == b"card new" and _siblings(out) == []


def test_the_marker_records_each_files_size_and_sha256(tmp_path: Path) -> None:
    out = _earlier(tmp_path)
    marker = json.loads((out / outdir.MARKER).read_text(encoding="utf-8"))
    assert marker["files"] == ["README.md", "measurements/part.parquet"]
    assert marker["written"] == {
        "README.md": {"size": 8, "sha256": hashlib.sha256(b"card old").hexdigest()},
        "measurements/part.parquet": {"size": 3, "sha256": hashlib.sha256(b"old").hexdigest()},
    }


def test_a_marker_of_an_earlier_version_is_read_as_before(tmp_path: Path) -> None:
    """A marker without sizes and digests cannot tell an edited file: the folder is replaced, as it was."""
    out = _earlier(tmp_path)
    files = json.loads((out / outdir.MARKER).read_text(encoding="utf-8"))["files"]
    (out / outdir.MARKER).write_text(json.dumps({"format": outdir.FORMAT, "files": files}, indent=1))
    (out / "README.md").write_text("edited")
    outdir.check(out)
    outdir.replace(out, _write("new"))
    assert _tree(out)["README.md"] == b"card new" and _siblings(out) == []


@pytest.mark.parametrize(
    "written",
    [
        {},  # a file without its size and digest
        {"README.md": {"size": 8, "sha256": "0" * 64}, "x": {"size": 1, "sha256": "0" * 64}},  # one not listed
        {"README.md": {"size": True, "sha256": "0" * 64}},
        {"README.md": {"size": 8, "sha256": "G" * 64}},
        {"README.md": {"size": -1, "sha256": "0" * 64}},
        None,
    ],
)
def test_a_marker_whose_record_is_not_one_is_no_marker(tmp_path: Path, written: object) -> None:
    out = tmp_path / "llm-energy"
    out.mkdir()
    (out / "README.md").write_text("someone's")
    (out / outdir.MARKER).write_text(json.dumps({"format": outdir.FORMAT, "files": ["README.md"], "written": written}))
    with pytest.raises(outdir.OutputError, match=r"is not an eco-dataset build \(no \.eco-dataset-build marker\)"):
        outdir.check(out)
    assert (out / "README.md").read_text() == "someone's"


@posix
def test_a_fifo_where_a_file_was_is_refused_without_blocking(tmp_path: Path) -> None:
    out = _earlier(tmp_path)
    (out / "README.md").unlink()
    os.mkfifo(out / "README.md")
    with pytest.raises(outdir.OutputError, match=r"but README\.md no longer holds the bytes"):
        outdir.check(out)


def test_an_edited_report_is_refused_and_a_deleted_one_replaced(tmp_path: Path) -> None:
    out = tmp_path / "report"
    for content in ("first", "second"):
        with REPORT.replacing(out) as swap:
            (swap.staging / "REPORT.md").write_text(content)
    (out / "REPORT.md").write_text("second, with my notes")
    with pytest.raises(outdir.OutputError, match=r"but REPORT\.md no longer holds the bytes eco-advise wrote there"):
        REPORT.check(out)
    (out / "REPORT.md").unlink()
    with REPORT.replacing(out) as swap:
        (swap.staging / "REPORT.md").write_text("third")
    assert (out / "REPORT.md").read_text() == "third"


def test_a_release_publishes_the_marker_with_the_bytes_it_wrote(tmp_path: Path) -> None:
    """The published marker records the release's files; the next release reads its list as before (it deletes
    the figure it no longer draws), and the plan says what the changed marker is."""
    (tmp_path / "first").mkdir()
    first = make_build(tmp_path / "first", {"figures/old.png": b"\x89PNG old"})
    hub = Hub({".gitattributes": GITATTRIBUTES})
    publish(hub.api, "o/r", first, "1.0.0")
    manifest = json.loads(hub.files[MANIFEST])
    assert manifest["files"] == sorted(set(released(first)) - {".gitattributes", MANIFEST})
    assert manifest["written"][PARQUET] == {"size": 4, "sha256": hashlib.sha256(b"PAR1").hexdigest()}
    (tmp_path / "second").mkdir()
    second = make_build(tmp_path / "second")
    plan = dry_run(hub.api, "o/r", second, "1.1.0")
    assert (plan.added, plan.replaced, plan.deleted) == ([], [MANIFEST], ["figures/old.png"])
    assert plan.lines()[3] == f"  replace (1): {MANIFEST} (the list of this release's files, with their sha256)"
    publish(hub.api, "o/r", second, "1.1.0")
    assert hub.files == released(second)


def test_a_manifest_on_the_hub_whose_record_is_not_one_refuses_the_release(tmp_path: Path) -> None:
    listed = {"format": outdir.FORMAT, "files": ["figures/a.png"], "written": {"figures/a.png": {"size": 1}}}
    hub = Hub({".gitattributes": GITATTRIBUTES, MANIFEST: json.dumps(listed).encode(), "figures/a.png": b"x"})
    (tmp_path / "build").mkdir()
    with pytest.raises(PublishError, match=r'is not one \(its "written" entry for figures/a\.png is not a size'):
        publish(hub.api, "o/r", make_build(tmp_path / "build"), "1.0.0")
    assert hub.commits == 0


def _unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``name`` cannot be opened, as a file of mode 000 for a user other than root (the tests may run as root)."""
    real = smallfile.open_regular

    def open_regular(path: Path, *args: object, **kwargs: object) -> object:
        if path.name == name:
            raise smallfile.SmallFileError(path, "unreadable", strerror="Permission denied", errno=errno.EACCES)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(smallfile, "open_regular", open_regular)


def test_a_file_that_cannot_be_read_is_refused_as_such_not_as_edited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its bytes are unknown, so it is never replaced; "edited since?" sent the user looking for an edit where a
    permission was wrong (review35 L1)."""
    out = _earlier(tmp_path)
    _unreadable(monkeypatch, "README.md")
    with pytest.raises(outdir.OutputError) as refused:
        outdir.check(out)
    assert str(refused.value) == (
        f"--out {out} is an earlier eco-dataset build, but README.md cannot be read to compare with what eco-dataset "
        "wrote (Permission denied: permissions?); nothing written: move the unreadable file out of the folder, or "
        "remove the folder yourself (eco-dataset never deletes what it did not write)"
    )
    (out / "measurements" / "part.parquet").write_text("mine")  # edited as well: both named, each for what it is
    with pytest.raises(outdir.OutputError, match=r"but measurements/part\.parquet no longer holds the bytes .* and "):
        outdir.check(out)
    assert outdir.BUILD.kept_back(out) == [
        "README.md (cannot be read: Permission denied)",
        "measurements/part.parquet (edited since eco-dataset wrote it)",
    ]


def test_a_read_error_while_comparing_is_named_for_what_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _earlier(tmp_path)

    def failing(stream: object, limit: int) -> str:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(marked, "_sha256", failing)
    assert marked.differs(out / "README.md", marked.Written(1, "0" * 64)) == marked.EDITED  # another size: not read
    wrote = marked.Written(8, hashlib.sha256(b"card old").hexdigest())
    assert marked.differs(out / "README.md", wrote) == "Input/output error"


def test_publish_names_a_file_that_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = make_build(tmp_path)
    _unreadable(monkeypatch, "README.md")
    with pytest.raises(PublishError) as refused:
        dry_run(Hub({}).api, "o/r", build, "1.0.0")
    assert str(refused.value) == (
        f"{build}: README.md cannot be read to compare with what eco-dataset build wrote (Permission denied: "
        "permissions?); nothing published: make the build's files readable and publish again"
    )
