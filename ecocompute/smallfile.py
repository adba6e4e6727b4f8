"""Reading a small file that a user named or that a folder held, without trusting what the path is.

Every tool reads a few such files (a changelog, a checkpoint, a marker, a contributor's submission)
and each must refuse, before opening it, what is not a small regular file: a FIFO would block the
open for ever, ``/dev/zero`` never ends, a weights file named by mistake fills the memory. The path
may change between the stat and the open, so the file is opened without waiting for a writer and
judged again by what was opened, and never more than ``limit`` bytes are read (it may have grown).

Every failure is one ``SmallFileError`` whose ``reason`` says which check failed and whose fields
carry what a message needs; each caller words it for its own user (which file, which option, what to
do), so this module holds the checks and none of the wording.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Literal

Reason = Literal["missing", "not_regular", "too_large", "unreadable", "not_utf8"]

# O_NONBLOCK: opening a FIFO swapped in after the stat returns at once instead of waiting for a writer
# (reads of a regular file ignore it). O_BINARY: Windows would otherwise translate CRLF and stop at ^Z.
# The flags Windows lacks are left out there: it has no FIFOs to swap in, and no O_NOFOLLOW.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class SmallFileError(Exception):
    """Why ``path`` was not read, in fields a caller words its own message from.

    - ``missing``: the path names nothing (``strerror`` says so in the system's words);
    - ``not_regular``: ``mode`` is what was found (a folder, a FIFO, a device, a link when links are not
      followed); ``opened`` is True when the path passed the stat but what was opened was not a regular
      file (it was swapped in between);
    - ``too_large``: ``size`` is what the stat gave, or None when the file grew past ``limit`` while read;
    - ``unreadable``: the stat, open or read failed with ``strerror`` (``errno`` too);
    - ``not_utf8``: ``offset`` is the first byte that is not UTF-8.
    """

    def __init__(
        self,
        path: Path,
        reason: Reason,
        *,
        limit: int | None = None,
        strerror: str | None = None,
        errno: int | None = None,
        mode: int | None = None,
        opened: bool = False,
        size: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.path = path
        self.reason: Reason = reason
        self.limit = limit
        self.strerror = strerror
        self.errno = errno
        self.mode = mode
        self.opened = opened
        self.size = size
        self.offset = offset
        super().__init__(self._default_message())

    @property
    def grew(self) -> bool:
        """Too large only once read: the stat found it within the limit."""
        return self.reason == "too_large" and self.size is None

    def _default_message(self) -> str:
        # For logs and tracebacks only: callers raise their own error with their own wording.
        what = {
            "missing": f"does not exist ({self.strerror})",
            "not_regular": "is not a regular file",
            "too_large": f"holds more than {self.limit} bytes"
            + (" (it grew while read)" if self.size is None else f" ({self.size} bytes)"),
            "unreadable": f"cannot be read ({self.strerror})",
            "not_utf8": f"is not UTF-8 text (byte {self.offset})",
        }[self.reason]
        return f"{self.path} {what}"


def _os_error(path: Path, exc: OSError, limit: int | None) -> SmallFileError:
    # strerror is None for an OSError raised without an errno: the class name still says something.
    reason: Reason = "missing" if isinstance(exc, FileNotFoundError) else "unreadable"
    return SmallFileError(path, reason, limit=limit, strerror=exc.strerror or type(exc).__name__, errno=exc.errno)


def check(path: Path, limit: int | None = None, *, follow_symlinks: bool = True) -> os.stat_result:
    """The stat of ``path`` if it is a regular file of at most ``limit`` bytes (any size when None), for
    a file another library opens (transformers, Arrow); nothing is opened. ``follow_symlinks=False``:
    a symbolic link is ``not_regular`` (its ``mode`` says it is a link)."""
    try:
        info = path.stat() if follow_symlinks else path.lstat()
    except OSError as exc:
        raise _os_error(path, exc, limit) from None
    if not stat.S_ISREG(info.st_mode):
        raise SmallFileError(path, "not_regular", limit=limit, mode=info.st_mode)
    if limit is not None and info.st_size > limit:
        raise SmallFileError(path, "too_large", limit=limit, size=info.st_size)
    return info


def open_regular(
    path: Path, limit: int | None = None, *, follow_symlinks: bool = True
) -> tuple[BinaryIO, os.stat_result]:
    """``path`` opened for reading, with the stat of what was opened: a regular file of at most ``limit``
    bytes when it was judged (any size when None), judged before it is opened and again by what was opened,
    for a caller that streams it (a file too large to hold in memory). The caller closes it."""
    check(path, limit, follow_symlinks=follow_symlinks)
    try:
        fd = os.open(path, _OPEN_FLAGS | (0 if follow_symlinks else _NOFOLLOW))
    except OSError as exc:
        raise _os_error(path, exc, limit) from None
    try:
        info = os.fstat(fd)  # of what was opened, whatever the path names now
    except OSError as exc:
        os.close(fd)
        raise _os_error(path, exc, limit) from None
    if not stat.S_ISREG(info.st_mode):  # judged before fdopen, which refuses a folder with a raw error
        os.close(fd)
        raise SmallFileError(path, "not_regular", limit=limit, mode=info.st_mode, opened=True)
    return os.fdopen(fd, "rb"), info


def read_bytes(path: Path, limit: int, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes, judged before it is opened and
    again by what was opened; ``follow_symlinks=False``: a link is refused at the stat, and one swapped
    in before the open makes the open fail (``unreadable``, ELOOP) instead of reading its target."""
    fh, info = open_regular(path, limit, follow_symlinks=follow_symlinks)
    with fh:
        try:
            # One byte past the size fstat gave tells whether the file grew since; read(limit + 1) would
            # allocate the whole limit for every file (40 us for a 50 kB one with a 5 MB limit). Never
            # more than the limit and one byte, whatever the file holds now.
            raw = fh.read(min(info.st_size, limit) + 1)
            if len(raw) > info.st_size:
                raw += fh.read(limit + 1 - len(raw))
        except OSError as exc:
            raise _os_error(path, exc, limit) from None
    if len(raw) > limit:
        raise SmallFileError(path, "too_large", limit=limit)
    return raw


def decode(path: Path, raw: bytes, limit: int | None = None) -> str:
    """``raw`` (read from ``path``) as UTF-8 text; ``not_utf8`` with the offset of the first bad byte.
    Separate from the read for a caller that judges the bytes first (a NUL, a byte-order mark)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SmallFileError(path, "not_utf8", limit=limit, offset=exc.start) from None


def read_text(path: Path, limit: int, *, follow_symlinks: bool = True) -> str:
    """``read_bytes`` decoded as UTF-8 (a byte-order mark is kept as U+FEFF)."""
    return decode(path, read_bytes(path, limit, follow_symlinks=follow_symlinks), limit)
