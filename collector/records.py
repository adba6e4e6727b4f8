"""Measurement records shared by the sequential and interleaved schedules."""

from __future__ import annotations

from typing import Any

from .models import LoadedModel, ModelSource

RANDOM_INT8_NOTE = (
    "random-initialised weights have few activation outliers, so the mixed-precision cost of "
    "LLM.int8() (threshold 6.0) is under-stated compared with trained weights"
)


def label(precision: str, batch: int) -> str:
    return f"{precision} bs={batch}"


def measurement(
    loaded: LoadedModel | None,
    source: ModelSource,
    precision: str,
    batch: int,
    *,
    weights: str,
    cache: str,
    attn: str,
) -> dict[str, Any]:
    notes = [RANDOM_INT8_NOTE] if weights == "random" and precision == "int8" else []
    return {
        "model": loaded.info if loaded else source.describe(),
        "precision": precision,
        "quantization": loaded.quantization if loaded else source.quantization(precision),
        "engine": {"cache_implementation": cache, "compiled": cache == "static", "attn_implementation": attn},
        "batch_size": batch,
        "quality": None,
        "notes": notes,
    }


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
