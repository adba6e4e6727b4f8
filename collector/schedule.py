"""From the requested configurations to finished measurements.

plan: precision x engine x batch size, and whether to interleave them (every precision of the model
resident at once, one trial of each configuration in turn, so slow phases of the host hit every
configuration alike) or measure them one after another.

run: groups of configurations, each measured between one idle window before and one after: the
interleaved schedule is one group of all configurations, the sequential one a group per
configuration. Before a group's first trial its models are loaded and its engines prepared and
checked (``engines.build``): an engine that cannot run a precision is found by trying. Under
``--engine auto`` such a precision falls back to ``generate`` and fp16 is measured on ``generate`` too,
so that every row has an fp16 reference on its own engine; an engine asked for by name that cannot
run is written as ``skipped`` with the reason. Every finished configuration is checkpointed at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecocompute import catalogue
from ecocompute.cli import first_line
from ecocompute.domain import Engine, Idle, Measurement, TokenCheck

from . import engines, quality
from .errors import TrialsTooShort
from .models import DoesNotFit, LoadedModel, unload
from .runner import IdleMeter, Runner
from .session import Session

# How every eco-collect version's note begins where 'auto' measured one after another (eco-validate's
# groups.RESUMED_SEQUENTIAL_NOTE reads it).
SEQUENTIAL_NOTE = "configurations measured one after another, not interleaved"


RANDOM_INT8_NOTE = (
    "random-initialised weights have few activation outliers, so the mixed-precision cost of "
    "LLM.int8() (threshold 6.0) is under-stated compared with trained weights"
)
# Embeddings and lm_head stay in fp16 under bitsandbytes, KV cache and activations come on top of the
# weights: hence the headroom.
HEADROOM = 1.3


@dataclass(frozen=True)
class Config:
    precision: str
    engine: str  # as requested: a catalogue engine or "auto"
    batch_size: int
    reason: str | None = None  # why this configuration was added (an fp16 reference, say)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.precision, self.engine, self.batch_size)

    def label(self, engine: str | None = None) -> str:
        return f"{self.precision} {engine or self.engine} bs={self.batch_size}"


def requested(session: Session) -> list[Config]:
    r = session.request
    return [Config(p, e, b) for p in r.precisions for e in r.engines for b in r.batch_sizes]


def resident_bytes(parameter_count: int, precisions: list[str]) -> float:
    """Estimated GPU memory for all ``precisions`` of one model loaded at once."""
    return HEADROOM * parameter_count * sum(catalogue.PRECISIONS[p].bytes_per_param for p in precisions)


def interleave(session: Session, configs: list[Config]) -> bool:
    """Whether to interleave; a note says why not when 'auto' decided against it."""
    schedule, precisions = session.request.schedule, list(session.request.precisions)
    if schedule == "sequential" or len(configs) < 2:
        return False
    if schedule == "interleaved":
        return True
    need = resident_bytes(session.source.describe().parameter_count, precisions)
    if session.free_bytes is not None and need <= session.free_bytes:
        return True
    free = "unknown" if session.free_bytes is None else f"{session.free_bytes / 2**30:.0f} GiB"
    session.notes.append(
        f"{SEQUENTIAL_NOTE}: all {len(precisions)} precisions at once need about {need / 2**30:.0f} GiB of GPU "
        f"memory, free: {free}"
    )
    return False


@dataclass
class Entry:
    """A configuration in flight: its resolved engine and runner, or the reason it was skipped."""

    config: Config
    engine_name: str
    attn: str
    notes: list[str] = field(default_factory=list)
    check: TokenCheck | None = None
    timing: str = ""  # where its engine's preparation went (for the log)
    runner: Runner | None = None
    skip_reason: str | None = None


def is_oom(exc: BaseException) -> bool:
    try:
        import torch

        return isinstance(exc, torch.cuda.OutOfMemoryError)
    except ImportError:
        return False


def _oom_text(exc: BaseException) -> str:
    return first_line(exc) or type(exc).__name__


class Schedule:
    def __init__(self, session: Session, configs: list[Config]) -> None:
        self.session = session
        self.interleaved = interleave(session, configs)
        self.loaded: dict[str, LoadedModel | None] = {}  # None: did not fit
        self.load_errors: dict[str, str] = {}
        self.quality: dict[str, Any] = {}
        self.total = len(configs)
        self.started = 0

    # -- models ------------------------------------------------------------------------------
    def _model(self, precision: str) -> LoadedModel | None:
        if precision not in self.loaded:
            started = self.session.hooks.clock.now()
            try:
                loaded = self.session.source.load(precision)
            except Exception as exc:
                if not (is_oom(exc) or isinstance(exc, DoesNotFit)):
                    raise
                unload(None)
                self.loaded[precision] = None
                why = str(exc) if isinstance(exc, DoesNotFit) else f"out of memory while loading: {_oom_text(exc)}"
                self.load_errors[precision] = why
                self.session.events.note(f"{precision}: skipped: {why}")  # the log says why, as for a runtime skip
                return None
            self.loaded[precision] = loaded
            self.session.events.prepared(f"loaded {precision}", self.session.hooks.clock.now() - started)
            corpus = self.session.corpus
            self.quality[precision] = quality.perplexity(loaded.model, loaded.tokenizer, corpus) if corpus else None
        return self.loaded[precision]

    def _release(self, keep: set[str]) -> None:
        for precision in [p for p in self.loaded if p not in keep]:
            unload(self.loaded.pop(precision))

    # -- engines -----------------------------------------------------------------------------
    def _prepare(self, config: Config) -> tuple[Entry, list[Config]]:
        """The configuration's engine, built and checked; and configurations it makes necessary."""
        loaded = self._model(config.precision)
        name = "cuda-graph" if config.engine == "auto" else config.engine
        entry = Entry(config, name, loaded.attn_implementation if loaded else "not loaded")
        if config.reason:
            entry.notes.append(config.reason)
        if loaded is None:
            entry.skip_reason = self.load_errors[config.precision]
            return entry, []
        added: list[Config] = []
        started = self.session.hooks.clock.now()
        try:
            try:
                engine = self._build(name, loaded, config.batch_size, entry)
            except engines.EngineUnavailable as exc:
                if config.engine != "auto":
                    entry.skip_reason = f"engine {name} cannot run {config.precision} here: {exc}"
                    return entry, []
                entry.engine_name = catalogue.REFERENCE_ENGINE
                entry.notes.append(
                    f"measured with generate: the CUDA-graph engine cannot run {config.precision} ({exc})"
                )
                # Said in the log too: a file lost before it is copied off a rented machine keeps nothing.
                spent = self.session.hooks.clock.now() - started
                self.session.events.note(
                    f"{config.label(name)}: {exc} (after {spent:.1f} s); measured with generate instead"
                )
                engine = self._build(catalogue.REFERENCE_ENGINE, loaded, config.batch_size, entry)
                if config.precision != catalogue.REFERENCE_PRECISION:
                    added = self._fp16_references(config)
        except Exception as exc:
            if not is_oom(exc):
                raise
            unload(None)
            entry.skip_reason = f"out of memory at batch {config.batch_size}: {_oom_text(exc)}"
            return entry, []
        s = self.session
        s.events.prepared(f"prepared {config.label(entry.engine_name)}", s.hooks.clock.now() - started, entry.timing)
        workload = s.hooks.workload(engine)
        entry.runner = Runner(
            workload, s.sampler, s.counter, s.request.plan, s.hooks.clock, s.events.trial_done, s.t0,
            s.request.sample_period_s,
        )  # fmt: skip
        return entry, added

    def _build(self, name: str, loaded: LoadedModel, batch: int, entry: Entry) -> engines.Engine:
        r = self.session.request
        decoding = engines.Decoding.of(loaded.model, self.session.prompt, batch, r.output_tokens)
        built = engines.build(name, decoding, self.session.hooks.graphs, self.session.hooks.clock.now)
        entry.check = built.check
        entry.timing = built.timing()
        entry.notes += built.notes()
        return built.engine

    def _fp16_references(self, config: Config) -> list[Config]:
        r = self.session.request
        if catalogue.REFERENCE_PRECISION not in r.precisions:
            return []
        why = f"the fp16 reference on generate for {config.precision}, which cannot run as a CUDA graph"
        return [Config(catalogue.REFERENCE_PRECISION, catalogue.REFERENCE_ENGINE, b, why) for b in r.batch_sizes]

    # -- measuring ---------------------------------------------------------------------------
    def run(self, configs: list[Config]) -> list[Measurement]:
        s = self.session
        pending = [c for c in configs if c.key not in s.done]
        seen = {c.key for c in configs}
        # Configurations as resolved (an auto one that fell back to generate is the same configuration as
        # an fp16 reference on generate): each is measured once.
        measured = {(m.precision, m.engine.name, m.batch_size) for m in s.done.values()}
        groups = [pending] if self.interleaved else [[c] for c in pending]
        out: list[Measurement] = []
        while groups:
            group = groups.pop(0)
            entries: list[Entry] = []
            while group:
                entry, added = self._prepare(group.pop(0))
                resolved = (entry.config.precision, entry.engine_name, entry.config.batch_size)
                if resolved in measured:
                    self.total -= 1
                    continue
                measured.add(resolved)
                entries.append(entry)
                new = [c for c in added if c.key not in seen and c.key not in s.done and c.key not in measured]
                seen |= {c.key for c in new}
                self.total += len(new)
                if self.interleaved:
                    group += new  # prepared before any trial of the group
                else:
                    groups += [[c] for c in new]
            out += self._measure(entries)
            self._release({c.precision for g in groups for c in g})
        self._release(set())
        return out

    def _measure(self, entries: list[Entry]) -> list[Measurement]:
        """Idle before, warm-ups, then one trial per active configuration per round (the first turn
        rotating), closing each configuration with an idle window as soon as it is done."""
        out = [self._close(e, None) for e in entries if e.runner is None]
        active = [e for e in entries if e.runner is not None]
        if not active:
            return out
        # The group's idle windows, measured by no configuration's runner (one holds its engine, which an out-of-
        # memory skip must let go); each window serves every configuration whose row records it: its notes and its
        # time go to each of them.
        s = self.session
        meter = IdleMeter(s.sampler, s.counter, s.request.plan, s.hooks.clock, s.request.sample_period_s)
        before = meter.measure()  # one baseline for the group: between its trials the GPU idles alike
        for e in active:
            assert e.runner is not None
            e.runner.served(before)
        labels = {id(e): self._started(e) for e in active}
        for e in active:
            self.session.events.config_started(*labels[id(e)])
            self._guarded(e, lambda r: r.warm_up())
        out += [self._close(e, None) for e in active if e.runner is None]
        active = [e for e in active if e.runner is not None]
        rounds = 0
        while active:
            shift = rounds % len(active)  # rotate who goes first, so no configuration always follows another
            finished = []
            for e in active[shift:] + active[:shift]:
                self.session.events.config_started(*labels[id(e)])
                if self._guarded(e, lambda r: r.step()):
                    finished.append(e)
            active = [e for e in active if e not in finished]
            rounds += 1
            if finished:  # their idle-after window, then the checkpoint: an interrupt keeps them
                idle = None
                served = [e.runner for e in finished if e.runner is not None]
                if served:
                    after = meter.measure()
                    for runner in served:
                        runner.served(after)
                    idle = Idle(before.reading.power_w, after.reading.power_w, before.reading.per_gpu_w,
                                after.reading.per_gpu_w)  # fmt: skip
                out += [self._close(e, idle) for e in finished]
        return out

    def _started(self, entry: Entry) -> tuple[str, int, int]:
        self.started += 1
        return entry.config.label(entry.engine_name), self.started, self.total

    def _guarded(self, entry: Entry, action: Any) -> bool:
        """One step of a configuration; out of memory, or trials too short to keep, skip that
        configuration alone."""
        assert entry.runner is not None
        try:
            return bool(action(entry.runner))
        except TrialsTooShort as exc:
            entry.runner = None
            entry.skip_reason = str(exc)
        except Exception as exc:
            if not is_oom(exc):
                raise
            entry.runner = None  # before unload: the runner holds the engine's buffers
            entry.skip_reason = f"out of memory at batch {entry.config.batch_size}: {_oom_text(exc)}"
            unload(None)
        # Said in the log too: its trials so far are dropped, and a file lost off a rented machine keeps nothing.
        self.session.events.note(f"{entry.config.label(entry.engine_name)}: skipped: {entry.skip_reason}")
        return True

    def _close(self, entry: Entry, idle: Idle | None) -> Measurement:
        s, c = self.session, entry.config
        loaded = self.loaded.get(c.precision)
        notes = list(s.notes) + entry.notes
        if s.request.weights == "random" and c.precision == "int8":
            notes.insert(len(s.notes), RANDOM_INT8_NOTE)
        common = {
            "model": loaded.info if loaded else s.source.describe(),
            "precision": c.precision,
            "quantization": loaded.quantization if loaded else s.source.quantization(c.precision),
            "engine": Engine.of(entry.engine_name, entry.attn, entry.check),
            "batch_size": c.batch_size,
            "quality": self.quality.get(c.precision),
            "placement": loaded.placement if loaded else None,
        }
        if entry.runner is None or idle is None:
            m = Measurement(
                status=catalogue.STATUS_SKIPPED, idle=None, trials=(), summary=None, gate=None, notes=tuple(notes),
                skip_reason=entry.skip_reason, stopped_by=None, **common,
            )  # fmt: skip
        else:
            result = entry.runner.result(idle)
            summary, gate, status = result.outcome(s.request.plan)
            m = Measurement(
                status=status, idle=idle, trials=tuple(result.trials), summary=summary, gate=gate,
                notes=tuple(notes + result.notes), stopped_by=result.stopped_by, **common,
            )  # fmt: skip
            s.events.config_done(c.label(entry.engine_name), m, result.elapsed_s)
        # A closed configuration lets its engine go: the runner holds it, and it the model, which a run
        # measuring one precision after another must free before the next loads (a 32B's fp16 weights
        # left int8-pure no room on an H100: skipped, out of memory while loading).
        entry.runner = None
        s.checkpoint.add(c.key, m.to_dict())
        return m
