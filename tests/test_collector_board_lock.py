"""The lock a run holds on each board it measures (collector.locks.boards) is one file per board in the machine's
temporary folder, for every user of the machine: another user's run on the same board is refused too. It was the
maker's alone where its umask was 077, and in a sticky world-writable folder the kernel refuses O_CREAT on another
user's file (fs.protected_regular, on by default on systemd distributions): either way the second user's run went
on unlocked, silently, and both files were refused by CI (duplicate.gpu_time) after both runs. A FIFO at the
lock's name blocked the run at its start, forever."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from collector import locks
from collector.errors import CollectError

fcntl = pytest.importorskip("fcntl")  # no flock on Windows: a run there goes on unlocked, as documented

BOARD = [(0, "GPU-5a71086e-lock-test")]


def _lock_file(folder: Path) -> Path:
    with locks.boards(BOARD, folder):
        (made,) = folder.glob("eco-collect-gpu-*.lock")
    return made


def test_a_lock_file_this_run_makes_is_readable_by_every_user_whatever_its_umask(tmp_path: Path) -> None:
    before = os.umask(0o077)
    try:
        made = _lock_file(tmp_path)
    finally:
        os.umask(before)
    assert stat.S_IMODE(made.stat().st_mode) == 0o644


def test_a_lock_file_another_user_made_is_locked_without_asking_to_create_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fs.protected_regular: O_CREAT on an existing file that another user owns in a sticky world-writable folder
    is EACCES, though its mode lets this user read it; opening it as it is works."""
    made = _lock_file(tmp_path)  # as another user's run left it
    real_open = os.open

    def protected(path: os.PathLike[str] | str, flags: int, *args: int) -> int:
        if flags & os.O_CREAT and Path(path).exists():
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(locks.os, "open", protected)
    with made.open("rb") as other:  # the other user's run, measuring the board now
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused = r"^another eco-collect on this machine is measuring GPU 0 now"
        with pytest.raises(CollectError, match=refused), locks.boards(BOARD, tmp_path):
            pass
    with locks.boards(BOARD, tmp_path):  # once it has ended
        pass


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_fifo_at_the_locks_name_neither_blocks_the_run_nor_is_locked(tmp_path: Path) -> None:
    made = _lock_file(tmp_path)
    made.unlink()
    os.mkfifo(made)
    code = (
        "import sys; from pathlib import Path; from collector import locks\n"
        f"with locks.boards({BOARD!r}, Path(sys.argv[1])): print('measuring')"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=30, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the run blocked opening a FIFO at the lock's name")
    assert done.returncode == 0 and done.stdout == "measuring\n", done.stderr


@pytest.mark.skipif(os.name != "posix" or not Path("/tmp").is_dir(), reason="no /tmp")
def test_the_locks_lie_in_one_folder_for_every_run_on_the_machine_whatever_tmpdir_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login's or a batch job's own TMPDIR put one run's locks where a run of another shell never looked."""
    import tempfile

    from collector.session import Hooks

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # found again from TMPDIR
    assert tempfile.gettempdir() == str(tmp_path)
    assert Hooks().lock_dir == Path("/tmp")


def test_a_run_over_several_boards_holds_each_of_them(tmp_path: Path) -> None:
    """A run sharded over GPUs 0 and 1 measures both: a run on GPU 1 alone is refused, one on GPU 2 is not."""
    from fake_nvml import fake_module

    from collector.nvml import Nvml

    with Nvml([0, 1, 2], module=fake_module(gpus=3)) as nvml:
        uuids = nvml.uuids()
    assert len(set(uuids)) == 3  # as NVML names the boards of a machine
    with locks.boards([(0, uuids[0]), (1, uuids[1])], tmp_path):
        refused = r"^another eco-collect on this machine is measuring GPU 1 now"
        with pytest.raises(CollectError, match=refused), locks.boards([(1, uuids[1])], tmp_path):
            pass
        with locks.boards([(2, uuids[2])], tmp_path):
            pass
