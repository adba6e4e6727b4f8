"""The dataset's output folder: a build is written beside it, marked, and swapped in by renames
(``ecocompute.folders``); nothing the builder did not write is ever deleted.

A finished build carries ``MARKER``: a small JSON file with a format id, the list of files the build
wrote and each one's size and sha256 (``ecocompute.marked``). An existing ``--out`` folder is replaced
only when it is empty or is such a build, holding nothing but the files its marker lists, none of them
edited since; anything else is refused before any work is done and again just before the swap. ``eco-dataset publish`` publishes the marker with the release, as the
list of the files that release wrote: the next release deletes on the Hub only files it lists.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ecocompute import folders, marked
from ecocompute.cli import printable

LOCAL_BUILD = "build/llm-energy"  # build's default --out: the card's local snippet and report's --dataset
BUILD = marked.BUILD
MARKER, FORMAT = BUILD.name, BUILD.format

OutputError = folders.FolderError  # the name the build's callers and tests know
target = folders.target
creatable = folders.creatable
check = BUILD.check  # refuse, before any work, an --out the build may not replace
mark = BUILD.mark


def apart(out: Path, given: Path, inputs: dict[str, Path]) -> None:
    """Refuse, before any work, an ``--out`` (absolute: ``target``; ``given``: as the user wrote it) inside
    an input folder (``inputs``: option to folder): the next build would read the dataset's own files as
    submissions (or publish them), and the legacy folder is the researcher's files and their SHA256SUMS,
    append-only like submissions/. Also an earlier build holding an input: the swap would replace it."""
    inside, shown = out.resolve(), printable(str(given))
    for option, folder in inputs.items():
        real, named = folder.resolve(), printable(str(folder))
        if inside == real or real in inside.parents:
            raise folders.OutError(
                f"--out {shown} lies inside {option} {named}, an input of the build, which a build there would "
                f"change and the next one read back; nothing written: give a folder outside it (the default is "
                f"{LOCAL_BUILD})"
            )
        if inside in real.parents and BUILD.listed(out) is not None:  # any other folder: check() says why not
            raise folders.OutError(
                f"{option} {named} lies inside --out {shown}, which the build replaces whole; nothing written: give "
                f"an --out outside it (the default is {LOCAL_BUILD})"
            )


def replace(out: Path, write: Callable[[Path], None]) -> list[str]:
    """Run ``write(staging)`` on a fresh folder beside ``out``, mark it, and swap it in; the warnings for
    the command to show (``folders.Swap``).

    ``out`` must be absolute (see ``target``). On any failure the staging folder is removed and
    ``out`` is left as it was."""
    with BUILD.replacing(out) as swap:
        write(swap.staging)
    return swap.warnings
