"""One configuration's record and runner: the pieces the sequential and interleaved schedules share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import quality
from .models import LoadedModel, ModelSource, unload
from .trials import ConfigResult, Runner, finish

RANDOM_INT8_NOTE = (
    "random-initialised weights have few activation outliers, so the mixed-precision cost of "
    "LLM.int8() (threshold 6.0) is under-stated compared with trained weights"
)


@dataclass
class Context:
    """What a schedule needs; cfg, hooks, events and checkpoint are sweep's (typed loosely: sweep imports this)."""

    cfg: Any
    hooks: Any
    events: Any
    checkpoint: Any
    prompt: Any
    corpus: Any
    source: ModelSource
    counter: Callable[[], list[float]] | None
    sampler: Any
    total: int


def label(precision: str, batch: int) -> str:
    return f"{precision} bs={batch}"


def measurement(
    ctx: Context, loaded: LoadedModel | None, precision: str, batch: int, measured_quality: Any = None
) -> dict[str, Any]:
    """The configuration's record; ``complete`` or ``mark_skipped`` fills in the rest."""
    cfg, source = ctx.cfg, ctx.source
    notes = [RANDOM_INT8_NOTE] if cfg.weights == "random" and precision == "int8" else []
    attn = loaded.attn_implementation if loaded else "not loaded"
    return {
        "model": loaded.info if loaded else source.describe(),
        "precision": precision,
        "quantization": loaded.quantization if loaded else source.quantization(precision),
        "engine": {"cache_implementation": cfg.cache, "compiled": cfg.cache == "static", "attn_implementation": attn},
        "batch_size": batch,
        "quality": measured_quality,
        "notes": notes,
    }


def load(
    ctx: Context, precision: str, batches: list[int], why: str = ""
) -> tuple[LoadedModel | None, list[dict[str, Any]]]:
    """The precision's model; or, when it does not fit, its configurations as skipped (and checkpointed)."""
    try:
        return ctx.source.load(precision), []
    except Exception as exc:
        if not is_oom(exc):
            raise
        skipped = []
        for batch in batches:
            m = mark_skipped(
                measurement(ctx, None, precision, batch), f"out of memory while loading{why}: {oom_text(exc)}"
            )
            ctx.checkpoint.add(m)
            skipped.append(m)
        unload(None)
        return None, skipped


def perplexity(ctx: Context, loaded: LoadedModel) -> dict[str, Any] | None:
    return quality.perplexity(loaded.model, loaded.tokenizer, ctx.corpus) if ctx.corpus else None


def runner(ctx: Context, loaded: LoadedModel, m: dict[str, Any]) -> Runner:
    """The runner that measures record ``m`` with ``loaded``."""
    cfg, hooks = ctx.cfg, ctx.hooks
    gen = hooks.generator(loaded.model, ctx.prompt, m["batch_size"], cfg.output_tokens, cfg.cache)
    return Runner(gen, ctx.sampler, ctx.counter, cfg.plan, hooks.clock, ctx.events.trial_done)


def complete(ctx: Context, m: dict[str, Any], result: ConfigResult) -> None:
    m.update(finish(result, ctx.cfg.plan))
    m["notes"] = m["notes"] + result.notes
    ctx.events.config_done(label(m["precision"], m["batch_size"]), m, result.elapsed_s)


def skip_for_oom(m: dict[str, Any], exc: BaseException) -> None:
    mark_skipped(m, f"out of memory at batch {m['batch_size']}: {oom_text(exc)}")
    unload(None)


def mark_skipped(m: dict[str, Any], reason: str) -> dict[str, Any]:
    m.update(status="skipped", skip_reason=reason, idle=None, trials=[], summary=None, gate=None)
    return m


def is_oom(exc: BaseException) -> bool:
    try:
        import torch

        return isinstance(exc, torch.cuda.OutOfMemoryError)
    except ImportError:
        return False


def oom_text(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
