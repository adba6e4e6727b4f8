"""File locks (flock): a temporary submission file held by its writer, a random checkpoint saved by
one run while the others wait; and the open() flags that go with them where the OS has them."""

from __future__ import annotations

import os


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
