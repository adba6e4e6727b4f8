"""Folders of generated output that a tool writes whole (a dataset build, a report): written beside
their place, swapped in by renames, and never deleting what the tool did not write.

Each tool says what it may replace: ``check(out)`` refuses an existing ``--out`` it did not write
(``refuse_target`` is the part every tool shares), and ``foreign(folder)`` lists what in a folder the
tool did not write. ``replacing`` checks before any work and again just before the swap, and deletes
the old output only if ``foreign`` still finds nothing in it. Symbolic links are never followed: a
link as ``--out`` is refused, and deleting an old output unlinks links instead of descending into them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .cli import EcoError, printable


class FolderError(EcoError):
    """An output folder that cannot be (re)placed without touching what the tool did not write."""


def target(out: Path) -> Path:
    """``out`` as an absolute, normalised path (``.`` and ``..`` resolved lexically, links kept) so
    that ``--out .`` names the current folder, not an empty name."""
    return Path(os.path.abspath(out))


def refuse_target(out: Path) -> bool:
    """Refuse an ``--out`` no tool may replace: the current folder or one holding it, a link, a file.
    True when ``out`` is a folder with something in it (the caller must vouch for its contents); False
    when it is absent or empty."""
    shown = printable(str(out))
    try:
        info = out.lstat()
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        blocker = next((p for p in out.parents if p.is_file()), out.parent)
        raise FolderError(
            f"--out {shown} lies inside {printable(str(blocker))}, which is a file; nothing written: give a folder"
        ) from None
    here, real = Path.cwd(), Path(os.path.realpath(out))
    if here == real or real in here.parents:
        raise FolderError(f"--out {shown} is the current folder or holds it; write into a folder of its own")
    if stat.S_ISLNK(info.st_mode):
        raise FolderError(f"--out {shown} is a symbolic link; give the real folder (links are never followed)")
    if not stat.S_ISDIR(info.st_mode):
        raise FolderError(f"--out {shown} exists and is not a folder; nothing written: give a folder")
    return any(out.iterdir())


def contents(folder: Path) -> tuple[set[str], set[str]]:
    """(files and links, folders) below ``folder`` as relative POSIX paths; links are not followed."""
    files, dirs = set(), set()
    for root, subdirs, names in os.walk(folder, followlinks=False):
        rel = Path(root).relative_to(folder)
        for d in subdirs:
            # os.walk lists a link to a folder among the folders but does not descend into it
            (files if (Path(root) / d).is_symlink() else dirs).add((rel / d).as_posix())
        files.update((rel / n).as_posix() for n in names)
    return files, dirs


@contextlib.contextmanager
def replacing(out: Path, check: Callable[[Path], None], foreign: Callable[[Path], list[str]]) -> Iterator[Path]:
    """A fresh folder beside ``out`` to fill; when the block ends normally it takes ``out``'s place.

    ``out`` must be absolute (``target``). ``check(out)`` runs before and again just before the swap
    (something may appear there while the block runs). The old output is set aside by a rename and
    deleted only if ``foreign`` finds nothing in it; on any failure the fresh folder is removed and
    ``out`` is left as it was."""
    check(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield staging
        check(out)
        if not out.exists() or not any(out.iterdir()):
            staging.rename(out)  # replaces at most an empty folder: fails on one that gained content
            return
        # Reserve a unique name, then move the old output onto it (a rename onto an empty folder).
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(aside)
        try:
            staging.rename(out)
        except BaseException:
            aside.rename(out)
            raise
        odd = foreign(aside)
        if odd:
            raise FolderError(
                f"wrote {printable(str(out))}; the previous output was kept at {printable(str(aside))}: it now holds "
                + ", ".join(printable(name) for name in odd[:5])
            )
        shutil.rmtree(aside)  # fd-based on Linux: removes links, never what they point to
    finally:
        if staging.exists():
            shutil.rmtree(staging)
