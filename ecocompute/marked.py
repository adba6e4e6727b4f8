"""The marker that makes an output folder a tool's own, and records what the tool wrote there.

A finished output (``folders.replacing`` swaps it in) carries the file ``Marked.name``, a small JSON
document: ``format``, ``files`` (the sorted paths the tool wrote, relative to the folder) and ``written``
(each of those files' size and sha256). An existing ``--out`` is replaced only when it is empty, or is such an output holding
nothing but the files its marker lists, each either gone or holding the bytes the tool wrote: a file the
user edited (notes added to a README.md, a figure replaced) is theirs now, and refused like a file the
tool never wrote. A file the user deleted loses nothing, so it does not stop the replacement.

``written`` sits beside ``files`` under the same format id, so an earlier version of a tool reads a new
marker as the list it knew (eco-dataset publish of an earlier version reads a release's marker on the
Hub). A marker written before ``written`` existed is read as before: it cannot tell an edited file from
the one the tool wrote, so such an output is replaced as it was then.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from . import diskerrors, smallfile
from .cli import first_few, printable
from .folders import OutError, Swap, refuse_target, replacing
from .listing import contents

# A marker lists a few dozen files with their sizes and digests (a few kilobytes); anything bigger is not ours.
MARKER_MAX_BYTES = 1 << 20
_CHUNK = 1 << 20  # read and hashed a megabyte at a time: a build's Parquet files reach 100 MB
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Written:
    """A file as the tool wrote it: its size in bytes and the sha256 of its bytes (lowercase hex)."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Marker:
    """What a marker says: the files the tool wrote and, from a marker that records them, their bytes
    (``written`` is None for a marker of an earlier version, which listed the files alone)."""

    files: frozenset[str]
    written: Mapping[str, Written] | None


def _sha256(stream: BinaryIO, limit: int) -> str:
    """The sha256 of at most ``limit`` bytes of ``stream``, read in chunks into one buffer (memory stays at
    one chunk whatever the file's size)."""
    digest, buffer = hashlib.sha256(), bytearray(_CHUNK)
    view, left = memoryview(buffer), limit
    while left > 0 and (n := stream.readinto(view[: min(_CHUNK, left)])):
        digest.update(view[:n])
        left -= n
    return digest.hexdigest()


def record(path: Path) -> Written:
    """The size and sha256 of ``path``, a file the tool has just written in its own staging folder."""
    with path.open("rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        return Written(size, _sha256(stream, size + 1))  # a byte more: one that grew meanwhile is recorded as read


EDITED = "edited"  # differs' answer for other bytes, or something other than a regular file


def differs(path: Path, wrote: Written) -> str | None:
    """Why ``path`` no longer holds the bytes ``wrote`` records, None when it does. A file that is gone
    differs in nothing that could be lost (None). ``EDITED``: other bytes, or anything that is not a
    regular file (a link, a FIFO). A file that cannot be read to compare (EACCES, EIO) differs too, its
    bytes unknown, but the answer is the system's reason: "edited since?" sent the user looking for an
    edit where a permission was wrong. At most ``wrote.size`` + 1 bytes are read: the check costs what
    the tool wrote, whatever the folder holds now."""
    try:
        stream, info = smallfile.open_regular(path, follow_symlinks=False)  # a FIFO would block a plain open
    except smallfile.SmallFileError as exc:
        if exc.reason == "missing":
            return None
        return (exc.strerror or "unreadable") if exc.reason == "unreadable" else EDITED
    with stream:
        try:
            same = info.st_size == wrote.size and _sha256(stream, wrote.size + 1) == wrote.sha256
        except OSError as exc:
            return exc.strerror or type(exc).__name__
    return None if same else EDITED


def unreadable_words(unreadable: list[tuple[str, str]], tool: str) -> str:
    """``differs``' files that cannot be read (path, the system's reason), in words for a message."""
    names, why = first_few([p for p, _ in unreadable], show=printable), printable(unreadable[0][1], limit=80)
    return f"{names} cannot be read to compare with what {tool} wrote ({why}: permissions?)"


def enclosing(out: Path) -> tuple[Path, Marked] | None:
    """The nearest folder above ``out`` (links resolved: where the files would go) that is a marked output
    of any kind, with its kind. Written there, the output became files that folder's marker does not
    list, and its next run refused to replace it."""
    for parent in Path(os.path.realpath(out)).parents:
        for kind in KINDS:
            if os.path.lexists(parent / kind.name) and kind.listed(parent) is not None:
                return parent, kind
    return None


def _inside(path: str) -> bool:
    """Whether ``path`` is as ``mark`` writes one (``listing.contents``): relative, POSIX, with no '.', '..'
    or empty part. Any other names a file outside the folder, or one file under many names: a 1 MB marker
    listing './x', './/x', './/x'... with its size had the check hash one 100 MB file ten thousand times.
    '.' alone (no part at all) is the folder itself, no file."""
    pure = PurePosixPath(path)
    return bool(pure.parts) and not pure.is_absolute() and pure.as_posix() == path and ".." not in pure.parts


def _written(entries: object, files: set[str]) -> dict[str, Written]:
    """A marker's ``written``: a size and a digest for each file it lists, and nothing else."""
    if not isinstance(entries, dict) or set(entries) != files:
        raise ValueError('its "written" does not give one size and sha256 for each of its "files"')
    found = {}
    for path, entry in entries.items():
        size = entry.get("size") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        # type() is int: a bool is an int to isinstance, and JSON's true is no size
        if type(size) is not int or size < 0 or not isinstance(digest, str) or len(digest) != 64 or set(digest) - _HEX:
            raise ValueError(f'its "written" entry for {printable(path, limit=80)} is not a size and a sha256')
        found[path] = Written(size, digest)
    return found


@dataclass(frozen=True)
class Marked:
    """Output folders a tool marks as its own (the module's docstring says what the marker holds).

    ``what``: the output's kind as messages name it ("an eco-dataset build"); ``tool``: who wrote it."""

    name: str
    format: str
    what: str
    tool: str

    def read(self, folder: Path) -> Marker | None:
        """What the marker in ``folder`` says, or None when it holds no valid marker."""
        # Any file that is not a small regular one, a link included, is no marker: the folder is then
        # not the tool's, which every caller refuses, so no reason is worded here.
        try:
            return self.document(smallfile.read_bytes(folder / self.name, MARKER_MAX_BYTES, follow_symlinks=False))
        except (smallfile.SmallFileError, ValueError):
            return None

    def listed(self, folder: Path) -> set[str] | None:
        """The files the marker in ``folder`` lists, or None when it holds no valid marker."""
        marker = self.read(folder)
        return None if marker is None else set(marker.files)

    def document(self, data: bytes) -> Marker:
        """What a marker's bytes say; ValueError saying why when they are no marker of this kind."""
        try:
            doc = json.loads(data)
        except RecursionError:  # json recurses on nesting
            raise ValueError("JSON nested too deeply") from None
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        if doc.get("format") != self.format:
            raise ValueError(f"its format is {printable(repr(doc.get('format')), limit=80)}, not {self.format!r}")
        files = doc.get("files")
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ValueError('its "files" is not a list of paths')
        if (odd := next((f for f in files if not _inside(f)), None)) is not None:
            raise ValueError(f'its "files" names {printable(repr(odd), limit=80)}, not a path inside the folder')
        # Absent: a marker of an earlier version, which recorded no bytes (read as before).
        written = _written(doc["written"], set(files)) if "written" in doc else None
        return Marker(frozenset(files), written)

    def parse(self, data: bytes) -> set[str]:
        """The files a marker's bytes list; ValueError saying why when they are no marker of this kind."""
        return set(self.document(data).files)

    def foreign(self, folder: Path) -> list[str]:
        """What in a marked output its marker does not list (a link where a file should be counts)."""
        listed = self.listed(folder)
        if listed is None:
            return ["(no valid marker)"]
        files, dirs = contents(folder)
        allowed_dirs = {p.as_posix() for f in listed for p in Path(f).parents if p != Path(".")}
        odd = {f for f in files if f != self.name and (f not in listed or (folder / f).is_symlink())}
        return sorted(odd | (dirs - allowed_dirs))

    def changed(self, folder: Path) -> list[tuple[str, str]]:
        """The files the marker in ``folder`` lists that no longer hold the bytes it records, each with
        why (``differs``: ``EDITED`` or the reason it cannot be read): none from a marker that records no
        bytes, or no valid marker (``foreign`` says so)."""
        marker = self.read(folder)
        if marker is None or marker.written is None:
            return []
        found = ((path, differs(folder / path, wrote)) for path, wrote in sorted(marker.written.items()))
        return [(path, why) for path, why in found if why is not None]

    def kept_back(self, folder: Path) -> list[str]:
        """What in a marked output stops its deletion: what the tool did not write or, when there is nothing
        such, what it wrote that the user changed since (``changed``, named so). Either keeps the folder, so
        its files are hashed only when nothing else does: a build's Parquet files reach 100 MB a file, read
        for the message alone (review35 L2)."""
        if odd := self.foreign(folder):
            return odd
        return [
            f"{path} (edited since {self.tool} wrote it)" if why == EDITED else f"{path} (cannot be read: {why})"
            for path, why in self.changed(folder)
        ]

    def check(self, out: Path, unmarked_hint: Callable[[Path], str] | None = None) -> None:
        """Refuse, before any work, an ``--out`` the tool may not replace. ``unmarked_hint(out)``: more to
        say at the end about a folder without a marker (empty when there is nothing to add)."""
        shown = printable(str(out))
        if found := enclosing(out):
            folder, kind = found
            again = f", or {printable(str(folder))} itself to replace it" if kind is self else ""
            raise OutError(
                f"--out {shown} lies inside {printable(str(folder))}, an earlier {kind.what.split(' ', 1)[1]}, whose "
                f"next run would find files {kind.tool} did not write and refuse to replace it; nothing written: "
                f"give a folder outside it{again}"
            )
        if not refuse_target(out):
            return
        if self.listed(out) is None:
            hint = unmarked_hint(out) if unmarked_hint else ""
            raise OutError(
                f"--out {shown} is not empty and is not {self.what} (no {self.name} marker); "
                f"nothing written: choose a new or empty folder{hint}"
            )
        odd = self.foreign(out)
        if odd:
            names = first_few(odd, show=printable)
            raise OutError(
                f"--out {shown} is an earlier {self.what.split(' ', 1)[1]} but also holds {names}, which "
                f"{self.tool} did not write; nothing written: move them away or choose another folder"
            )
        changed = self.changed(out)  # hashed here and again just before the swap (replacing calls check twice)
        if changed:
            edited = [path for path, why in changed if why == EDITED]
            unreadable = [(path, why) for path, why in changed if why != EDITED]
            holds = "no longer holds" if len(edited) == 1 else "no longer hold"
            parts = [f"{first_few(edited, show=printable)} {holds} the bytes {self.tool} wrote there (edited since?)"]
            parts = (parts if edited else []) + ([unreadable_words(unreadable, self.tool)] if unreadable else [])
            kinds = " and ".join(k for k, found in (("edited", edited), ("unreadable", unreadable)) if found)
            raise OutError(
                f"--out {shown} is an earlier {self.what.split(' ', 1)[1]}, but {' and '.join(parts)}; nothing "
                f"written: move the {kinds} {'file' if len(changed) == 1 else 'files'} out of the folder, or remove "
                f"the folder yourself ({self.tool} never deletes what it did not write)"
            )

    def mark(self, folder: Path) -> None:
        """Write the marker listing every file below ``folder``, with its size and sha256: the last step of a
        complete output."""
        files, _ = contents(folder)
        names = sorted(files - {self.name})
        written = {}
        for name in names:
            wrote = record(folder / name)
            written[name] = {"size": wrote.size, "sha256": wrote.sha256}
        text = json.dumps({"format": self.format, "files": names, "written": written}, indent=1) + "\n"
        with diskerrors.writing(folder / self.name):
            (folder / self.name).write_text(text, encoding="utf-8")

    @contextlib.contextmanager
    def replacing(self, out: Path, check: Callable[[Path], None] | None = None) -> Iterator[Swap]:
        """``folders.replacing`` for this kind of output: the block fills a fresh folder (``Swap.staging``), which
        is marked and swapped in when the block ends normally; the command shows ``Swap.warnings``. ``check``
        (default: ``self.check``) refuses an ``out`` not ours; the old output set aside is deleted only if
        ``kept_back`` finds nothing in it."""
        with replacing(out, check or self.check, self.kept_back, self.what) as swap:
            yield swap
            self.mark(swap.staging)


# The project's marked outputs, defined here so that each tool knows the other's (``enclosing``) without
# importing it: eco-advise's report needed dataset_card imported for the build's marker to be known.
BUILD = Marked(".eco-dataset-build", "ecocompute-llm-energy-build/1", "an eco-dataset build", "eco-dataset")
REPORT = Marked(".eco-report", "ecocompute-report/1", "an eco-advise report", "eco-advise")
KINDS = (BUILD, REPORT)
