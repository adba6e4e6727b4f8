"""The output folder: a build is written beside it, marked, and swapped in by renames; nothing the
builder did not write is ever deleted.

A finished build carries ``MARKER``: a small JSON file with a format id and the list of files the
build wrote. An existing ``--out`` folder is replaced only when it is empty or is such a build and
holds nothing but the files its marker lists; anything else is refused before any work is done and
again just before the swap. Symbolic links are never followed: a link as ``--out`` is refused, and
removing an old build unlinks links inside it instead of descending into them.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from ecocompute.cli import EcoError

MARKER = ".eco-dataset-build"
FORMAT = "ecocompute-llm-energy-build/1"
_MARKER_MAX_BYTES = 1 << 20  # a marker lists a handful of files; anything bigger is not ours


class OutputError(EcoError):
    """The output folder cannot be (re)placed without touching what the builder did not write."""


def target(out: Path) -> Path:
    """``out`` as an absolute, normalised path (``.`` and ``..`` resolved lexically, links kept) so
    that ``--out .`` names the current folder, not an empty name."""
    return Path(os.path.abspath(out))


def _listed(folder: Path) -> set[str] | None:
    """The files a build's marker lists, or None when ``folder`` holds no valid marker."""
    path = folder / MARKER
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > _MARKER_MAX_BYTES:
        return None
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), list):
        return None
    files = data["files"]
    return {f for f in files if isinstance(f, str)} if all(isinstance(f, str) for f in files) else None


def _contents(folder: Path) -> tuple[set[str], set[str]]:
    """(files and links, folders) below ``folder`` as relative POSIX paths; links are not followed."""
    files, dirs = set(), set()
    for root, subdirs, names in os.walk(folder, followlinks=False):
        rel = Path(root).relative_to(folder)
        for d in subdirs:
            # os.walk lists a link to a folder among the folders but does not descend into it
            (files if (Path(root) / d).is_symlink() else dirs).add((rel / d).as_posix())
        files.update((rel / n).as_posix() for n in names)
    return files, dirs


def _foreign(folder: Path) -> list[str]:
    """What in a marked build its marker does not list (a link where a file should be counts)."""
    listed = _listed(folder)
    if listed is None:
        return ["(no valid marker)"]
    files, dirs = _contents(folder)
    allowed_dirs = {p.as_posix() for f in listed for p in Path(f).parents if p != Path(".")}
    odd = {f for f in files if f != MARKER and (f not in listed or (folder / f).is_symlink())}
    return sorted(odd | (dirs - allowed_dirs))


def check(out: Path) -> None:
    """Refuse, before any work, an ``--out`` the build may not replace."""
    try:
        info = out.lstat()
    except FileNotFoundError:
        return
    here, real = Path.cwd(), Path(os.path.realpath(out))
    if here == real or real in here.parents:
        raise OutputError(f"--out {out} is the current folder or holds it; build into a folder of its own")
    if stat.S_ISLNK(info.st_mode):
        raise OutputError(f"--out {out} is a symbolic link; give the real folder (links are never followed)")
    if not stat.S_ISDIR(info.st_mode):
        raise OutputError(f"--out {out} exists and is not a folder; nothing written")
    if not any(out.iterdir()):
        return
    if _listed(out) is None:
        raise OutputError(
            f"--out {out} is not empty and is not an eco-dataset build (no {MARKER} marker); "
            "nothing written: choose a new or empty folder"
        )
    foreign = _foreign(out)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(
            f"--out {out} is an earlier build but also holds {shown}, which eco-dataset did not write; "
            "nothing written: move them away or choose another folder"
        )


def mark(folder: Path) -> None:
    """Write the marker listing every file below ``folder``: the last step of a complete build."""
    files, _ = _contents(folder)
    text = json.dumps({"format": FORMAT, "files": sorted(files - {MARKER})}, indent=1) + "\n"
    (folder / MARKER).write_text(text, encoding="utf-8")


def _remove_build(aside: Path, out: Path) -> None:
    """Delete a set-aside old build, but only if it is still exactly a marked build."""
    foreign = _foreign(aside)
    if foreign:
        raise OutputError(f"built {out}; the previous build was kept at {aside}: it now holds {', '.join(foreign[:5])}")
    shutil.rmtree(aside)  # fd-based on Linux: removes links, never what they point to


def replace(out: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(staging)`` on a fresh folder beside ``out``, mark it, and swap it in.

    ``out`` must be absolute (see ``target``). On any failure the staging folder is removed and
    ``out`` is left as it was."""
    check(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        write(staging)
        mark(staging)
        check(out)  # again: something may have appeared there while the build ran
        if not out.exists() or not any(out.iterdir()):
            staging.rename(out)  # replaces at most an empty folder: fails on one that gained content
            return
        # Reserve a unique name, then move the old build onto it (a rename onto an empty folder).
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(aside)
        try:
            staging.rename(out)
        except BaseException:
            aside.rename(out)
            raise
        _remove_build(aside, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
