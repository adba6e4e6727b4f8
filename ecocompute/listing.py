"""What a folder holds, walked without following links: the files and folders that a tool's marker is
checked against (``folders``) and that a cache is swept by (``collector.randomweights``)."""

from __future__ import annotations

import os
from pathlib import Path

UNLISTED = "(could not be listed)"  # shown for a folder's contents that could not be read


def contents(folder: Path) -> tuple[set[str], set[str]]:
    """(files and links, folders) below ``folder`` as relative POSIX paths; links are not followed.

    Walked with a stack, not os.walk, which recurses before Python 3.12 (a tree 1,200 folders deep
    raised RecursionError). A folder that cannot be listed counts as a file,
    ``<folder>/(could not be listed)``, which no marker lists: what it holds is unknown, so it is never
    taken for the tool's own."""
    files, dirs = set(), set()
    stack = [(folder, Path("."))]
    while stack:
        path, rel = stack.pop()
        try:
            with os.scandir(path) as entries:
                found = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        except OSError:
            files.add((rel / UNLISTED).as_posix())
            continue
        for name, is_dir in found:
            sub = rel / name
            if is_dir:
                dirs.add(sub.as_posix())
                stack.append((path / name, sub))
            else:  # files, links (to folders too: never followed) and anything else
                files.add(sub.as_posix())
    return files, dirs
