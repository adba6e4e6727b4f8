"""`eco-dataset build --out`: never deletes what it did not write, swaps a finished build in, and
leaves the old build and no temporary folder behind when it fails."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, ROOT, usage_error

from dataset_card import outdir
from dataset_card.cli import main as dataset
from ecocompute import folders, listing

MIXED = FIXTURES / "valid" / "synthetic-ok-gatefailed-skipped.json"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _siblings(out: Path) -> list[str]:
    """Hidden folders beside ``out``: a staging or set-aside folder left behind (a long name is cut in theirs)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith("."))


def _write(content: str):  # a stand-in for the dataset writer: two files in a subfolder
    def write(staging: Path) -> None:
        (staging / "measurements").mkdir()
        (staging / "measurements" / "part.parquet").write_text(content)
        (staging / "README.md").write_text(f"card {content}")

    return write


def _build_cli(out: str | Path, submissions: Path | None = None) -> object:
    args = ["build", "--legacy", str(ROOT / "legacy"), "--out", str(out)]
    if submissions is not None:
        args += ["--submissions", str(submissions)]
    return CliRunner().invoke(dataset, args)


@pytest.fixture
def submissions(tmp_path: Path) -> Path:
    folder = tmp_path / "repo" / "submissions" / "synthetic-bot"
    folder.mkdir(parents=True)
    doc = json.loads(MIXED.read_text(encoding="utf-8"))
    (folder / f"{doc['submission_id']}.json").write_bytes(MIXED.read_bytes())
    return folder.parent


def test_a_folder_holding_a_foreign_file_is_refused_and_the_file_kept(tmp_path: Path, submissions: Path) -> None:
    out = tmp_path / "scratch"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _build_cli(out, submissions)
    line = usage_error(result)
    assert "not an eco-dataset build" in line and str(out) in line
    assert result.output.count("\n") == 1 and result.output.startswith("eco-dataset: error: ")  # issue 12: one line
    assert _tree(out) == {"notes.txt": b"mine"} and _siblings(out) == []


def test_a_checkout_given_as_dot_is_refused(tmp_path: Path, submissions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (checkout / "README.md").write_text("project")
    before = _tree(checkout)
    monkeypatch.chdir(checkout)
    line = usage_error(_build_cli(".", submissions))
    assert "current folder" in line
    monkeypatch.chdir(tmp_path)
    line = usage_error(_build_cli(checkout, submissions))  # the same folder named from outside
    assert "not an eco-dataset build" in line
    assert _tree(checkout) == before and sorted(p.name for p in tmp_path.iterdir()) == ["checkout", "repo"]


def test_a_previous_build_is_replaced_and_nothing_is_left_beside_it(tmp_path: Path, submissions: Path) -> None:
    out = tmp_path / "build" / "llm-energy"
    assert _build_cli(out, submissions).exit_code == 0
    first = _tree(out)
    assert outdir.MARKER in first and "measurements/train-00000-of-00001.parquet" in first
    marker = json.loads(first[outdir.MARKER])
    assert marker["format"] == outdir.FORMAT and sorted(marker["files"]) == sorted(set(first) - {outdir.MARKER})
    (out / "README.md").unlink()  # a file the build wrote and the user deleted: nothing to lose
    result = _build_cli(out, submissions)
    assert result.exit_code == 0, result.output
    assert _tree(out) == first and _siblings(out) == []
    (out / "README.md").write_text("my notes")  # edited: the user's now (test_dataset_out_edited.py)
    assert "README.md no longer holds the bytes eco-dataset wrote" in usage_error(_build_cli(out, submissions))
    assert (out / "README.md").read_text() == "my notes" and _siblings(out) == []


def test_an_empty_folder_is_used(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    outdir.replace(out, _write("a"))
    assert _tree(out)["README.md"] == b"card a" and _siblings(out) == []


def test_a_failure_mid_build_keeps_the_old_build_and_leaves_no_temporary_folder(tmp_path: Path) -> None:
    out = tmp_path / "llm-energy"
    outdir.replace(out, _write("old"))
    before = _tree(out)

    def half_then_fail(staging: Path) -> None:
        _write("new")(staging)
        raise OSError(28, "No space left on device")

    with pytest.raises(outdir.OutputError, match="No space left"):
        outdir.replace(out, half_then_fail)
    assert _tree(out) == before and _siblings(out) == []


def test_a_failed_swap_puts_the_old_build_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "llm-energy"
    outdir.replace(out, _write("old"))
    before = _tree(out)
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if self.name.startswith(".llm-energy.tmp-"):  # moving the new build in fails
            raise OSError(5, "Input/output error")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="Input/output"):
        outdir.replace(out, _write("new"))
    assert _tree(out) == before and _siblings(out) == []


def test_a_build_with_an_added_file_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    out = tmp_path / "llm-energy"
    outdir.replace(out, _write("old"))
    (out / "measurements" / "my-analysis.ipynb").write_text("{}")
    with pytest.raises(outdir.OutputError, match=re.escape("my-analysis.ipynb, which eco-dataset did not write")):
        outdir.replace(out, _write("new"))
    assert (out / "measurements" / "my-analysis.ipynb").read_text() == "{}" and _siblings(out) == []


def test_links_are_never_followed(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.csv").write_text("keep")
    link = tmp_path / "link-out"
    link.symlink_to(precious)
    with pytest.raises(outdir.OutputError, match="symbolic link"):
        outdir.replace(link, _write("new"))
    out = tmp_path / "llm-energy"
    outdir.replace(out, _write("old"))
    (out / "measurements" / "part.parquet").unlink()
    (out / "measurements" / "part.parquet").symlink_to(precious / "data.csv")  # a listed file became a link
    with pytest.raises(outdir.OutputError, match=re.escape("part.parquet")):
        outdir.replace(out, _write("new"))
    (out / "measurements" / "part.parquet").unlink()
    (out / "measurements" / "part.parquet").write_text("old")
    (out / "elsewhere").symlink_to(precious)  # a link to a folder inside the build
    with pytest.raises(outdir.OutputError, match="elsewhere"):
        outdir.replace(out, _write("new"))
    assert _tree(precious) == {"data.csv": b"keep"}


def test_a_forged_or_foreign_marker_is_not_ours(tmp_path: Path) -> None:
    out = tmp_path / "llm-energy"
    out.mkdir()
    (out / "data.parquet").write_text("someone's")
    for marker in (
        "",
        "not json",
        json.dumps({"format": "other/1", "files": []}),
        json.dumps({"format": outdir.FORMAT}),
        "[" * 200_000 + "]" * 200_000,  # json recurses: RecursionError was a traceback (attack s17c)
    ):
        (out / outdir.MARKER).write_text(marker)
        with pytest.raises(outdir.OutputError, match=re.escape("no .eco-dataset-build marker")):
            outdir.check(out)
    (out / outdir.MARKER).write_text(json.dumps({"format": outdir.FORMAT, "files": []}))
    with pytest.raises(outdir.OutputError, match=re.escape("data.parquet")):
        outdir.check(out)
    assert (out / "data.parquet").read_text() == "someone's"


def test_out_below_a_file_or_a_file_itself(tmp_path: Path, submissions: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    assert str(blocker) in usage_error(_build_cli(f"{blocker}/out", submissions))
    assert "is not a folder" in usage_error(_build_cli(blocker, submissions))
    assert blocker.read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["file", "repo"]


@pytest.mark.parametrize("name", ["n" * 241, "n" * 255, "\u00e9" * 127], ids=["241", "255", "254-bytes-of-e-acute"])
def test_a_name_as_long_as_the_file_system_allows_is_built_and_replaced(tmp_path: Path, name: str) -> None:
    out = tmp_path / name  # the staging folder's name cannot be ".NAME.tmp-XXXXXXXX" here: it would be too long
    outdir.replace(out, _write("old"))
    outdir.replace(out, _write("new"))  # the old build is set aside under a name of the same kind
    assert _tree(out)["README.md"] == b"card new" and _siblings(out) == []
    assert sorted(os.listdir(tmp_path)) == [name]


def test_two_long_names_sharing_their_start_stage_apart(tmp_path: Path) -> None:
    first, second = tmp_path / ("n" * 250 + "a"), tmp_path / ("n" * 250 + "b")
    staged = []

    def write(staging: Path) -> None:
        staged.append(staging.name)
        _write("x")(staging)

    outdir.replace(first, write)
    outdir.replace(second, write)
    assert all(len(os.fsencode(n)) <= 255 for n in staged)
    assert staged[0][:-8] != staged[1][:-8]  # the names' hash keeps them apart, not only the random end


def test_an_impossible_name_fails_at_once_naming_the_path_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    given = "build/" + "n" * 256
    # --submissions is missing too: the --out check comes first, before any reading or validation
    line = usage_error(_build_cli(given, tmp_path / "missing"))
    assert f"--out {given}: the name nnnnnnnnnnnnnnnnnnnnnnnn... is 256 bytes, longer than the 255" in line
    assert os.listdir(tmp_path) == []


def test_a_name_that_is_not_utf8_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes that are not UTF-8 reached the Parquet writer as a UnicodeEncodeError, after the validation."""
    monkeypatch.chdir(tmp_path)
    given = os.fsdecode(b"build-\xff")
    line = usage_error(_build_cli(given, tmp_path / "missing"))
    assert "is not UTF-8 text" in line and "\\udcff" in line  # named, escaped
    assert os.listdir(tmp_path) == []


def test_a_place_the_user_cannot_write_in_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access
    locked = tmp_path / "locked"
    locked.mkdir()
    # root may write anywhere, so the permission is faked: what matters is that it is asked first
    monkeypatch.setattr(folders.os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    line = usage_error(_build_cli(locked / "a" / "b", tmp_path / "missing"))
    assert f"--out {locked / 'a' / 'b'}: cannot write in {locked}" in line
    assert os.listdir(locked) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_file_system_that_makes_no_folders_fails_at_once(tmp_path: Path) -> None:
    """/proc's permission bits let root write in it, but no folder can be made there: the build was
    refused only at the swap, after the whole validation, naming a staging folder the user never gave."""
    line = usage_error(_build_cli(Path("/proc/llm-energy"), tmp_path / "missing"))
    assert "--out /proc/llm-energy: cannot make a folder in /proc" in line and ".tmp-" not in line


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_a_build_folder_has_the_mode_mkdir_gives(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        out = tmp_path / "llm-energy"
        outdir.replace(out, _write("old"))
        assert out.stat().st_mode & 0o777 == 0o777 & ~umask
        out.chmod(0o700)
        outdir.replace(out, _write("new"))  # a replaced build gets the mode afresh, as a new folder would
        assert out.stat().st_mode & 0o777 == 0o777 & ~umask
        assert (out / "measurements").stat().st_mode & 0o777 == 0o777 & ~umask
    finally:
        os.umask(old)


def test_a_marked_build_over_a_deep_tree_is_walked_without_recursion(tmp_path: Path) -> None:
    """os.walk recurses before Python 3.12: a marked folder over a tree 1,200 folders deep raised
    RecursionError where the tool owed one line (attack s17c)."""
    out = tmp_path / "llm-energy"
    deep = out
    deep.mkdir()
    for _ in range(1_200):  # one level at a time: Path.mkdir(parents=True) recurses too
        deep = deep / "d"
        deep.mkdir()
    (out / outdir.MARKER).write_text(json.dumps({"format": outdir.FORMAT, "files": []}))
    try:
        with pytest.raises(outdir.OutputError, match=re.escape("d/d/d")):
            outdir.check(out)
        files, dirs = listing.contents(out)
        assert len(dirs) == 1_200 and files == {outdir.MARKER}
    finally:  # pytest's clean-up (shutil.rmtree) recurses as deep as the tree: remove it bottom up
        while deep != out:
            deep.rmdir()
            deep = deep.parent


def test_a_folder_that_cannot_be_listed_is_never_taken_for_the_tools_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "llm-energy"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "a.png").write_bytes(b"png")
    real = os.scandir

    def scandir(path: object) -> object:
        if Path(str(path)).name == "figures":
            raise PermissionError(13, "Permission denied")
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(folders.os, "scandir", scandir)
    assert listing.contents(out) == ({"figures/(could not be listed)"}, {"figures"})  # unknown: foreign
