"""A release's files on the Hub: what a build publishes, which files an earlier release wrote there (the
only ones a release may delete), and whether a local file holds what the Hub lists; ``PublishError``,
which every step of publishing raises.

Each release publishes the build's marker (``MANIFEST``, outdir.py), the sorted list of the files the
build wrote (with their sizes and sha256), and the next release reads the list at main's head. A
repository whose main holds none (published before releases carried one) loses only files where a build
writes (``in_layout``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from huggingface_hub import RepoFile

from ecocompute import smallfile
from ecocompute.cli import EcoError, first_few, printable
from ecocompute.columns import CONFIGS
from ecocompute.marked import EDITED, MARKER_MAX_BYTES, unreadable_words

from . import figures, outdir

KEEP_REMOTE = frozenset({".gitattributes"})  # the Hub's own file: never deleted by a release
# Published with each release: the files its build wrote (the build's own marker), which the next release
# may delete; read at main's head within the bound a local marker has (a build's lists a few dozen paths).
MANIFEST = outdir.MARKER
_REPORT_FIGURES = f"{figures.FOLDER}/report"  # report.FOLDER (importing report.py loads matplotlib)


class PublishError(EcoError):
    """Publishing was refused or failed. A refusal or a failed commit leaves the Hub repository's files
    unchanged; a tag that failed after the commit landed names that commit, untagged on main."""


def local_files(build_dir: Path) -> dict[str, Path]:
    """The files of a build as Hub paths, its marker (``MANIFEST``) among them: it must list exactly the
    others, since the next release deletes what it lists, each holding the bytes it records."""
    files = sorted(p for p in build_dir.rglob("*") if p.is_file() and not p.is_symlink())
    local = {p.relative_to(build_dir).as_posix(): p for p in files}
    shown = printable(str(build_dir))  # a folder's name may hold a line break or a terminal escape
    if "README.md" not in local:
        raise PublishError(f"{shown} is not a built dataset (no README.md); run eco-dataset build first")
    listed = outdir.BUILD.listed(build_dir)
    if listed is None:
        raise PublishError(f"{shown} is not a built dataset (no valid {MANIFEST} marker); run eco-dataset build")
    others = set(local) - {MANIFEST}
    if listed != others:
        odd = [f"{p} (not listed)" for p in sorted(others - listed)] + [
            f"{p} (missing)" for p in sorted(listed - others)
        ]
        raise PublishError(
            f"{shown} holds other files than its {MANIFEST} marker lists ({first_few(odd, show=printable)}): nothing "
            "published; publish a build as eco-dataset build wrote it"
        )
    # The marker is published as the list of this release's files with their sha256: a file edited since
    # the build would go out beside a marker recording other bytes (and unchecked by the build's rules).
    changed = outdir.BUILD.changed(build_dir)
    edited = [path for path, why in changed if why == EDITED]
    if edited:
        raise PublishError(
            f"{shown} holds {first_few(edited, show=printable)}, which no longer "
            f"{'holds' if len(edited) == 1 else 'hold'} the bytes eco-dataset build wrote (its {MANIFEST} marker "
            "records each file's sha256): nothing published; publish a build as eco-dataset build wrote it"
        )
    if changed:  # bytes unknown: never published as the build's, but worded for what happened
        raise PublishError(
            f"{shown}: {unreadable_words(changed, 'eco-dataset build')}; nothing published: "
            "make the build's files readable and publish again"
        )
    return local


def in_layout(path: str) -> bool:
    """Whether ``path`` is where an eco-dataset build writes a file it may later stop writing: a config's
    Parquet files (<config>/*.parquet) or a figure (figures/*.png, figures/report/*.png). README.md is
    always written. The rule for a repository published before releases listed their files."""
    folder, _, name = path.rpartition("/")
    return (folder in CONFIGS and name.endswith(".parquet")) or (
        folder in (figures.FOLDER, _REPORT_FIGURES) and name.endswith(".png")
    )


def released_files(api: Any, repo_id: str, head: str, entry: RepoFile | None) -> set[str] | None:
    """The files the release at main's ``head`` wrote, as its ``MANIFEST`` lists them (``entry``: that
    file as main's listing shows it); None where main holds none. A manifest too large or not one is
    refused: deciding what to delete without it could delete what eco-dataset did not write."""
    if entry is None:
        return None
    fix = (
        "nothing published: restore it from the latest release's tag, or delete it on the Hub (a release then "
        "deletes only files where a build writes)"
    )
    where = f"{MANIFEST} on {printable(repo_id)}'s main ({head}), the list of the files an earlier release wrote,"
    if entry.size > MARKER_MAX_BYTES:
        raise PublishError(f"{where} is {entry.size} bytes, more than the {MARKER_MAX_BYTES} one may have; {fix}")
    path = Path(api.hf_hub_download(repo_id, MANIFEST, repo_type="dataset", revision=head))
    try:
        return outdir.BUILD.parse(smallfile.read_bytes(path, MARKER_MAX_BYTES))
    except smallfile.SmallFileError as exc:
        why = "more bytes than one may have" if exc.reason == "too_large" else (exc.strerror or exc.reason)
        raise PublishError(f"{where} cannot be read ({why}); {fix}") from None
    except ValueError as exc:
        raise PublishError(f"{where} is not one ({printable(str(exc), limit=200)}); {fix}") from None


def _digest(path: Path, algorithm: str, header: bytes = b"") -> str:
    digest = hashlib.new(algorithm, header)
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def same_file(path: Path, remote: RepoFile) -> bool:
    """Whether a local file holds what a ``RepoFile`` of ``list_repo_tree`` describes: the sha256 of an
    LFS file (its blob id is the pointer's), else the git blob id (sha1 of ``blob <size>\\0`` + bytes).
    The Hub chooses which a file becomes on upload, so the remote side says which id to compare."""
    size = path.stat().st_size
    if remote.lfs is not None:
        return size == remote.lfs.size and _digest(path, "sha256") == remote.lfs.sha256
    return size == remote.size and _digest(path, "sha1", b"blob %d\0" % size) == remote.blob_id
