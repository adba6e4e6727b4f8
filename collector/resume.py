"""What a run finds in its checkpoint: measurements to keep, when it began, or why it cannot go on.

A run's checkpoint is named by its run key (the request's options and the board). A new run creates it; a
--resume reads it back: the configurations already measured, the first session's start, and the revision and
corpus those rows were measured on. A checkpoint whose run already wrote its file, or whose file eco-validate
refused, is judged here before anything is loaded (``_refusal``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ecocompute import smallfile
from ecocompute.cli import OptionError, describe, first_few, is_known, printable
from ecocompute.domain import Measurement

from . import quality, submission
from .checkpoint import MAX_BYTES, Checkpoint, Refusal
from .errors import AlreadyWritten, CheckpointError, CollectError
from .request import RunRequest, session_wall_maximum


def run_key(request: RunRequest, gpu_uuid_sha256: str) -> str:
    payload = json.dumps({"request": request.run_key_fields(), "gpu": gpu_uuid_sha256}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# A resumed run's clock stands at least this long after the idle window that followed the last checkpointed trial.
RESUME_GAP_S = 1.0


def resumed_clock_s(
    started_at: datetime, first_start: datetime, done: dict[Any, Measurement], idle_window_s: float
) -> float:
    """Where the session's clock stands as this process starts: the wall time since the first start
    (0 for a new run), but never before the run's start, nor before the idle window measured after the last
    trial already measured (``idle_window_s`` at least) ended. A wall clock stepped back in between (NTP)
    would otherwise put new trials on top of them or before the session began (a negative start, which the
    schema refuses), or the next configuration's idle window and trials inside that window, which eco-validate
    refuses (protocol.session_time: two idle windows lie between two configurations measured one after the
    other)."""
    ended = max(
        (t.started_at_s + t.duration_s for m in done.values() for t in m.trials if t.started_at_s is not None),
        default=None,
    )
    elapsed = max((started_at - first_start).total_seconds(), 0.0)
    return elapsed if ended is None else max(elapsed, ended + idle_window_s + RESUME_GAP_S)


# A checkpoint's start may lie after this process's start by a wall clock stepped back (NTP), not by days.
RESUME_AHEAD_S = 86_400.0


def _first_start(checkpoint: Checkpoint, header: dict[str, Any], now: datetime) -> datetime:
    """When the run began, as the checkpoint's header says; one it cannot have (a hand edit) is refused
    here rather than after the rest is measured: a start after ``now`` by days, or further back than a
    session may last (the schema's wall_s), makes a file eco-validate refuses."""
    shown = repr(str(header.get("started_at"))[:40])
    try:
        first = datetime.fromisoformat(str(header.get("started_at")).replace("Z", "+00:00"))
    except ValueError:
        first = None
    if first is None or first.tzinfo is None:
        raise CheckpointError(
            f"{checkpoint.path}:1 is corrupt (started_at {shown} is not a UTC time); delete it to start over"
        )
    elapsed = (now - first).total_seconds()
    if elapsed < -RESUME_AHEAD_S or elapsed > session_wall_maximum():
        when = "after this run's start" if elapsed < 0 else "longer ago than a session may last (the schema's wall_s)"
        raise CheckpointError(f"{checkpoint.path}:1 is corrupt (started_at {shown} is {when}); delete it to start over")
    return first


def _finished(
    checkpoint: Checkpoint, entries: list[tuple[tuple[str, str, int], dict[str, Any]]], request: RunRequest
) -> dict[tuple[str, str, int], Measurement]:
    wanted = {(p, e, b) for p in request.precisions for e in request.engines for b in request.batch_sizes}
    done = {}
    for number, (key, measurement) in enumerate(entries, 2):
        try:
            done[key] = Measurement.from_dict(measurement)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # what eco-collect wrote parses back; anything else was damaged after it was written
            raise CheckpointError(
                f"{checkpoint.path}:{number} is corrupt (its measurement does not parse: {type(exc).__name__}); "
                "delete it to start over"
            ) from None
        # Every entry is written into the file and marks its configuration measured: one this run does not
        # request, or measured at another precision or batch size (the engine may differ: a fallback), would
        # add a row or leave a configuration unmeasured, seen only once the rest was measured.
        if key not in wanted or (done[key].precision, done[key].batch_size) != (key[0], key[2]):
            raise CheckpointError(
                f"{checkpoint.path}:{number} is corrupt (its configuration {printable(repr(list(key)), limit=120)} "
                "is not one this run requests, or its measurement is of another); delete it to start over"
            )
    return done


def checkpoint_of(request: RunRequest, gpu_uuid_sha256: str) -> Checkpoint:
    key = run_key(request, gpu_uuid_sha256)
    return Checkpoint(request.state_dir / f"checkpoint-{key}.jsonl", key)


def _no_checkpoint(checkpoint: Checkpoint) -> str:
    """--resume without this run's checkpoint, naming the other runs' that lie there: a checkpoint carried to
    another machine is another board's (the run key holds the board and the options), which only said 'no
    checkpoint' though the file was there."""
    others = sorted(p.name for p in checkpoint.path.parent.glob("checkpoint-*.jsonl") if p != checkpoint.path)
    line = f"--resume: no checkpoint for this run at {printable(str(checkpoint.path))}"
    if not others:
        return line
    return (
        f"{line}; {checkpoint.path.parent.name}/ holds other runs' ({len(others)}: {first_few(others, 3, printable)}): "
        "a run resumes on the GPU board it started on, with the same model, weights, precisions, batch sizes, "
        "engines and protocol options; another board's measurements cannot join its file. Run again on that board "
        "with those options, or start anew without --resume"
    )


def open_checkpoint(
    request: RunRequest,
    gpu_uuid_sha256: str,
    started_at: datetime,
    made: list[Checkpoint] | None = None,
    note: Callable[[str], None] = lambda _text: None,
) -> tuple[Checkpoint, dict[tuple[str, str, int], Measurement], datetime]:
    """The run's checkpoint, what it already holds, and when the run started (the first session's
    start when resuming: the trials already measured count their time from it). A new run's is added
    to ``made`` (nothing_kept's) before it is started. ``note``: a line for the log (a refused file
    built again)."""
    checkpoint = checkpoint_of(request, gpu_uuid_sha256)
    if request.resume:
        header, entries = checkpoint.load()
        if header is None:
            raise CheckpointError(_no_checkpoint(checkpoint))
        written = checkpoint.written()
        if written is not None:  # killed between writing the file and removing the checkpoint
            checkpoint.remove()
            raise AlreadyWritten(written, checkpoint.path)
        if checkpoint.written_to:  # and the file moved or edited since: the same measurements are not written twice
            raise CheckpointError(
                f"--resume: the interrupted run had already written its submission, {printable(checkpoint.written_to[-1])}"
                ", which is no longer there as written (moved, edited, or another --out-dir): nothing to resume, and "
                f"its measurements are not written twice. Delete {printable(str(checkpoint.path))} (or, if that file "
                "is lost, only its last line, which records the write, and --resume writes it again)"
            )
        done = _finished(checkpoint, entries, request)
        first = _first_start(checkpoint, header, started_at)
        if checkpoint.refusals:
            note(_refusal(checkpoint, checkpoint.refusals[-1]))
        return checkpoint, done, first
    if checkpoint.path.exists():
        refused = _refused_left(checkpoint)
        if refused:
            raise CheckpointError(refused)
        raise CheckpointError(f"an interrupted run left {checkpoint.path}: continue it with --resume, or delete it")
    if made is not None:
        made.append(checkpoint)  # from here on, an interrupt within nothing_kept removes it
    checkpoint.start({"model": request.model_id, "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return checkpoint, {}, started_at


def resumed_revision(request: RunRequest, gpu_uuid_sha256: str) -> str | None:
    """On --resume without --revision, the commit the finished rows were measured at: the Hub's default
    branch may have moved since, and a file whose rows name two revisions is not one run's (eco-validate
    refuses it); --revision cannot be given instead, as it is part of the run key. None otherwise."""
    if not request.resume or request.weights == "random":
        return None
    _, entries = checkpoint_of(request, gpu_uuid_sha256).load()
    recorded = {str(m.get("model", {}).get("revision")) for _, m in entries if isinstance(m.get("model"), dict)}
    return recorded.pop() if len(recorded) == 1 else None  # none measured, or corrupt: judged where it is loaded


def same_corpus(
    checkpoint: Checkpoint, done: dict[tuple[str, str, int], Measurement], corpus: quality.Corpus | None
) -> None:
    """On --resume, the --quality file must hold the text the finished rows' perplexities were measured
    on: the run key names its path, not its text, and eco-validate refuses a file whose rows of one run
    name two corpora, so a file edited in between would cost the whole run at its end."""
    measured = {m.quality.corpus_sha256 for m in done.values() if m.quality is not None}
    if corpus is not None and measured and measured != {corpus.sha256}:
        raise CheckpointError(
            f"--resume: the --quality file {printable(corpus.name)} changed since the interrupted run (its rows were "
            f"measured on text of SHA-256 {sorted(measured)[0][:12]}..., the file now holds {corpus.sha256[:12]}...): "
            f"restore it, or delete {printable(str(checkpoint.path))} to start over"
        )


def _kept_text(refusal: Refusal) -> str | None:
    """The refused file's text where its kept copy is still there as it was kept (a regular file, no link,
    the same SHA-256); None otherwise."""
    if refusal.path is None:
        return None
    try:  # bounded, never a FIFO (it would block) nor a link
        data = smallfile.read_bytes(Path(refusal.path), MAX_BYTES, follow_symlinks=False)
    except (smallfile.SmallFileError, ValueError):  # ValueError: a path holding NUL (a hand edit)
        return None
    return data.decode("utf-8") if hashlib.sha256(data).hexdigest() == refusal.sha256 else None


def _refusal(checkpoint: Checkpoint, refusal: Refusal) -> str:
    """On --resume of a run whose file eco-validate refused: the copy kept for inspection judged again by
    eco-validate as it is now. A --resume builds that file again from the same measurements, which only
    helps where what judges it changed since (a reference row or a rule corrected after a false refusal):
    still refused, the resume ends here, in one line, before anything is loaded; accepted now, or the
    copy gone, the file is built again, and the returned line says why."""
    shown, kept = printable(str(checkpoint.path)), printable(str(refusal.path))
    text = _kept_text(refusal)
    if text is None:
        where = "could not be kept" if refusal.path is None else f"is no longer at {kept} as it was kept"
        return (
            f"--resume: eco-validate refused the file this run built before ({refusal.first}); that file {where}, so "
            "it is built again from the same measurements and judged again"
        )
    errors = submission.validate_document(json.loads(text))
    if errors:
        raise CheckpointError(
            f"--resume: this run's measurements made a file eco-validate refuses ({len(errors)} error(s), first: "
            f"{printable(errors[0], limit=300)}), kept at {kept}; a --resume builds that same file from the same "
            f"measurements, so nothing is resumed. To measure again, delete {shown} and rerun without --resume; "
            "where the refusal is wrong (a reference row, such as the board's idle range, that its datasheet "
            "corrects), correct or report it, and --resume once eco-validate accepts that file"
        )
    return (
        f"--resume: eco-validate now accepts the file it refused, kept at {kept} (what judges it changed since): "
        "building it again from the checkpoint's measurements"
    )


def _refused_left(checkpoint: Checkpoint) -> str | None:
    """A new run's message where its checkpoint is a refused run's, not an interrupted one's; None otherwise
    (one that cannot be read is an interrupted run's, as before: --resume says what is wrong with it)."""
    try:
        header, _ = checkpoint.load()
    except CheckpointError:
        return None
    if header is None or not checkpoint.refusals:
        return None
    refusal = checkpoint.refusals[-1]
    kept = f" (the file kept at {printable(refusal.path)})" if refusal.path else ""
    return (
        f"a run whose file eco-validate refused left {printable(str(checkpoint.path))}{kept}: delete it to measure "
        "again, or --resume once eco-validate accepts that file"
    )


@contextlib.contextmanager
def kept_for_resume(checkpoint: Checkpoint) -> Iterator[None]:
    """Within, once the run has its checkpoint, a failure the user can act on (the GPU lost, the sampler gone, the
    Hub unreachable for the tokenizer, a full disk) leaves the checkpoint as it is, and its line says so: which
    checkpoint, what it keeps, and that the same command with --resume goes on. It said only what failed, and the
    next run called the checkpoint an interrupted run's. A checkpoint's own error says what to do with it already.
    A new run's checkpoint that holds no configuration yet is removed instead: the same command starts anew."""
    try:
        yield
    except (CheckpointError, OptionError):
        raise
    except Exception as exc:
        if not is_known(exc):  # a bug keeps its traceback
            raise
        if checkpoint.created and not checkpoint.finished:  # this run's, holding nothing: the next run starts anew
            try:
                checkpoint.remove()
            except OSError:
                pass  # it stays: the line says so
            else:
                raise
        finished = checkpoint.finished or "none yet"
        raise CollectError(
            f"{describe(exc)}; the run's checkpoint {printable(str(checkpoint.path))} keeps the configurations it "
            f"finished ({finished}): once that is fixed, rerun the same command with --resume"
        ) from exc
