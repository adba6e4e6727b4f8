"""`eco-collect run` end to end, one way: session -> plan -> run -> write."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ecocompute import hubenv
from ecocompute.cli import describe, printable
from validator.groups import alternate  # the rule eco-validate groups rows by

from . import submission
from .checkpoint import Checkpoint
from .errors import CollectError, InterruptedAfterWrite, OutputExistsError, Refused
from .request import RunRequest
from .schedule import Schedule, requested
from .session import Events, Hooks, finished_at, nothing_kept, open_session


def collect(
    request: RunRequest, events: Events | None = None, hooks: Hooks | None = None
) -> tuple[Path, dict[str, Any]]:
    """Measure every requested configuration and write one validated submission; (its path, the document)."""
    events, hooks = events or Events(), hooks or Hooks()
    with nothing_kept(request):
        submission.check_out_dir(request.out_dir, request.handle)
        _sweep(request, events)
        hubenv.check()  # transformers imports huggingface_hub, which fails on a malformed variable in a traceback
    with open_session(request, events, hooks) as session:
        configs = requested(session)
        schedule = Schedule(session, configs)
        for note in session.notes:
            events.note(note)
        measurements = list(session.done.values()) + schedule.run(configs)
        # a resumed run whose first session interleaved says so, though this session's 'auto' chose otherwise
        interleaved = schedule.interleaved or alternate(list(session.done.values()))
        protocol = submission.protocol(
            request, session.prompt, session.energy_method, session.power_reading, interleaved
        )
    waited = 0
    while True:
        started, ended, wall_s = finished_at(session)
        doc = submission.assemble(
            request=request,
            environment=session.environment,
            protocol=protocol,
            measurements=measurements,
            started_at=started,
            finished_at=ended,
            wall_s=wall_s,
        ).to_dict()
        try:
            return commit(doc, request.out_dir, request.state_dir, session.checkpoint), doc
        except OutputExistsError:
            # The id is <handle>-<board>-<second it ended>: a run on another board of the same model, into the same
            # folder, that ended in the same second holds it. The file is finished a second later instead (never over
            # the other): it failed at its end, its measurements kept for a --resume.
            if waited == ID_TAKEN_WAITS:
                raise
            waited += 1
            session.hooks.clock.sleep(1.0)


# Seconds a run waits, one at a time, for an id that another run's file holds.
ID_TAKEN_WAITS = 5


def _sweep(request: RunRequest, events: Events) -> None:
    """Temporary files a killed eco-collect left where this run writes: removed, or reported."""
    for folder, handle in ((request.out_dir / request.handle, request.handle), (request.state_dir, None)):
        removed, left = submission.sweep_partials(folder, handle)
        if removed:
            events.note(f"removed {len(removed)} temporary file(s) a killed run left in {printable(str(folder))}")
        if left:
            events.note(
                f"{len(left)} temporary file(s) left in {printable(str(folder))} by a killed or running eco-collect, "
                f"kept: {', '.join(printable(n) for n in left[:3])}"
            )


def commit(doc: dict[str, Any], out_dir: Path, state_dir: Path, checkpoint: Checkpoint) -> Path:
    """Write the submission, then drop the checkpoint: its measurements are in the file now, and one
    left behind would have a --resume write them a second time, under a new id (the checkpoint names
    the file before it is written and says once it is in place, so a --resume after a SIGKILL in between
    finds it, or, the file moved or edited since, refuses to write it again). Ctrl-C or SIGTERM once the
    file is whole ends as InterruptedAfterWrite, the checkpoint dropped all the same; before that, as the
    interrupt it is, the checkpoint kept for --resume. A file eco-validate refuses keeps the checkpoint too,
    which says so (``_refused``)."""
    try:
        path = submission.write(doc, out_dir, state_dir, before=checkpoint.committing)
    except Refused as exc:
        said = _refused(checkpoint, exc)
        if said is exc:
            raise
        raise said from exc
    except OSError as exc:  # a full disk, a folder made read-only meanwhile: the measurements are safe
        raise CollectError(
            f"cannot write the submission ({describe(exc)}); every configuration is measured and kept in "
            f"{printable(str(checkpoint.path))}: make --out-dir writable and rerun the same command with --resume"
        ) from exc
    except InterruptedAfterWrite:
        checkpoint.remove()
        raise
    try:
        with contextlib.suppress(OSError):  # a full disk: the file is whole all the same
            checkpoint.wrote(path)  # killed before the removal, moved or edited: --resume does not write it twice
        checkpoint.remove()
    except KeyboardInterrupt as exc:
        checkpoint.remove()  # an unlink: done again, whether or not the interrupted one was
        raise InterruptedAfterWrite(path, exc) from exc
    return path


def _refused(checkpoint: Checkpoint, exc: Refused) -> CollectError:
    """A refused file: the checkpoint records it (a --resume then builds it again only once eco-validate accepts
    the copy kept for inspection: collector.resume), and the line says where the measurements are and what to do."""
    try:
        checkpoint.refused(exc.kept, exc.text, printable(exc.first, limit=300))
    except OSError:  # a full disk: unrecorded, a --resume builds the file again and keeps it, as the line says
        return exc
    if exc.kept is None:
        return exc
    return Refused(
        f"{exc}; its measurements stay in {printable(str(checkpoint.path))}: --resume writes them once eco-validate "
        "accepts the kept file (a reference row or a rule corrected, where the refusal is wrong), or delete the "
        "checkpoint to measure again",
        exc.kept,
        exc.text,
        exc.first,
    )
