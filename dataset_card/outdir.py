"""The dataset's output folder: a build is written beside it, marked, and swapped in by renames
(``ecocompute.folders``); nothing the builder did not write is ever deleted.

A finished build carries ``MARKER``: a small JSON file with a format id and the list of files the
build wrote. An existing ``--out`` folder is replaced only when it is empty or is such a build and
holds nothing but the files its marker lists; anything else is refused before any work is done and
again just before the swap. ``eco-dataset publish`` publishes the marker with the release, as the
list of the files that release wrote: the next release deletes on the Hub only files it lists.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ecocompute import folders

LOCAL_BUILD = "build/llm-energy"  # build's default --out: the card's local snippet and report's --dataset
MARKER = ".eco-dataset-build"
FORMAT = "ecocompute-llm-energy-build/1"
BUILD = folders.Marked(MARKER, FORMAT, "an eco-dataset build", "eco-dataset")

OutputError = folders.FolderError  # the name the build's callers and tests know
target = folders.target
creatable = folders.creatable
check = BUILD.check  # refuse, before any work, an --out the build may not replace
mark = BUILD.mark


def replace(out: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(staging)`` on a fresh folder beside ``out``, mark it, and swap it in.

    ``out`` must be absolute (see ``target``). On any failure the staging folder is removed and
    ``out`` is left as it was."""
    with BUILD.replacing(out) as staging:
        write(staging)
