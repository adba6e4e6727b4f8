"""The random fp16 checkpoint saved once per model, seed and draw device, and shared by the runs of one
host (one per GPU, say) through the state folder.

A save goes into a folder of its own beside the target (``.NAME.XXXXXXXX.partial``), writes a marker
listing every file and its size last, and is renamed into place: another run's save is never touched,
and a folder is taken as a checkpoint only when its marker is there and every file it lists has its
size. Where flock works, one lock per target lets one run save while the others wait for its result
(one save's disk, not one per run), and lets the run holding it remove the private folders of saves
that were killed: only a save holding that lock names its folder so, and a live one would hold it
still. A save without the lock (no flock: Windows, or a lock file this user cannot open) names its
folder ``.NAME.XXXXXXXX.nolock.partial``, which no run removes (one left by a kill stays, to be deleted
by hand); both save, and the loser of the rename keeps the winner's folder once its marker checks.
Nothing the tool did not create is deleted: a folder at the target without a valid marker is refused,
not replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ecocompute import smallfile
from ecocompute.cli import printable
from ecocompute.listing import contents

from .errors import CollectError, unwritable
from .locks import flock, open_flags

MARKER = "eco-collect-complete.json"
MARKER_MAX_BYTES = 1 << 20  # a save lists a few dozen files: a few kilobytes


def _stem(model_id: str, seed: int) -> str:
    return "random-" + re.sub(r"[^A-Za-z0-9._-]", "_", model_id) + f"-seed{seed}"


def folder_name(model_id: str, seed: int, drawn_on: str) -> str:
    """The checkpoint's folder name: one seed draws other weights on another device (``drawn_on``,
    models.draw_label), so the device is part of it. A folder an older eco-collect left (``random-MODEL-seedN``,
    maybe half written, or ``...-fp16``, drawn on a device it does not name) is never read (``unused``)."""
    return _stem(model_id, seed) + f"-fp16-{drawn_on}"


# What follows the stem in the names every eco-collect gave this model and seed: none (released versions),
# -fp16 (unreleased), -fp16-<draw label> (models.draw_label: cpu, cuda-132sm-2048threads).
_DRAWN = re.compile(r"(?:-fp16(?:-(?:cuda-[0-9]+sm-[0-9]+threads|[a-z0-9_]+))?)?")


def unused(target: Path, model_id: str, seed: int) -> list[tuple[Path, int]]:
    """The random checkpoints of ``model_id`` and ``seed`` beside ``target`` that a run saving ``target``
    does not use (drawn on another device, or named by an older eco-collect), with the bytes of their
    files, in name order: the disk a user may free. Only the folder's direct children named so, real
    folders (not links); nothing is deleted."""
    stem = _stem(model_id, seed)
    try:
        entries = [e for e in os.scandir(target.parent) if e.name.startswith(stem) and e.name != target.name]
    except OSError:
        return []
    found = []
    for entry in sorted(entries, key=lambda e: e.name):
        with contextlib.suppress(OSError):
            if _DRAWN.fullmatch(entry.name, len(stem)) and entry.is_dir(follow_symlinks=False):
                found.append((Path(entry.path), _bytes_in(Path(entry.path))))
    return found


def _bytes_in(folder: Path) -> int:
    """The bytes of the regular files below ``folder``, links not followed (a few dozen: config, shards).
    Walked by ecocompute.folders.contents, with a stack: os.walk recurses before Python 3.12."""
    total = 0
    for name in contents(folder)[0]:
        with contextlib.suppress(OSError):  # gone meanwhile, or a folder that could not be listed
            info = os.lstat(folder / name)
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def shown(folders: Sequence[tuple[Path, int]]) -> str:
    """``unused``'s folders for a message: 'PATH (66.1 GB), PATH (1.2 MB)'."""
    return ", ".join(f"{printable(str(path))} ({_size(size)})" for path, size in folders)


def _size(size: int) -> str:
    if size >= 10**9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.1f} MB" if size >= 10**6 else f"{size:,} bytes"


def complete(folder: Path) -> bool:
    """Whether ``folder`` is a real folder (not a link) whose marker lists at least one file and every
    file it lists is a regular file of the listed size."""
    try:
        if not stat.S_ISDIR(folder.lstat().st_mode):
            return False
        # A regular file, bounded, not a link: a FIFO would block the check, /dev/zero never end it.
        files = json.loads(smallfile.read_text(folder / MARKER, MARKER_MAX_BYTES, follow_symlinks=False))["files"]
        return (
            isinstance(files, dict)
            and bool(files)
            and all(_size_of(folder, name) == size for name, size in files.items())
        )
    except (OSError, ValueError, TypeError, KeyError, smallfile.SmallFileError):
        return False


def _size_of(folder: Path, name: str) -> int | None:
    if not isinstance(name, str) or name.startswith("/") or ".." in Path(name).parts:
        return None
    info = (folder / name).lstat()
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def save(target: Path, build: Callable[[Path], None], check: Callable[[], None] = lambda: None) -> Path:
    """``target`` made complete: already so, finished by another run meanwhile, or saved by
    ``build(folder)`` into a private folder that is marked and renamed into place. ``check()`` runs
    before that save only (under the lock, once killed saves are removed): a run that waited for
    another's save is not refused for the disk that save was filling."""
    if complete(target):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable("the random checkpoint", target.parent, exc) from exc
    with _lock(target) as locked:
        if complete(target):  # another run saved it while this one waited
            return target
        if locked:
            _remove_killed(target)
        _refuse_foreign(target)
        check()
        suffix = ".partial" if locked else ".nolock.partial"  # only a locked save's folder is ever removed
        try:
            private = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent))
        except OSError as exc:  # read-only, or another user's (then the lock file was not ours to open either)
            raise unwritable("the random checkpoint", target.parent, exc) from exc
        try:
            build(private)
            _mark(private)
            try:
                os.rename(private, target)  # fails on a folder with content: a finished save is never replaced
            except OSError:
                if not complete(target):
                    raise
                shutil.rmtree(private, ignore_errors=True)  # lost the race: the winner's folder checks
            else:
                _fsync(target.parent)
        except BaseException:  # Ctrl-C and SIGTERM too: the private folder is ours, removed however the save ends
            shutil.rmtree(private, ignore_errors=True)  # ours; a rename that happened left nothing here
            raise
    return target


def _refuse_foreign(target: Path) -> None:
    if os.path.lexists(target):
        raise CollectError(
            f"{printable(str(target))} exists but is not a complete random checkpoint (no valid {MARKER}): "
            "eco-collect did not finish it and deletes nothing it did not make; remove it and run again"
        )


def _mark(folder: Path) -> None:
    """Flush every file, then write the marker last (itself flushed): after a crash or a power loss
    the renamed folder either checks or is not there."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
            files[path.relative_to(folder).as_posix()] = path.stat().st_size
    with (folder / MARKER).open("w", encoding="utf-8") as fh:
        json.dump({"files": files}, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync(folder)


def _fsync(folder: Path) -> None:
    with contextlib.suppress(OSError):  # folders cannot be opened for fsync everywhere (Windows)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[bool]:
    """An exclusive flock on ``.NAME.lock`` beside ``target``, waited for; True while held, False where
    flock does not exist or the file system refuses it (then no save is known to be dead)."""
    try:
        fd = os.open(target.with_name(f".{target.name}.lock"), open_flags("O_RDWR", "O_CREAT", "O_NOFOLLOW"), 0o644)
    except OSError:
        yield False
        return
    try:
        yield flock(fd, wait=True)
    finally:
        os.close(fd)  # drops the lock


def _remove_killed(target: Path) -> None:
    """The private folders of killed saves of ``target``: only a save that held the lock names its
    folder so (``.nolock.partial`` without it), and this run holds the lock now, so any left is dead.
    Only real folders named exactly so."""
    pattern = re.compile(re.escape(f".{target.name}.") + r"[a-z0-9_]{8}\.partial")
    for path in target.parent.iterdir():
        if pattern.fullmatch(path.name) and stat.S_ISDIR(path.lstat().st_mode):
            shutil.rmtree(path, ignore_errors=True)  # links inside are unlinked, never followed
