"""Assemble the submission and write it: validated first, atomically, never overwriting."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ecocompute import catalogue, smallfile
from ecocompute.cli import describe, printable
from ecocompute.domain import Measurement, Protocol, Session, Submission
from validator.check import check_document
from validator.findings import Finding, Severity
from validator.loading import MAX_BYTES
from validator.paths import SUBMISSIONS

from . import __version__
from .errors import CollectError, CollectOptionError, InterruptedAfterWrite, OutputExistsError, Refused
from .locks import flock, open_flags
from .request import RunRequest
from .workload import Prompt


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


_ID_MAX_CHARS = 80  # the schema's submission_id pattern, ^[a-z0-9][a-z0-9-]{7,79}$ (a test checks ids against it)


def submission_id(handle: str, gpu_name: str, created: datetime) -> str:
    """<handle>-<gpu>-<time>; the GPU part is cut so that a long handle with a long board name still
    makes an id the schema accepts (the board is known only once the run has started)."""
    stamp = f"{created:%Y%m%d-%H%M%S}"
    room = max(0, _ID_MAX_CHARS - len(handle) - len(stamp) - 2)
    gpu = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower().replace("nvidia", "")).strip("-")[: min(32, room)].strip("-")
    return f"{handle.lower()}-{gpu}-{stamp}".strip("-")


def protocol(
    request: RunRequest, prompt: Prompt, energy_method: str, power_reading: str, interleaved: bool
) -> Protocol:
    plan = request.plan
    return Protocol(
        prompt_source=prompt.source,
        prompt_sha256=prompt.sha256,
        prompt_tokens=prompt.token_count,
        output_tokens=request.output_tokens,
        warmup_min_trials=plan.warmup_min,
        warmup_max_trials=plan.warmup_max,
        warmup_settle_pct=plan.settle_pct,
        trial_min_duration_s=plan.trial_min_s,
        idle_window_s=plan.idle_window_s,
        energy_method=energy_method,
        sample_period_s=request.sample_period_s,
        gates=plan.gates.as_dict(),
        power_reading=power_reading,
        interleaved=interleaved,
        early_stop=plan.early_stop.as_dict(),
    )


def _order(request: RunRequest, m: Measurement) -> tuple[int, int, int]:
    engines = list(catalogue.ENGINES)
    return (
        request.precisions.index(m.precision),
        engines.index(m.engine.name),
        request.batch_sizes.index(m.batch_size),
    )


def assemble(
    *,
    request: RunRequest,
    environment: Any,
    protocol: Protocol,
    measurements: Sequence[Measurement],
    started_at: datetime,
    finished_at: datetime,
    wall_s: float,
) -> Submission:
    created = finished_at.replace(microsecond=0)
    return Submission(
        schema_version=catalogue.SCHEMA_VERSION,
        submission_id=submission_id(request.handle, environment.gpu.name, created),
        created_at=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        collector_name=catalogue.COLLECTOR_NAME,
        collector_version=__version__,
        handle=request.handle,
        environment=environment,
        protocol=protocol,
        measurements=tuple(sorted(measurements, key=lambda m: _order(request, m))),
        session=Session(started_at.strftime("%Y-%m-%dT%H:%M:%SZ"), wall_s),
    )


def validate_document(doc: dict[str, Any]) -> list[str]:
    """Error messages eco-validate would give for this document (empty when accepted)."""
    return _validated(doc)[1]


def _validated(doc: dict[str, Any]) -> tuple[str, list[str]]:
    """The text the file would hold, and eco-validate's error messages for it: the bytes written are
    the bytes checked (JSON has no tuples, and ints stay ints), serialised once (5 MB at most)."""
    text = dumps(doc)
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:  # eco-validate's cap on a file, which check_document (a document) does not see
        return text, [
            f"file.too_large: {size:,} bytes; the cap is {MAX_BYTES:,} bytes: measure fewer configurations or "
            "trials per run (--max-trials, fewer precisions, engines or batch sizes); several files are fine"
        ]
    return text, [f"{f.code} {f.pointer}: {f.message}" for f in _errors(text, doc)]


def error_findings(doc: dict[str, Any]) -> list[Finding]:
    """eco-validate's errors for this document, as findings (the file's cap on size aside)."""
    return _errors(dumps(doc), doc)


def _errors(text: str, doc: dict[str, Any]) -> list[Finding]:
    findings = check_document(json.loads(text), f"{doc['submission_id']}.json")
    return [f for f in findings if f.severity is Severity.ERROR]


# What link() fails with on a file system without hard links (FAT/exFAT, SMB, Google Drive in Colab,
# s3fs/gcsfuse): the file is then put in place by a rename onto a name reserved first.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK})


def _create(target: Path, text: str) -> None:
    """Write ``text`` as the new file ``target``, whole or not at all: FileExistsError if it exists
    (also if it appears meanwhile), so nothing is ever overwritten. An error names ``target``, not the
    temporary file beside it (gone by the time it is read). The temporary file's name does not end in
    .json (``.<name>.<random>.partial``): one left by a kill during the write is not read by eco-validate
    or the build as a submission."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    fh = os.fdopen(fd, "w", encoding="utf-8")
    flock(fd)  # held until the temporary file is gone: sweep_partials leaves it alone meanwhile
    try:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
        try:
            os.link(tmp, target)  # unlike a rename, fails where the target exists
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            _rename_onto_reserved(tmp, target)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from exc  # EEXIST stays a FileExistsError
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fh.close()


# ``_create``'s temporary names: "." + the file's name + "." + mkstemp's 8 characters + ".partial", where
# the file is a submission (``submission_id``: <handle>-<gpu>-<YYYYMMDD>-<HHMMSS>, in <out>/<handle>) or a
# rejected one (``keep_rejected``: <stem>.rejected[-N].json, in the state folder). Nothing else is swept.
_TEMPORARY = r"\.json\.[a-z0-9_]{8}\.partial"
_REJECTED = re.compile(r"\.[a-z0-9][a-z0-9-]{0,79}\.rejected(?:-[0-9]{1,3})?" + _TEMPORARY)
STALE_AFTER_S = 600.0  # a write takes a second; a file that old, locked by nobody, was left by a killed run


def _partial_names(handle: str | None) -> re.Pattern[str]:
    """A submission's temporary names for ``handle`` (its ids start with it and end with their time);
    None: a rejected file's."""
    if handle is None:
        return _REJECTED
    return re.compile(r"\." + re.escape(handle.lower()) + r"(?:-[a-z0-9-]*)?-[0-9]{8}-[0-9]{6}" + _TEMPORARY)


def sweep_partials(folder: Path, handle: str | None = None) -> tuple[list[str], list[str]]:
    """Remove from ``folder`` the temporary files a killed ``_create`` left (SIGKILL, a power loss):
    regular files named as it names them there (``handle``'s submissions in <out>/<handle>; None: rejected
    files, in the state folder), untouched for STALE_AFTER_S and locked by no process.
    (removed names, names of such files that could not be checked or removed: to be reported)."""
    partial = _partial_names(handle)
    try:
        names = sorted(e.name for e in os.scandir(folder) if partial.fullmatch(e.name))
    except OSError:
        return [], []
    removed, left = [], []
    for name in names:
        path = folder / name
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or time.time() - info.st_mtime < STALE_AFTER_S:
                continue
            fd = os.open(path, open_flags("O_RDONLY", "O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC"))
        except OSError:
            continue
        try:
            if not flock(fd):  # a live writer holds it, or no flock here: reported, never removed
                left.append(name)
                continue
            os.unlink(path)
            removed.append(name)
        except OSError:
            left.append(name)
        finally:
            os.close(fd)
    return removed, left


def _rename_onto_reserved(tmp: str, target: Path) -> None:
    """Reserve ``target`` as a new empty file (FileExistsError if it exists), then rename the finished
    file onto it: a reader never sees it half written, and only our own empty file is replaced."""
    os.close(os.open(target, open_flags("O_WRONLY", "O_CREAT", "O_EXCL", "O_CLOEXEC"), 0o666))
    try:
        os.replace(tmp, target)
    except BaseException:  # Ctrl-C or SIGTERM too: our empty reservation must not stay as a submission
        if os.path.lexists(tmp):  # not renamed: ``target`` is the empty reservation, not the finished file
            os.unlink(target)
        raise


_KEEP_REJECTED = 100  # rejected files of one id kept side by side before giving up


def keep_rejected(doc: dict[str, Any], state_dir: Path, text: str | None = None) -> Path:
    """Keep a document eco-validate refused in ``state_dir``, under a new name made of its id's
    letters, digits and '-' only: never outside that folder (the id starts with the handle, which a
    library caller may not have checked), never over an existing file. ``text``: the document as
    already serialised (dumps), when the caller has it."""
    text = dumps(doc) if text is None else text
    stem = re.sub(r"[^a-z0-9-]+", "-", str(doc.get("submission_id", "")).lower()).strip("-")[:_ID_MAX_CHARS]
    stem = stem or "submission"
    state_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, _KEEP_REJECTED + 1):
        kept = state_dir / (f"{stem}.rejected.json" if n == 1 else f"{stem}.rejected-{n}.json")
        try:
            _create(kept, text)
        except FileExistsError:
            continue
        return kept
    raise CollectError(
        f"{state_dir} holds {_KEEP_REJECTED} rejected files of {stem} already; this one was not kept: move them away"
    )


def _instead(out_dir: Path, handle: str) -> tuple[str, Path] | None:
    """(why, the folder to give) for an ``out_dir`` that is a contributor's folder rather than the one
    holding them: inside submissions/<handle>. The file goes to <out_dir>/<handle>/, so it landed in
    submissions/<handle>/<handle>/, which CI refuses. The folder is said in the user's terms where the path
    as given shows it. Outside a submissions/ folder a folder named as the handle is the user's own choice
    (results/alice/alice/ harms nothing): not refused. The path is judged with its '..' folded (submissions/
    alice/.. is submissions), and where it leads (a link to submissions/alice nests the file as that folder
    does); names without regard to case, as a case-insensitive disk (macOS, Windows) reads them. Inside a
    git checkout's submissions/ (its nearest checkout: a .git entry beside submissions/) any folder there is a
    contributor's folder, another handle's too (submissions/bob/alice/ is refused as well); elsewhere only the
    handle's own name is (a checkout kept in a folder named submissions of a home under git is not one)."""
    given = Path(os.path.normpath(out_dir))
    for path in (given, Path(os.path.abspath(out_dir)), Path(os.path.realpath(out_dir))):
        ancestors = (path, *path.parents)
        checkout = next((folder for folder in ancestors if os.path.lexists(folder / ".git")), None)
        for folder in ancestors:
            if folder.parent.name.lower() == SUBMISSIONS and (
                folder.name.lower() == handle.lower() or folder.parent.parent == checkout
            ):
                return f"lies inside {folder.parent.name}/{folder.name}", folder.parent
    return None


def check_out_dir(out_dir: Path, handle: str | None = None) -> None:
    """Refuse, before anything is measured, an ``out_dir`` the file could not be written into: one that
    is not a folder (a file, a device), lies below a file, or sits where this user may not write; and
    one that is ``handle``'s own folder or, in a checkout, any folder under submissions/ (``_instead``),
    where the file lands in a path CI refuses. Each is a usage error (exit 2), as every command's output place
    it will not write is. Found only at the end, it cost the whole run's GPU time and read as a failure of the run."""
    shown = printable(str(out_dir))
    if handle and (instead := _instead(out_dir, handle)):
        why, folder = instead
        raise CollectOptionError(
            f"--out-dir {shown} {why}: the file goes to a folder named after the handle inside --out-dir, here "
            f"{printable(str(out_dir / handle))}, which CI refuses (file.path_policy); nothing measured: give "
            f"--out-dir {printable(str(folder))}, the folder that holds the handles' folders"
        )
    nearest = next((p for p in (out_dir, *out_dir.absolute().parents) if os.path.lexists(p)), None)
    if nearest is None:
        return
    if not nearest.is_dir():
        where = (
            "is not a folder" if nearest == out_dir else f"lies below {printable(str(nearest))}, which is not a folder"
        )
        raise CollectOptionError(f"--out-dir {shown} {where}; nothing measured: give the folder submissions go to")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise CollectOptionError(
            f"--out-dir {shown}: cannot write in {printable(str(nearest))}; nothing measured: give a folder you can write in"
        )


def write(
    doc: dict[str, Any], out_dir: Path, state_dir: Path, before: Callable[[Path, str], None] | None = None
) -> Path:
    """Write <out_dir>/<handle>/<submission_id>.json if eco-validate accepts it; never overwrite.
    ``before(path, text)`` runs just before the file is created (the checkpoint records it)."""
    text, errors = _validated(doc)
    if errors:
        refused = f"the collected file does not pass eco-validate ({len(errors)} error(s), first: {errors[0]})"
        try:
            rejected = keep_rejected(doc, state_dir, text)
        except OSError as exc:  # a full disk: --resume would only build the same refused file again
            raise Refused(
                f"{refused}; it could not be kept for inspection either ({describe(exc)}), and was not written to "
                f"{out_dir}. A --resume builds the same refused file from the same measurements: make room in "
                f"{printable(str(state_dir))} and --resume only to have it kept there for inspection",
                None,
                text,
                errors[0],
            ) from exc
        raise Refused(
            f"{refused}; kept for inspection at {rejected}, not written to {out_dir}", rejected, text, errors[0]
        )
    # Accepted: the handle and the id match the schema's patterns (letters, digits, '-'), so this
    # path stays inside out_dir.
    target = out_dir / doc["contributor"]["handle"] / f"{doc['submission_id']}.json"
    if target.exists():
        raise OutputExistsError(f"{target} exists already; submissions are never overwritten")
    if before is not None:
        before(target, text)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _create(target, text)
    except FileExistsError:
        raise OutputExistsError(f"{target} appeared while it was written; submissions are never overwritten") from None
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: once the link or rename is done, the file is whole
        if _holds(target, text):
            raise InterruptedAfterWrite(target, exc) from exc
        raise
    return target


def _holds(path: Path, text: str) -> bool:
    """Whether ``path`` is a regular file that holds exactly ``text`` (the file this run wrote)."""
    try:  # bounded, never a FIFO (it would block the read) nor a link
        return smallfile.read_bytes(path, MAX_BYTES, follow_symlinks=False) == text.encode("utf-8")
    except smallfile.SmallFileError:
        return False
