"""A measuring session: the machine's facts, the open NVML handle and sampler, the model source, the
workload and the checkpoint; everything a configuration's runner needs, opened once."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ecocompute import catalogue
from ecocompute.cli import printable
from ecocompute.domain import Environment, Gpu, Host, Measurement, Trial
from validator.provenance import unpinned

from . import hostinfo, locks, preflight, quality, resume
from .checkpoint import Checkpoint
from .doctor import install_hint
from .engines import CudaGraphs, GraphBackend, Workload
from .errors import CollectError, CollectOptionError, InterruptedBeforeCheckpoint
from .models import ModelSource, torch_device
from .nvml import Nvml
from .request import RunRequest
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
    lock_dir: Path = field(default_factory=locks.machine_folder)  # every run's on the machine: locks.boards


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
    others, unread = nvml.other_processes()
    if others:
        notes.append(f"other processes were using the GPU: {', '.join(str(p['pid']) for p in others)}")
    if unread:
        notes.append(
            f"other processes on the GPU could not be listed ({'; '.join(unread[:2])}): whether another process used "
            "it during the run is not known"
        )
    if gpu["power_limit_enforced_w"] < gpu["power_limit_default_w"]:
        notes.append(
            f"power limit {gpu['power_limit_enforced_w']:.0f} W is below the default {gpu['power_limit_default_w']:.0f} W"
        )
    environment = Environment(Gpu(**gpu), driver, Host(**hostinfo.host()), versions)
    return environment, notes


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
    with contextlib.ExitStack() as held:  # the measured boards, once known, till the session ends
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
                uuids = nvml.uuids()
                # before the board is read: a run refused for another's measuring it polled its counter for 2 s
                held.enter_context(locks.boards(list(zip(gpus, uuids, strict=True)), hooks.lock_dir))
                environment, notes = _environment(nvml, versions)
                counter_ok, coarse = nvml.energy_method(hooks.clock.now, hooks.clock.sleep)
                notes += [coarse] if coarse else []
                power_reading = nvml.power_reading()
                free = nvml.memory_free_bytes()
                free_bytes = None if free is None else (sum(free) if len(gpus) > 1 else free[0])  # sharded: all boards
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
                revision=request.revision or resume.resumed_revision(request, environment.gpu.uuid_sha256),
                device=device,
                cache_dir=request.state_dir / "models",
                seed=request.seed,
                config_path=request.config_path,
                shard_over=devices if len(gpus) > 1 and hooks.device == "cuda" else None,
                note=events.note,
            )
            energy_method = catalogue.ENERGY_COUNTER if counter_ok else catalogue.ENERGY_INTEGRATED
            prompt = source.prompt(request.prompt_tokens)
            preflight.check(request, source, environment, prompt, energy_method, power_reading, started_at)
            gpu = environment.gpu.uuid_sha256
            checkpoint, done, first_start = resume.open_checkpoint(request, gpu, started_at, made, events.note)
            resume.same_corpus(checkpoint, done, corpus)
            cut = checkpoint.end_line() if request.resume else None  # this run appends to it: never after a torn line
            if cut:
                events.note(cut)
        with resume.kept_for_resume(checkpoint):  # a failure from here on says how to go on
            t0 -= resume.resumed_clock_s(started_at, first_start, done, request.plan.idle_window_s)
            session = Session(
                request=request,
                hooks=hooks,
                events=events,
                environment=environment,
                energy_method=energy_method,
                power_reading=power_reading,
                device=device,
                free_bytes=free_bytes,
                notes=notes,
                source=source,
                prompt=prompt,
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
            with (
                hooks.nvml(gpus) as nvml,
                hooks.sampler(factory, request.sample_period_s, hooks.sampler_mode, pin) as sampler,
            ):
                session.counter = nvml.energy_j if counter_ok else None
                session.sampler = sampler
                events.prepared(
                    "opened the session (GPU and versions, model and prompt, checkpoint, sampler)",
                    hooks.clock.now() - opened,
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
