"""The dataset's output folder: a build is written beside it, marked, and swapped in by renames
(``ecocompute.folders``); nothing the builder did not write is ever deleted.

A finished build carries ``MARKER``: a small JSON file with a format id and the list of files the
build wrote. An existing ``--out`` folder is replaced only when it is empty or is such a build and
holds nothing but the files its marker lists; anything else is refused before any work is done and
again just before the swap.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

from ecocompute import folders

LOCAL_BUILD = "build/llm-energy"  # build's default --out: the card's local snippet and report's --dataset
MARKER = ".eco-dataset-build"
FORMAT = "ecocompute-llm-energy-build/1"
_MARKER_MAX_BYTES = 1 << 20  # a marker lists a handful of files; anything bigger is not ours

OutputError = folders.FolderError  # the name the build's callers and tests know
target = folders.target
creatable = folders.creatable


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


def _foreign(folder: Path) -> list[str]:
    """What in a marked build its marker does not list (a link where a file should be counts)."""
    listed = _listed(folder)
    if listed is None:
        return ["(no valid marker)"]
    files, dirs = folders.contents(folder)
    allowed_dirs = {p.as_posix() for f in listed for p in Path(f).parents if p != Path(".")}
    odd = {f for f in files if f != MARKER and (f not in listed or (folder / f).is_symlink())}
    return sorted(odd | (dirs - allowed_dirs))


def check(out: Path) -> None:
    """Refuse, before any work, an ``--out`` the build may not replace."""
    if not folders.refuse_target(out):
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
    files, _ = folders.contents(folder)
    text = json.dumps({"format": FORMAT, "files": sorted(files - {MARKER})}, indent=1) + "\n"
    (folder / MARKER).write_text(text, encoding="utf-8")


def replace(out: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(staging)`` on a fresh folder beside ``out``, mark it, and swap it in.

    ``out`` must be absolute (see ``target``). On any failure the staging folder is removed and
    ``out`` is left as it was."""
    with folders.replacing(out, check, _foreign) as staging:
        write(staging)
        mark(staging)
