"""File locks (flock): a temporary submission file held by its writer, a random checkpoint saved by
one run while the others wait, a measured board held by the run that measures it; and the open() flags that
go with them where the OS has them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import CollectError


def open_flags(*names: str) -> int:
    """The ``os.O_*`` flags named, or-ed, leaving out those this OS lacks: Windows has no O_NOFOLLOW,
    O_NONBLOCK nor O_CLOEXEC, and ``os.O_NOFOLLOW`` there raises AttributeError, not OSError."""
    flags = 0
    for name in names:
        flags |= getattr(os, name, 0)
    return flags


def flock(fd: int, *, wait: bool = False) -> bool:
    """An exclusive flock on ``fd``, waited for or not: True when held (the kernel drops it when the
    process ends, however it ends); False where another holds it (without ``wait``), the file system
    refuses it, or there is no flock (Windows)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _held_elsewhere(fd: int) -> bool:
    """Whether another open file holds an exclusive flock on ``fd``'s file; False where this one now holds it, or
    where there is no flock to ask (Windows, a file system that refuses it): nothing is refused for want of one."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def machine_folder() -> Path:
    """Where the boards' locks lie: one folder for every run on the machine. /tmp on POSIX, whatever TMPDIR says
    (a login's or a batch job's own TMPDIR hid one run's lock from another's on the same board); else the
    temporary folder Python finds (Windows has no flock: nothing is locked there)."""
    shared = Path("/tmp")
    return shared if os.name == "posix" and shared.is_dir() else Path(tempfile.gettempdir())


def _board_file(path: Path) -> int | None:
    """A read-only descriptor of the board's lock file, whoever made it (locking needs no write); None where there
    is none to be had. Every user's runs on a machine lock the same file, so it is opened without O_CREAT where it
    exists: in a sticky world-writable folder (/tmp) the kernel refuses O_CREAT on another user's file
    (fs.protected_regular, on by default on systemd distributions) though its mode allows reading. One this run
    makes is made readable by all whatever the umask (077 made it the maker's alone). Never a FIFO or a device:
    O_NONBLOCK keeps a FIFO put there from blocking the open, and only a regular file is locked."""
    read = open_flags("O_RDONLY", "O_NOFOLLOW", "O_CLOEXEC", "O_NONBLOCK")
    for _ in range(3):  # another run may make or remove it in between: a few tries, never a wait
        try:
            fd = os.open(path, read)
        except FileNotFoundError:
            try:
                fd = os.open(path, read | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            except OSError:
                return None
            with contextlib.suppress(OSError, AttributeError):  # os.fchmod: not on Windows before Python 3.13
                os.fchmod(fd, 0o644)
        except OSError:
            return None
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
        return None
    return None


@contextlib.contextmanager
def boards(measured: Sequence[tuple[int, str]], folder: Path) -> Iterator[None]:
    """Within, this process holds each measured board (its --gpu index, NVML's UUID) for itself: another eco-collect that asks
    for one of them is refused (CollectError), before it measures anything. One board runs one trial at a time:
    two runs on it measure each other's work, each passes its own check, and CI refuses both files
    (duplicate.gpu_time). A lock file per board in ``folder`` (``machine_folder``), named by a hash
    of its UUID, never deleted (another run may hold it); where none can be made or locked, the run goes on."""
    held: list[int] = []
    try:
        for uuid, index in {uuid: index for index, uuid in reversed(measured)}.items():  # a board once
            name = f"eco-collect-gpu-{hashlib.sha256(uuid.encode()).hexdigest()[:16]}.lock"
            fd = _board_file(folder / name)
            if fd is None:
                continue
            held.append(fd)
            if _held_elsewhere(fd):
                raise CollectError(
                    f"another eco-collect on this machine is measuring GPU {index} now: one board runs one "
                    "trial at a time, so two runs on it measure each other's work, and eco-validate refuses both "
                    "files (duplicate.gpu_time); wait until it ends, or measure another board; nothing measured"
                )
        yield
    finally:
        for fd in held:
            os.close(fd)  # the lock goes with it
