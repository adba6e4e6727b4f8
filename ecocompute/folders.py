"""Folders of generated output that a tool writes whole (a dataset build, a report): written beside
their place, swapped in by renames, and never deleting what the tool did not write.

Each tool says what it may replace: ``check(out)`` refuses an existing ``--out`` it did not write
(``refuse_target`` is the part every tool shares), and ``foreign(folder)`` lists what in a folder the
tool did not write, or no longer holds as it wrote it (``marked.Marked``: the marker that makes a folder a
tool's own and records what it wrote there). ``replacing`` checks before any work and again just before
the swap, and deletes the old output only if ``foreign`` still finds nothing in it; what went wrong after
the new output was in place is returned as warnings (``Swap``) for the tool's command to show. Symbolic links are
never followed: a link as ``--out`` is refused, and deleting an old output unlinks links instead of
descending into them.
Runs into one ``--out`` swap one at a time, each holding a lock on the folder it lies in (``_swapping``).
A run killed before its end leaves its staging folder; a later run removes it once no process holds its lock
(``_remove_stale``): a staging folder is locked before it takes its name (``_staged``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from . import diskerrors
from .cli import EcoError, OptionError, describe, printable


class FolderError(EcoError):
    """An output folder that cannot be (re)placed without touching what the tool did not write."""


class OutError(FolderError, OptionError):
    """An ``--out`` refused before any work: a usage error (exit 2)."""


def target(out: Path) -> Path:
    """``out`` as an absolute, normalised path (``.`` and ``..`` resolved lexically, links kept) so
    that ``--out .`` names the current folder, not an empty name."""
    return Path(os.path.abspath(out))


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError):
        return default


def creatable(out: Path, given: Path | str) -> None:
    """Refuse, before any work, an ``--out`` (absolute: ``target``) that no build could take: a name in it
    longer than its file system allows, or a place the user may not write in (the swap renames in
    ``out``'s parent). ``given``: the path as the user wrote it, which the message names."""
    shown = printable(str(given))
    try:
        str(out).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept by the file system's decoding
        raise OutError(
            f"--out {shown} is not UTF-8 text (the Parquet writer and the Hub need it); nothing written: rename it"
        ) from None
    nearest = next((p for p in out.parents if os.path.isdir(p)), None)  # isdir is False on any error
    if nearest is None:  # out is "/": refuse_target says why not
        return
    name_max = _limit(nearest, "PC_NAME_MAX", 255)
    for part in out.relative_to(nearest).parts:
        if len(os.fsencode(part)) > name_max:
            raise OutError(
                f"--out {shown}: the name {printable(part[:24])}... is {len(os.fsencode(part))} bytes, longer than "
                f"the {name_max} a name may have here; nothing written: choose a shorter name"
            )
    if len(os.fsencode(str(out))) >= _limit(nearest, "PC_PATH_MAX", 4096):
        raise OutError(
            f"--out {shown} is a longer path than the file system allows; nothing written: choose a shorter one"
        )
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise OutError(
            f"--out {shown}: cannot write in {printable(str(nearest))} (no permission, or a read-only file system); "
            "nothing written: choose a folder you can write in"
        )
    try:  # the permission bits allow it; whether the file system makes folders (/proc, /sys do not) is tried
        os.rmdir(_fresh(nearest / "out", "probe"))
    except OSError as exc:
        raise OutError(
            f"--out {shown}: cannot make a folder in {printable(str(nearest))} ({exc.strerror or type(exc).__name__}); "
            "nothing written: choose a folder you can write in"
        ) from None


def _prefix(out: Path, role: str) -> str:
    """``.NAME.ROLE-``: NAME is cut, with a hash of the whole name to keep two long names apart, where the
    whole and 8 more characters would not fit in one file name (a valid ``--out`` of 250 bytes)."""
    name_max = _limit(out.parent, "PC_NAME_MAX", 255)
    prefix = f".{out.name}.{role}-"
    if len(os.fsencode(prefix)) + 8 > name_max:
        tag = f"~{hashlib.sha256(os.fsencode(out.name)).hexdigest()[:12]}.{role}-"
        name = out.name
        while name and len(os.fsencode(f".{name}{tag}")) + 8 > name_max:
            name = name[:-1]
        prefix = f".{name}{tag}"
    return prefix


def _fresh(out: Path, role: str) -> Path:
    """A new, empty folder beside ``out`` named ``_prefix(out, role)`` and 8 hex digits, made as mkdir
    makes a folder (mode 0o777 less the umask: a finished build is the folder the user asked for, not a
    private temporary one)."""
    prefix = _prefix(out, role)
    for _ in range(100):
        folder = out.parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            folder.mkdir(0o777)
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(errno.EEXIST, "no unused name for a folder beside the output", str(out.parent))


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
        raise OutError(
            f"--out {shown} lies inside {printable(str(blocker))}, which is a file; nothing written: give a folder"
        ) from None
    here, real = Path.cwd(), Path(os.path.realpath(out))
    if here == real or real in here.parents:
        raise OutError(f"--out {shown} is the current folder or holds it; write into a folder of its own")
    if stat.S_ISLNK(info.st_mode):
        raise OutError(f"--out {shown} is a symbolic link; give the real folder (links are never followed)")
    if not stat.S_ISDIR(info.st_mode):
        raise OutError(f"--out {shown} exists and is not a folder; nothing written: give a folder")
    if os.path.ismount(out):  # a volume (docker -v): the swap's rename onto it fails EBUSY after all the work
        raise OutError(
            f"--out {shown} is a mount point, which the finished output, made beside it and renamed into place, "
            "cannot replace; nothing written: give a new folder inside it"
        )
    return any(out.iterdir())


# A staging folder is made under the name _MAKING, locked, then renamed to its _STAGING name (``_staged``): a
# _STAGING folder no process holds, with something in it, is a killed run's, whatever its age. A _MAKING folder no
# process holds, or an empty _STAGING one (a name a run reserved to rename onto), is one only once nothing touched it
# for this long (a run between its mkdir and its lock, or its reserve and its rename, is young).
STALE_AFTER_S = 600.0
_STAGING = "tmp"
_MAKING = "new"
# A run waits this long at most for another run's swap into the same folder (two renames and a check: well
# under a second, a few seconds for a large old output's check); longer is a stopped or hung process.
SWAP_WAIT_S = 120.0
_SWAP_POLL_S = 0.05


def _fcntl() -> ModuleType | None:
    """The fcntl module, or None where there is none (Windows). Imported at each call, not once, so that a test can
    take it away (``sys.modules["fcntl"] = None``)."""
    try:
        import fcntl
    except ImportError:
        return None
    return fcntl


def _hold(folder: Path) -> int | None:
    """An open descriptor of ``folder`` holding an exclusive lock on it, or None where none can be had
    (held by a process, a link, not a folder, no flock: Windows, some network file systems). The kernel
    drops the lock when the process ends, however it ends."""
    fcntl = _fcntl()
    if fcntl is None:
        return None
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def _swapping(parent: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``parent`` (the folder ``--out`` lies in) while a run swaps its output in: runs
    into one ``--out`` swap one after the other. Unlocked, a run found ``--out`` free in the instant another had
    set the old output aside, took it, and the other failed 'Directory not empty', the old output left aside for
    good. Waits for the other run's swap (two renames and a check) for SWAP_WAIT_S at most, then fails (a
    stopped or hung run holds the lock); where no lock can be had (no flock: Windows, some network file systems)
    the swap goes unlocked."""
    fcntl = _fcntl()
    fd = None
    with contextlib.suppress(OSError):
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY) if fcntl is not None else None
    try:
        deadline = time.monotonic() + SWAP_WAIT_S
        while fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FolderError(
                        f"another run has held the lock on {printable(str(parent))} for {SWAP_WAIT_S:g} s while "
                        "swapping its output in (a stopped or hung eco-dataset or eco-advise process): nothing "
                        "replaced and this run's output not kept; end that process, then run again"
                    ) from None
                time.sleep(_SWAP_POLL_S)
            except OSError:  # no lock to be had on this file system: the swap goes unlocked
                break
        yield
    finally:
        if fd is not None:
            os.close(fd)  # drops the lock


def _staged(out: Path) -> tuple[Path, int | None]:
    """A fresh staging folder beside ``out`` and the descriptor that holds its lock (None where no lock can be
    had): made under the _MAKING name, locked, then renamed onto a _STAGING name reserved by ``_fresh`` (a rename
    onto an empty folder), so that a _STAGING folder no process holds is a killed run's from its first instant.
    The lock belongs to the folder, not its name: it holds through the rename. Where no lock can be had, the
    staging folder is made under its _STAGING name at once."""
    making = _fresh(out, _MAKING)
    held = _hold(making)
    if held is None:  # no lock (Windows, no flock): no run removes it, and Windows renames onto no folder
        making.rmdir()
        return _fresh(out, _STAGING), None
    try:
        staging = _fresh(out, _STAGING)
        making.rename(staging)  # onto the empty reserved folder (or its name, were it removed meanwhile)
    except BaseException:
        with contextlib.suppress(OSError):
            making.rmdir()
        os.close(held)
        raise
    return staging, held


def _remove_stale(out: Path) -> None:
    """Remove the staging folders runs killed before their end (SIGKILL, out of memory, a lost machine)
    left beside ``out``: named as ``_fresh`` names them, real folders locked by no process (``replacing`` holds
    its own until it ends), a _MAKING one, or an empty one, only once untouched for STALE_AFTER_S. Anything else is
    left alone."""
    prefixes = {_prefix(out, _STAGING): 0.0, _prefix(out, _MAKING): STALE_AFTER_S}
    try:
        with os.scandir(out.parent) as entries:
            found = [(e.name, p) for e in entries for p in prefixes if e.name.startswith(p)]
    except OSError:
        return
    now = time.time()
    for name, prefix in found:
        suffix, folder = name[len(prefix) :], out.parent / name
        if len(suffix) != 8 or any(c not in "0123456789abcdef" for c in suffix):
            continue
        try:
            info = folder.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or now - info.st_mtime < prefixes[prefix]:
            continue
        fd = _hold(folder)
        if fd is None:
            continue
        try:
            # An empty young folder may be the name another run reserved (``_staged``) and is renaming its locked
            # folder onto: removed by its name, that folder would go. Nothing is renamed onto one that holds files.
            if os.listdir(fd) or now - info.st_mtime >= STALE_AFTER_S:
                shutil.rmtree(folder, ignore_errors=True)  # fd-based on Linux: links are unlinked, never followed
        finally:
            os.close(fd)


def _rename_onto_empty(source: Path, target: Path) -> None:
    """Rename ``source`` onto ``target``, absent or an empty folder. POSIX renames a folder onto an empty one (and
    fails on one with content); Windows renames onto no existing folder, so there the empty one is removed first
    (rmdir removes only an empty folder: one that gained content fails, as on POSIX)."""
    try:
        source.rename(target)
    except FileExistsError:
        if not target.is_dir() or target.is_symlink():
            raise
        target.rmdir()
        source.rename(target)


@dataclass
class Swap:
    """What ``replacing`` yields: ``staging``, the fresh folder to fill, and ``warnings``, filled when the block
    has ended: lines the command shows (``cli.warn``) about what went wrong once the new output was in place
    (the output is complete all the same, so they are no error). A library returns them: printing is the
    command's."""

    staging: Path
    warnings: list[str] = field(default_factory=list)


@contextlib.contextmanager
def replacing(
    out: Path, check: Callable[[Path], None], foreign: Callable[[Path], list[str]], what: str = "the output"
) -> Iterator[Swap]:
    """A fresh folder beside ``out`` to fill (``Swap.staging``); when the block ends normally it takes ``out``'s
    place, and ``Swap.warnings`` holds what the caller must show.

    ``out`` must be absolute (``target``). ``check(out)`` runs before and again just before the swap
    (something may appear there while the block runs). The old output is set aside by a rename and
    deleted only if ``foreign`` finds nothing in it; on any failure the fresh folder, and the folders
    made to hold it (``out``'s missing parents, when still empty), are removed and ``out`` is left as it
    was. The disk's OSError while the folder is made or filled (``diskerrors.about_output``) is a FolderError
    saying so: ``what`` (its kind, "an eco-dataset build"), the file (``diskerrors.writing``) and the folder."""
    creatable(out, out)
    check(out)
    made = [p for p in out.parents if not os.path.lexists(p)]  # deepest first: removed again on a failure
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    staging, held = None, None
    try:
        try:
            staging, held = _staged(out)  # held until the end: a later run must not take it for a killed run's
            swap = Swap(staging)
            yield swap
        except OSError as exc:
            if not diskerrors.about_output(exc, out, staging):
                raise
            raise FolderError(diskerrors.unwritable(what, out, staging, exc)) from exc
        with _swapping(out.parent):  # another run's swap into out is over before this one's check
            check(out)
            if not out.exists() or not any(out.iterdir()):
                _rename_onto_empty(staging, out)  # replaces at most an empty folder: fails on one that gained content
                return
            # Reserve a unique name, then move the old output onto it (a rename onto an empty folder).
            aside = _fresh(out, "old")
            _rename_onto_empty(out, aside)
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
        try:
            shutil.rmtree(aside)  # fd-based on Linux: removes links, never what they point to
        except OSError as exc:  # a folder of it the user made read-only: the new output is complete all the same
            swap.warnings.append(
                f"the new output is in place at {printable(str(out))}; the previous one, set aside at "
                f"{printable(str(aside))}, could not be removed ({describe(exc)}): remove that folder by hand"
            )
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)  # an error here (a read-only disk) must not hide the first
        if held is not None:
            os.close(held)
        for folder in made:  # a failed run leaves no folder it made either; rmdir removes only empty ones
            with contextlib.suppress(OSError):
                folder.rmdir()
