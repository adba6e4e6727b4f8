"""A disk that refuses an output's files (full, over quota, read-only, a file larger than allowed) said only
``File too large``: pyarrow's, PIL's and a plain write's OSError name no file. ``writing(path)`` names the
file being written on such an error, and ``unwritable`` words the one line the user gets: what was being
written, where, why, and what to do."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from .cli import printable

_FIX = {
    errno.ENOSPC: "the disk is full: free space on it, or give an --out on another disk",
    getattr(errno, "EDQUOT", -1): "your disk quota is used up: free space, or give an --out on another disk",
    errno.EFBIG: "a file grew past the size this process (ulimit -f) or the file system allows: raise the limit, or "
    "give an --out on another file system",
    errno.EROFS: "the file system is read-only: give an --out on a writable one",
    errno.EIO: "the disk reported an input/output error: check it, or give an --out on another disk",
}


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Name ``path`` on an OSError raised while it is written that names no file."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def about_output(exc: OSError, out: Path, staging: Path | None) -> bool:
    """Whether ``exc`` is the disk refusing the output: a full, read-only or failing disk, or any error on a
    file in the staging folder (``writing`` names it) or beside ``out`` (the staging folder being made).
    Another OSError met while the output is made (a fork out of memory, an input that cannot be read) is
    no disk's: it is not worded as one, nor answered with another --out."""
    if exc.errno in _FIX:
        return True
    name = Path(exc.filename) if isinstance(exc.filename, str) else None
    return name is not None and (name.parent == out.parent or (staging is not None and staging in name.parents))


def unwritable(what: str, out: Path, staging: Path | None, exc: OSError) -> str:
    """One line for ``exc``, met while ``what`` was written into ``staging``, the folder made beside ``out``
    (None: while it was being made). The caller removes the staging folder: ``out`` is as it was."""
    why = os.strerror(exc.errno) if exc.errno else (exc.strerror or type(exc).__name__)  # pyarrow's: a paragraph
    if exc.errno in errno.errorcode:
        why += f" ({errno.errorcode[exc.errno]})"
    name = Path(exc.filename) if isinstance(exc.filename, str) else None
    if name is not None and staging is not None and staging in name.parents:
        where = f"writing {name.relative_to(staging).as_posix()} in {staging}, the staging folder"
    elif name is not None:
        where = f"at {name}"
    else:
        where = f"in {staging}, the staging folder" if staging is not None else "making the staging folder"
    fix = _FIX.get(exc.errno, "give an --out on another disk")
    return printable(
        f"cannot write {what} beside --out {out}: {why}, {where}; nothing written, --out is as it was: {fix}"
    )
