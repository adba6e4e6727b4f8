"""A measuring session: the machine's facts, the open NVML handle and sampler, the model source, the
workload and the checkpoint; everything a configuration's runner needs, opened once."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ecocompute import catalogue
from ecocompute.cli import first_few, printable
from ecocompute.domain import Environment, Gpu, Host, Measurement, Trial
from validator.provenance import unpinned

from . import hostinfo, quality
from .checkpoint import Checkpoint
from .doctor import install_hint
from .engines import CudaGraphs, GraphBackend, Workload
from .errors import AlreadyWritten, CheckpointError, CollectError, CollectOptionError, InterruptedBeforeCheckpoint
from .models import ModelSource, torch_device
from .nvml import Nvml
from .request import RunRequest, session_wall_maximum
from .runner import Clock
from .sampler import Sampler
from .workload import Prompt


class Events:
    """Progress hooks; the CLI renders them, tests may record them."""

    def config_started(self, label: str, index: int, total: int) -> None: ...
    def trial_done(self, trial: Trial) -> None: ...
    def config_done(self, label: str, measurement: Measurement, elapsed_s: float) -> None: ...
    def note(self, text: str) -> None: ...
    # A load or an engine build, outside trials; ``detail`` says where its time went.
    def prepared(self, what: str, duration_s: float, detail: str = "") -> None: ...


@dataclass
class Hooks:
    """Factories for the pieces that touch hardware or time; tests replace them."""

    nvml: Callable[[list[int]], Nvml] = Nvml
    sampler: Callable[..., AbstractContextManager[Any]] = Sampler  # (nvml factory, period_s, mode, pin)
    sampler_mode: str = "process"
    source: Callable[..., ModelSource] = ModelSource
    graphs: GraphBackend = field(default_factory=CudaGraphs)
    workload: Callable[[Workload], Workload] = lambda engine: engine  # tests wrap engines to drive a fake clock
    clock: Clock = field(default_factory=Clock)
    wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    device: str = "cuda"  # "cpu" in tests: no board to look up among PyTorch's devices


@dataclass
class Session:
    request: RunRequest
    hooks: Hooks
    events: Events
    environment: Environment
    energy_method: str
    power_reading: str
    device: str
    free_bytes: float | None
    notes: list[str]  # caveats that hold for every configuration of the session
    source: ModelSource
    prompt: Prompt
    corpus: quality.Corpus | None
    checkpoint: Checkpoint
    done: dict[tuple[str, str, int], Measurement]  # from the checkpoint: requested (precision, engine, batch)
    started_at: datetime
    t0: float  # clock reading at started_at
    counter: Callable[[], list[float]] | None = None  # set while measuring
    sampler: Any = None  # WindowSource, set while measuring

    @property
    def wall_s(self) -> float:
        return self.hooks.clock.now() - self.t0


def _versions() -> dict[str, str]:
    """The packages' exact versions, refused before anything is measured where eco-validate would refuse the
    finished file for one (provenance.unpinned_version): a run of minutes without bitsandbytes installed was
    refused at its end, though it measured fp16 and bf16 only."""
    versions = hostinfo.package_versions()
    bad = unpinned(versions)
    if bad:
        shown = "; ".join(printable(f"{key}: {problem}", limit=120) for key, problem in list(bad.items())[:3])
        raise CollectError(
            f"the submission records the exact version of each package it runs on, and eco-validate refuses {shown} "
            f"(provenance.unpinned_version); nothing measured: install them with {install_hint(bad)}"
        )
    return versions


def _environment(nvml: Nvml, versions: dict[str, str]) -> tuple[Environment, list[str]]:
    gpu, driver = nvml.describe()
    unlike = nvml.unlike_boards()
    if unlike:
        raise CollectError(
            f"the measured GPUs differ where a submission records one value for all: {'; '.join(unlike[:3])}: "
            "give them the same power limit (nvidia-smi -i <gpu> -pl <W>) and MIG mode, or measure the same model of board"
        )
    if gpu["mig_mode"] == "enabled":
        raise CollectError(
            "the GPU has MIG enabled: NVML's power and energy counters cover the whole board while this process "
            "owns one slice, so eco-validate refuses such a file (protocol.mig_enabled): disable MIG "
            "(nvidia-smi -i <gpu> -mig 0, as root, the GPU idle) or measure on a board without it"
        )
    notes = []
    others = nvml.other_processes()
    if others:
        notes.append(f"other processes were using the GPU: {', '.join(str(p['pid']) for p in others)}")
    if gpu["power_limit_enforced_w"] < gpu["power_limit_default_w"]:
        notes.append(
            f"power limit {gpu['power_limit_enforced_w']:.0f} W is below the default {gpu['power_limit_default_w']:.0f} W"
        )
    environment = Environment(Gpu(**gpu), driver, Host(**hostinfo.host()), versions)
    return environment, notes


def _run_key(request: RunRequest, gpu_uuid_sha256: str) -> str:
    payload = json.dumps({"request": request.run_key_fields(), "gpu": gpu_uuid_sha256}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# A resumed run's clock stands at least this long after the idle window that followed the last checkpointed trial.
RESUME_GAP_S = 1.0


def _resumed_clock_s(
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


def _checkpoint_of(request: RunRequest, gpu_uuid_sha256: str) -> Checkpoint:
    run_key = _run_key(request, gpu_uuid_sha256)
    return Checkpoint(request.state_dir / f"checkpoint-{run_key}.jsonl", run_key)


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


def _checkpoint(
    request: RunRequest, gpu_uuid_sha256: str, started_at: datetime, made: list[Checkpoint] | None = None
) -> tuple[Checkpoint, dict[tuple[str, str, int], Measurement], datetime]:
    """The run's checkpoint, what it already holds, and when the run started (the first session's
    start when resuming: the trials already measured count their time from it). A new run's is added
    to ``made`` (nothing_kept's) before it is started."""
    checkpoint = _checkpoint_of(request, gpu_uuid_sha256)
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
        return checkpoint, _finished(checkpoint, entries, request), _first_start(checkpoint, header, started_at)
    if checkpoint.path.exists():
        raise CheckpointError(f"an interrupted run left {checkpoint.path}: continue it with --resume, or delete it")
    if made is not None:
        made.append(checkpoint)  # from here on, an interrupt within nothing_kept removes it
    checkpoint.start({"model": request.model_id, "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return checkpoint, {}, started_at


def _resumed_revision(request: RunRequest, gpu_uuid_sha256: str) -> str | None:
    """On --resume without --revision, the commit the finished rows were measured at: the Hub's default
    branch may have moved since, and a file whose rows name two revisions is not one run's (eco-validate
    refuses it); --revision cannot be given instead, as it is part of the run key. None otherwise."""
    if not request.resume or request.weights == "random":
        return None
    _, entries = _checkpoint_of(request, gpu_uuid_sha256).load()
    recorded = {str(m.get("model", {}).get("revision")) for _, m in entries if isinstance(m.get("model"), dict)}
    return recorded.pop() if len(recorded) == 1 else None  # none measured, or corrupt: judged where it is loaded


def _same_corpus(
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


@contextlib.contextmanager
def nothing_kept(request: RunRequest) -> Iterator[list[Checkpoint]]:
    """Within, before a run (not a --resume) has its checkpoint, an interrupt is InterruptedBeforeCheckpoint:
    the CLI then says there is nothing to resume instead of a --resume hint that would find no checkpoint.
    A checkpoint made within (put in the list yielded before it is started) is removed then, once this run
    created it (``created``: not one another run created first): it holds no measurement (maybe a torn
    header), and left, it would have the next run ask for a --resume."""
    made: list[Checkpoint] = []
    try:
        yield made
    except KeyboardInterrupt as exc:
        if request.resume or isinstance(exc, InterruptedBeforeCheckpoint):
            raise
        try:
            for checkpoint in made:
                if checkpoint.created:  # not one another run created as this one tried to
                    checkpoint.remove()
        except OSError:
            raise exc from None  # it is there: the --resume hint is true, and --resume finds it
        raise InterruptedBeforeCheckpoint(exc) from exc


@contextlib.contextmanager
def open_session(request: RunRequest, events: Events, hooks: Hooks) -> Iterator[Session]:
    """Describe the machine, then keep NVML and the sampler open while the configurations run."""
    with nothing_kept(request) as made:  # a new run's checkpoint is made last: nothing to resume before it
        if request.quality and request.weights == "random":
            raise CollectOptionError(
                "--quality needs pretrained weights: the perplexity of random weights means nothing"
            )
        started_at = hooks.wall_clock().replace(microsecond=0)
        t0 = opened = hooks.clock.now()
        corpus = quality.load_corpus(request.quality) if request.quality else None
        versions = _versions()  # after the options' own checks: a usage error is told first
        gpus = list(request.gpus)
        with hooks.nvml(gpus) as nvml:
            environment, notes = _environment(nvml, versions)
            counter_ok, coarse = nvml.energy_method(hooks.clock.now, hooks.clock.sleep)
            notes += [coarse] if coarse else []
            power_reading = nvml.power_reading()
            free = nvml.memory_free_bytes()
            free_bytes = None if free is None else (sum(free) if len(gpus) > 1 else free[0])  # sharded: all boards
            uuids = nvml.uuids()
        devices = [torch_device(u) for u in uuids] if hooks.device == "cuda" else [hooks.device] * len(uuids)
        device = devices[0]
        if len(gpus) > 1:
            notes.append(
                f"model sharded over GPUs {', '.join(map(str, gpus))} ({', '.join(devices)}) by accelerate's balanced "
                "device map (each measurement's placement says which module sat on which; a precision small enough "
                "for one board may sit on one); energy and idle power per GPU in that order"
            )
        source = hooks.source(
            request.model_id,
            weights=request.weights,
            revision=request.revision or _resumed_revision(request, environment.gpu.uuid_sha256),
            device=device,
            cache_dir=request.state_dir / "models",
            seed=request.seed,
            config_path=request.config_path,
            shard_over=devices if len(gpus) > 1 and hooks.device == "cuda" else None,
            note=events.note,
        )
        checkpoint, done, first_start = _checkpoint(request, environment.gpu.uuid_sha256, started_at, made)
        _same_corpus(checkpoint, done, corpus)
        cut = checkpoint.end_line() if request.resume else None  # this run appends to it: never after a torn line
        if cut:
            events.note(cut)
    t0 -= _resumed_clock_s(started_at, first_start, done, request.plan.idle_window_s)
    session = Session(
        request=request,
        hooks=hooks,
        events=events,
        environment=environment,
        energy_method=catalogue.ENERGY_COUNTER if counter_ok else catalogue.ENERGY_INTEGRATED,
        power_reading=power_reading,
        device=device,
        free_bytes=free_bytes,
        notes=notes,
        source=source,
        prompt=source.prompt(request.prompt_tokens),
        corpus=corpus,
        checkpoint=checkpoint,
        done=done,
        started_at=first_start,
        t0=t0,
    )
    pin = request.pin_cpu and hooks.device != "cpu"
    pinned = hostinfo.pin_to_cpus(1) if pin else None
    if pinned is not None:
        notes.append(f"measuring process pinned to CPU {pinned[0]}, sampler to the CPU before it")
    factory = functools.partial(hooks.nvml, gpus)
    with hooks.nvml(gpus) as nvml, hooks.sampler(factory, request.sample_period_s, hooks.sampler_mode, pin) as sampler:
        session.counter = nvml.energy_j if counter_ok else None
        session.sampler = sampler
        events.prepared(
            "opened the session (GPU and versions, model and prompt, checkpoint, sampler)", hooks.clock.now() - opened
        )
        yield session


# The wall clock may move this far against the monotonic one over a run (NTP slewing it) before the session's
# times are taken from the clock's reading at the end instead of the start.
CLOCK_STEP_S = 60.0


def finished_at(session: Session) -> tuple[datetime, datetime, float]:
    """(started, ended, wall time in s): the wall time from the monotonic clock, so an NTP step on the host
    cannot make them disagree, anchored at the start; or at the end where the wall clock moved more than
    CLOCK_STEP_S against the monotonic one meanwhile: NTP setting a fresh VM's clock, which was wrong at the
    start (15 min ahead gave a created_at in the future, refused as provenance.future_time after the whole
    run; attackmeas F9). The trials' times, relative to the session's start, do not move."""
    wall_s = session.wall_s
    started = session.started_at
    now = session.hooks.wall_clock()
    step_s = (now - (started + timedelta(seconds=wall_s))).total_seconds()
    if abs(step_s) > CLOCK_STEP_S:
        started = (now - timedelta(seconds=wall_s)).replace(microsecond=0)
        session.events.note(
            f"the wall clock moved {step_s:+.0f} s against the monotonic clock during the run (NTP setting it?): "
            f"the session's times are taken from its reading at the end, {started:%Y-%m-%dT%H:%M:%SZ} for the start"
        )
    return started, started + timedelta(seconds=wall_s), wall_s
