"""A build killed before its end (SIGKILL, out of memory, a lost machine) leaves its hidden staging
folder beside --out; the next build removes it, and nothing else: only a folder named as the builder
names them and locked by no process (a running build locks its own before giving it that name)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from dataset_card import outdir
from ecocompute import folders

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or os.name != "posix", reason="flock and fork: POSIX file systems"
)

LONG_AGO = time.time() - 2 * folders.STALE_AFTER_S


def _write(staging: Path) -> None:
    (staging / "README.md").write_text("card")


def _stage_and_wait(out: str) -> None:
    def forever(staging: Path) -> None:
        _write(staging)
        time.sleep(60)

    outdir.replace(Path(out), forever)


def _staging(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.tmp-*"))


def _age(path: Path) -> None:
    os.utime(path, (LONG_AGO, LONG_AGO), follow_symlinks=False)


def test_a_killed_builds_staging_folder_is_removed_by_the_next_build(tmp_path: Path) -> None:
    out = tmp_path / "llm-energy"
    child = multiprocessing.get_context("fork").Process(target=_stage_and_wait, args=(str(out),))
    child.start()
    deadline = time.monotonic() + 30
    while not (_staging(out) and (_staging(out)[0] / "README.md").exists()) and time.monotonic() < deadline:
        time.sleep(0.01)
    (left,) = _staging(out)
    _age(left)
    outdir.replace(out, _write)  # the child still runs and holds it: kept, however old
    assert left.exists()
    os.utime(left)  # touched just now: a killed run's is removed whatever its age (it was locked from the start)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    outdir.replace(out, _write)
    assert not left.exists() and _staging(out) == []
    assert (out / "README.md").read_text() == "card"


def test_a_staging_folder_a_process_holds_is_kept_however_old(tmp_path: Path) -> None:
    out = tmp_path / "llm-energy"
    live = tmp_path / f".{out.name}.tmp-0123abcd"
    live.mkdir()
    _age(live)
    fd = folders._hold(live)  # as a running build holds its own
    assert fd is not None
    try:
        outdir.replace(out, _write)
        assert live.exists()
    finally:
        os.close(fd)


def test_a_staging_folder_is_locked_before_it_takes_its_name(tmp_path: Path) -> None:
    """The instant between a run's mkdir and its lock is spent under another name (``.new-``): a ``.tmp-``
    folder that no process holds is a killed run's from its first instant."""
    out = tmp_path / "llm-energy"
    seen: list[bool] = []

    def probe(staging: Path) -> None:
        assert staging.name.startswith(f".{out.name}.tmp-")
        fd = folders._hold(staging)  # another process's attempt (flock: another open file description)
        seen.append(fd is None)
        if fd is not None:
            os.close(fd)
        _write(staging)

    outdir.replace(out, probe)
    assert seen == [True]
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_only_the_builders_own_names_and_only_old_folders_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "llm-energy"
    young = tmp_path / f".{out.name}.new-00000001"  # a run between its mkdir and its lock
    young.mkdir()
    killed = {  # a killed run's: its staging folder at once, a folder it made but never named once old
        "staging": tmp_path / f".{out.name}.tmp-00000006",
        "making": tmp_path / f".{out.name}.new-00000007",
    }
    for path in killed.values():
        path.mkdir()
        (path / "README.md").write_text("half")
    _age(killed["making"])
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    lookalikes = {
        "file": tmp_path / f".{out.name}.tmp-00000002",
        "link": tmp_path / f".{out.name}.tmp-00000003",
        "not hex": tmp_path / f".{out.name}.tmp-0000000g",
        "longer": tmp_path / f".{out.name}.tmp-000000044",
        "another out": tmp_path / ".other.tmp-00000005",
    }
    lookalikes["file"].write_text("not a folder")
    lookalikes["link"].symlink_to(target, target_is_directory=True)
    for name in ("not hex", "longer", "another out"):
        lookalikes[name].mkdir()
    for path in lookalikes.values():
        _age(path)
    outdir.replace(out, _write)
    assert young.exists() and all(p.exists() or p.is_symlink() for p in lookalikes.values())
    assert not any(p.exists() for p in killed.values())
    assert (target / "keep.txt").read_text() == "mine"


def test_a_name_reserved_by_another_run_is_not_removed_under_it(tmp_path: Path, monkeypatch) -> None:
    """Another run reserves its staging name as an empty ``.tmp-`` folder, then renames its locked folder onto
    it (``_staged``): a run that locked the empty reserved folder in that instant removed, by its name, the other
    run's staging folder instead (review39)."""
    out = tmp_path / "llm-energy"
    reserved = tmp_path / f".{out.name}.tmp-0123abcd"
    reserved.mkdir()
    theirs = tmp_path / f".{out.name}.new-0123abcd"  # the other run's folder, locked, with its first file
    theirs.mkdir()
    _write(theirs)
    their_lock = folders._hold(theirs)
    hold = folders._hold

    def hold_then_rename(folder: Path) -> int | None:
        fd = hold(folder)
        if folder == reserved and theirs.exists():
            theirs.rename(reserved)  # the other run's rename lands in that instant
        return fd

    monkeypatch.setattr(folders, "_hold", hold_then_rename)
    try:
        folders._remove_stale(out)
        assert (reserved / "README.md").read_text() == "card"
    finally:
        os.close(their_lock)
    folders._remove_stale(out)  # unlocked and holding files: a killed run's, removed
    assert not reserved.exists()
    empty = tmp_path / f".{out.name}.tmp-00000009"
    empty.mkdir()
    folders._remove_stale(out)  # empty and young: perhaps a reserved name; once old, removed
    assert empty.exists()
    _age(empty)
    folders._remove_stale(out)
    assert not empty.exists()


@pytest.fixture
def windows_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows' folders as the swap meets them: no lock to be had (no fcntl), and no rename onto an existing path."""
    rename = Path.rename

    def windows_rename(self: Path, target: Path) -> Path:
        if Path(target).exists():
            raise FileExistsError(183, "Cannot create a file when that file already exists", str(target))
        return rename(self, target)

    monkeypatch.setattr(folders, "_hold", lambda folder: None)
    monkeypatch.setattr(Path, "rename", windows_rename)


def test_without_locks_a_build_stages_under_its_staging_name_at_once(tmp_path: Path, windows_folders: None) -> None:
    """Where no lock can be had (Windows: no fcntl), the staging folder is made as ``.tmp-`` directly: Windows
    renames no folder onto an existing one, so the reserve-and-rename of ``_staged`` failed every build there, a
    first build into a new --out too (review39)."""
    out = tmp_path / "llm-energy"
    outdir.replace(out, _write)
    assert (out / "README.md").read_text() == "card"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_without_folder_renames_onto_folders_a_build_replaces_the_last_and_an_empty_out(
    tmp_path: Path, windows_folders: None
) -> None:
    """Windows renames no folder onto an existing one: the old output set aside onto its reserved (empty) name, and
    the new one renamed onto an empty --out, failed there, after all the work, whenever an output already stood."""
    out = tmp_path / "llm-energy"
    out.mkdir()  # an empty --out the user made
    outdir.replace(out, _write)
    assert (out / "README.md").read_text() == "card"
    outdir.replace(out, lambda staging: (staging / "README.md").write_text("second"))
    assert (out / "README.md").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
