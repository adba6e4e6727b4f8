"""The interleaved schedule: every precision of one model resident at once, one trial of each
configuration in turn, so slow phases of the host hit every configuration alike instead of
whichever one happened to be running (on the lent H100 a pinned pure-Python probe changed speed by
5-10 % between 10-s windows, independently of the GPU)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import quality, records
from .models import ModelSource, unload
from .trials import Runner, finish

# Weight bytes per parameter once loaded; embeddings and lm_head stay in fp16 under bitsandbytes,
# KV cache and activations come on top: hence the headroom.
BYTES_PER_PARAM = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "int8": 1.0,
    "int8-pure": 1.0,
    "nf4": 0.5,
    "nf4-dq": 0.5,
    "fp4": 0.5,
}
HEADROOM = 1.3


def resident_bytes(parameter_count: int, precisions: list[str]) -> float:
    """Estimated GPU memory for all ``precisions`` of one model loaded at once."""
    return HEADROOM * parameter_count * sum(BYTES_PER_PARAM.get(p, 2.0) for p in precisions)


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
    label: str
    record: dict[str, Any]
    runner: Runner | None  # None once skipped


def run_interleaved(
    ctx: Any, source: ModelSource, todo: dict[str, list[int]], counter: Callable[[], list[float]] | None, sampler: Any
) -> list[dict[str, Any]]:
    """Measure every (precision, batch) in ``todo``; ``ctx`` carries cfg, hooks, events, checkpoint, corpus."""
    cfg, hooks, events = ctx.cfg, ctx.hooks, ctx.events
    entries: list[Entry] = []
    loaded_models = []
    skipped: list[dict[str, Any]] = []
    for precision, batches in todo.items():
        try:
            loaded = source.load(precision)
        except Exception as exc:
            if not records.is_oom(exc):
                raise
            reason = f"out of memory while loading next to the other precisions: {records.oom_text(exc)}"
            for batch in batches:
                m = records.measurement(
                    None, source, precision, batch, weights=cfg.weights, cache=cfg.cache, attn="not loaded"
                )
                skipped.append(records.mark_skipped(m, reason))
            unload(None)
            continue
        loaded_models.append(loaded)
        measured_quality = quality.perplexity(loaded.model, loaded.tokenizer, ctx.corpus) if ctx.corpus else None
        for batch in batches:
            m = records.measurement(
                loaded, source, precision, batch, weights=cfg.weights, cache=cfg.cache, attn=loaded.attn_implementation
            )
            m["quality"] = measured_quality
            gen = hooks.generator(loaded.model, ctx.prompt, batch, cfg.output_tokens, cfg.cache)
            runner = Runner(gen, sampler, counter, cfg.plan, hooks.clock, events.trial_done)
            entries.append(Entry(records.label(precision, batch), m, runner))
    for m in skipped:
        ctx.checkpoint.add(m)
    if not entries:
        return skipped
    first = entries[0].runner
    assert first is not None
    idle_probe = Runner(first.workload, sampler, counter, cfg.plan, hooks.clock)  # idle windows only
    idle_before = idle_probe.idle_power_w()  # one baseline before for all: the GPU is idle between them alike
    total = len(entries)
    for i, e in enumerate(entries):
        events.config_started(e.label, i + 1, total)
        _guarded(e, lambda r: r.warm_up())
    active = [e for e in entries if e.runner is not None]
    out = list(skipped)
    out += _close([e for e in entries if e.runner is None], None, ctx)
    rounds = 0
    while active:
        shift = rounds % len(active)  # rotate who goes first, so no configuration always follows another
        finished = []
        for e in active[shift:] + active[:shift]:
            events.config_started(e.label, entries.index(e) + 1, total)
            if _guarded(e, lambda r: r.step()):
                finished.append(e)
        active = [e for e in active if e not in finished]
        rounds += 1
        if finished:  # their idle-after window, then the checkpoint: an interrupt keeps them
            idle = None
            if any(e.runner is not None for e in finished):
                idle = {"power_before_w": idle_before, "power_after_w": idle_probe.idle_power_w()}
            out += _close(finished, idle, ctx)
    for loaded in loaded_models:
        unload(loaded)
    return out


def _close(entries: list[Entry], idle: dict[str, float | None] | None, ctx: Any) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        if e.runner is not None and idle is not None:
            result = e.runner.result(dict(idle))
            e.record.update(finish(result, ctx.cfg.plan))
            e.record["notes"] = e.record["notes"] + result.notes
            ctx.events.config_done(e.label, e.record, result.elapsed_s)
        ctx.checkpoint.add(e.record)
        out.append(e.record)
    return out


def _guarded(entry: Entry, action: Callable[[Runner], bool | None]) -> bool:
    """Run one step of a configuration; out of memory skips that configuration alone."""
    assert entry.runner is not None
    try:
        return bool(action(entry.runner))
    except Exception as exc:
        if not records.is_oom(exc):
            raise
        batch = entry.record["batch_size"]
        records.mark_skipped(entry.record, f"out of memory at batch {batch}: {records.oom_text(exc)}")
        entry.runner = None
        unload(None)
        return True
