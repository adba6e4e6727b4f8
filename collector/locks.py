"""File locks (flock): a temporary submission file held by its writer, a random checkpoint saved by
one run while the others wait."""

from __future__ import annotations


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
