"""The interleaved schedule: every precision of one model resident at once, one trial of each
configuration in turn, so slow phases of the host hit every configuration alike instead of
whichever one happened to be running (on the lent H100 a pinned pure-Python probe changed speed by
5-10 % between 10-s windows, independently of the GPU)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ecocompute import catalogue
from ecocompute.domain import Idle

from . import records
from .models import unload
from .trials import Runner

# Embeddings and lm_head stay in fp16 under bitsandbytes, KV cache and activations come on top of the
# weights: hence the headroom.
HEADROOM = 1.3


def resident_bytes(parameter_count: int, precisions: list[str]) -> float:
    """Estimated GPU memory for all ``precisions`` of one model loaded at once."""
    return HEADROOM * parameter_count * sum(catalogue.PRECISIONS[p].bytes_per_param for p in precisions)


def choose(
    schedule: str, parameter_count: int, precisions: list[str], configs: int, free_bytes: float | None
) -> tuple[bool, str | None]:
    """Whether to interleave, and the note that says why not when 'auto' decided against it."""
    if schedule == "sequential" or configs < 2:
        return False, None
    if schedule == "interleaved":
        return True, None
    need = resident_bytes(parameter_count, precisions)
    if free_bytes is not None and need <= free_bytes:
        return True, None
    free = "unknown" if free_bytes is None else f"{free_bytes / 2**30:.0f} GiB"
    return False, (
        f"configurations measured one after another, not interleaved: all {len(precisions)} precisions at once "
        f"need about {need / 2**30:.0f} GiB of GPU memory, free: {free}"
    )


@dataclass
class Entry:
    record: dict[str, Any]
    runner: Runner | None  # None once skipped

    @property
    def label(self) -> str:
        return records.label(self.record["precision"], self.record["batch_size"])


def run_interleaved(ctx: records.Context, todo: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Measure every (precision, batch) in ``todo`` with all its models resident at once."""
    entries: list[Entry] = []
    loaded_models = []
    out: list[dict[str, Any]] = []
    for precision, batches in todo.items():
        loaded, skipped = records.load(ctx, precision, batches, " next to the other precisions")
        out += skipped
        if loaded is None:
            continue
        loaded_models.append(loaded)
        measured_quality = records.perplexity(ctx, loaded)
        for batch in batches:
            m = records.measurement(ctx, loaded, precision, batch, measured_quality)
            entries.append(Entry(m, records.runner(ctx, loaded, m)))
    if not entries:
        return out
    first = entries[0].runner
    assert first is not None
    idle_probe = Runner(first.workload, ctx.sampler, ctx.counter, ctx.cfg.plan, ctx.hooks.clock)  # idle windows only
    idle_before = idle_probe.idle_power_w()  # one baseline before for all: the GPU is idle between them alike
    for i, e in enumerate(entries):
        ctx.events.config_started(e.label, i + 1, len(entries))
        _guarded(e, lambda r: r.warm_up())
    out += _close(ctx, [e for e in entries if e.runner is None], None)
    active = [e for e in entries if e.runner is not None]
    rounds = 0
    while active:
        shift = rounds % len(active)  # rotate who goes first, so no configuration always follows another
        finished = []
        for e in active[shift:] + active[:shift]:
            ctx.events.config_started(e.label, entries.index(e) + 1, len(entries))
            if _guarded(e, lambda r: r.step()):
                finished.append(e)
        active = [e for e in active if e not in finished]
        rounds += 1
        if finished:  # their idle-after window, then the checkpoint: an interrupt keeps them
            idle = None
            if any(e.runner is not None for e in finished):
                idle = Idle(idle_before, idle_probe.idle_power_w())
            out += _close(ctx, finished, idle)
    for loaded in loaded_models:
        unload(loaded)
    return out


def _close(ctx: records.Context, entries: list[Entry], idle: Idle | None) -> list[dict[str, Any]]:
    for e in entries:
        if e.runner is not None and idle is not None:
            records.complete(ctx, e.record, e.runner.result(idle))
        ctx.checkpoint.add(e.record)
    return [e.record for e in entries]


def _guarded(entry: Entry, action: Callable[[Runner], bool | None]) -> bool:
    """Run one step of a configuration; out of memory skips that configuration alone."""
    assert entry.runner is not None
    try:
        return bool(action(entry.runner))
    except Exception as exc:
        if not records.is_oom(exc):
            raise
        records.skip_for_oom(entry.record, exc)
        entry.runner = None
        return True
