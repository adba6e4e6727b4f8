"""Precisions within one file: LLM.int8() decodes no faster than the same int8 weights without its outlier
decomposition, and never from a CUDA graph."""

from __future__ import annotations

from ecocompute import catalogue
from ecocompute.domain import Submission

from .findings import Finding, make

# int8 and int8-pure load the same int8 weights (bitsandbytes Linear8bitLt) and differ only in the outlier
# threshold: 6 against 0. At a threshold above 0 bitsandbytes does strictly more in every linear layer
# (bitsandbytes/backends/cuda/ops.py int8_vectorwise_quant: A.abs() >= threshold, then outliers.any(), which
# waits for the GPU, and argwhere; MatMul8bitLt then multiplies any outlier columns in fp16 besides the int8
# matmul both run). So within one file, for the same model, weights, engine and batch, an int8 row decodes at
# most as many tokens a second as its int8-pure row; 10 % covers two rows' noise, as for
# physics.batch_throughput (a large batch, whose matmuls dwarf the outlier scan, may honestly come close).
# The real files' int8 decodes 0.56-0.73 x its int8-pure (Mistral-7B on an H100, generate() and its static
# cache at batch 1 and 8; Qwen2.5-0.5B on generate() at batch 64 and 256, where the scan is smallest beside the
# matmuls: 0.73 and 0.56; on an H200, Qwen2.5-0.5B at batch 1 and 8: 0.72 and 0.57; ten pairs, all gate_failed),
# so 1.1 leaves 1.5 x. LLM.int8() cannot be captured
# in a CUDA graph (the sync), so no cuda-graph row has a pair. Random weights have few outliers: trained
# weights only widen the gap (eco-collect's note on random int8 rows).
LLM_INT8, INT8_PURE = "int8", "int8-pure"
INT8_OUTLIERS_SPEED_MAX = 1.1
# ... nor is an int8 row measured on the cuda-graph engine: the capture fails at that wait in every bitsandbytes
# eco-collect runs (from 0.44: double_quant's nnz .item(); from 0.45: int8_vectorwise_quant's outliers.any()), and
# eco-collect writes the row skipped ("CUDA graph capture failed", the real files' four int8 cuda-graph rows). An
# int8 row relabelled cuda-graph, with a token check written by hand, left int8_outliers without an int8-pure row
# of its engine and passed (attack v18).


def check(sub: Submission, file: str) -> list[Finding]:
    """Each int8 row's throughput against the slowest int8-pure row of its model, weights, engine and batch."""
    pure: dict[tuple[str, str, str, int], tuple[float, int]] = {}  # -> (tok/s, row)
    mixed: list[tuple[tuple[str, str, str, int], float, int]] = []
    for i, m in enumerate(sub.measurements):
        # a row that claims no throughput is physics.throughput's to name, and no yardstick here
        tok_s = m.summary.throughput_tok_s_mean if m.summary else 0.0
        if tok_s <= 0 or m.precision not in (LLM_INT8, INT8_PURE):
            continue
        key = (m.model.id, m.model.weights, m.engine.name, m.batch_size)
        if m.precision == LLM_INT8:
            mixed.append((key, tok_s, i))
        elif key not in pure or tok_s < pure[key][0]:
            pure[key] = (tok_s, i)
    out = _captured(sub, file)
    for key, tok_s, i in mixed:
        if key in pure and tok_s > INT8_OUTLIERS_SPEED_MAX * pure[key][0]:
            base, j = pure[key]
            out.append(
                make(
                    "physics.int8_outliers",
                    file,
                    f"/measurements/{i}/summary/throughput_tok_s_mean",
                    f"int8 (LLM.int8(), outlier threshold 6) decodes {tok_s:.1f} tok/s, {tok_s / base:.2f} x the "
                    f"{base:.1f} tok/s of int8-pure (threshold 0) at batch {key[3]} (/measurements/{j}: same model, "
                    f"weights and engine); at most {INT8_OUTLIERS_SPEED_MAX} x: the outlier decomposition adds a scan "
                    "of the activations and a wait for the GPU to every linear layer of the same int8 weights",
                )
            )
    return out


def _captured(sub: Submission, file: str) -> list[Finding]:
    """LLM.int8() rows that claim to have been replayed from a CUDA graph."""
    return [
        make(
            "physics.int8_outliers",
            file,
            f"/measurements/{i}/engine/name",
            f"int8 (LLM.int8(), outlier threshold 6) measured on engine {m.engine.name}, which replays a captured "
            "CUDA graph: the outlier decomposition waits for the GPU in every linear layer, which no capture can "
            "hold (eco-collect writes such a row skipped: CUDA graph capture failed)",
        )
        for i, m in enumerate(sub.measurements)
        if m.precision == LLM_INT8
        and not m.is_skipped
        and (m.engine.cuda_graph or catalogue.engine_flag(m.engine.name, "cuda_graph"))
    ]
