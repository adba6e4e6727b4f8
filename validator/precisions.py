"""Precisions within one file: LLM.int8() decodes no faster than the same int8 weights without its outlier
decomposition, and never from a CUDA graph; twin precisions, measured together, decode at one speed."""

from __future__ import annotations

import statistics

from ecocompute import catalogue
from ecocompute.domain import Measurement, Submission

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


# Twin precisions run the same kernels on the same bytes: bf16 and fp16 (no board's bf16 tensor peak exceeds its
# fp16 one; before Ampere bf16 is emulated, slower), fp4 and nf4 (one bitsandbytes kernel, another 16-value
# table), nf4-dq and nf4 (nf4's work plus dequantising the absmax). (row, its twin, lowest and highest ratio of
# their speeds; None: no bound.) Judged only where the two rows' trials alternate trial by trial (an interleaved
# run; ``_neighbour_ratios``, a finer test than ``groups.alternate``'s overlapping spans):
# each trial of the row against the twin's trial next to it in time, the median of those ratios, so a slow
# phase of the host hits both alike (a sequential run's rows may honestly differ more on a host-bound engine).
# The real files' alternating twins (all cuda-graph, H100 and H200): bf16/fp16 0.982-1.006 (11 pairs), fp4/nf4
# 0.959-1.009 (28), nf4-dq/nf4 0.945-1.000 (4); one trial's ratio 0.94-1.07. 1.25 leaves 24 % (attack v27 N2:
# a bf16 row 1.6 x its fp16 twin passed).
TWIN_SPEED_MAX = 1.25
TWINS = (("bf16", "fp16", None, TWIN_SPEED_MAX), ("fp4", "nf4", 1 / TWIN_SPEED_MAX, TWIN_SPEED_MAX))
TWINS += (("nf4-dq", "nf4", None, TWIN_SPEED_MAX),)
MIN_TWIN_PAIRS = 5  # the gate window's least: a sequential run's two rows touch at one trial only


def check(sub: Submission, file: str) -> list[Finding]:
    """Each int8 row's throughput against the slowest int8-pure row of its model, weights, engine and batch;
    twin precisions against each other (``_twins``)."""
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
    out = _captured(sub, file) + _twins(sub, file)
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


def _twins(sub: Submission, file: str) -> list[Finding]:
    """Each twin row (TWINS) against its twin of the same model, weights, engine, batch and placement, where
    their trials after warm-up alternate in time: the median ratio of adjacent trials' speeds within bounds."""
    rows = {}
    for i, m in enumerate(sub.measurements):
        if m.trials and not m.is_skipped:
            p = m.placement
            where = (p.strategy, tuple(sorted((str(k), str(v)) for k, v in p.device_map.items()))) if p else None
            rows[(m.model.id, m.model.weights, m.engine.name, m.batch_size, where, m.precision)] = i
    out = []
    for key, i in rows.items():
        for precision, twin, low, high in TWINS:
            j = rows.get((*key[:-1], twin))
            if key[-1] != precision or j is None:
                continue
            ratios = _neighbour_ratios(sub.measurements[i], sub.measurements[j])
            if len(ratios) < MIN_TWIN_PAIRS:
                continue
            ratio = statistics.median(ratios)
            if (high is not None and ratio > high) or (low is not None and ratio < low):
                bound = f"{low:.2f}-{high:.2f} x" if low is not None else f"at most {high:.2f} x"
                out.append(
                    make(
                        "physics.precision_twins",
                        file,
                        f"/measurements/{i}/trials",
                        f"{precision} decodes {ratio:.2f} x as fast as {twin} (/measurements/{j}: same model, weights, "
                        f"engine, batch and placement; the median over {len(ratios)} of its trials of the speed "
                        f"against the {twin} trial next to it in time); {bound}: the two run the same kernels on "
                        "the same bytes, measured together",
                    )
                )
    return out


def _neighbour_ratios(m: Measurement, twin: Measurement) -> list[float]:
    """For each trial of ``m`` after warm-up next to one of ``twin`` in their merged time order, its speed
    (tokens a second) over that trial's (the nearer in time, if both neighbours are).

    Two rows "alternate" here when at least MIN_TWIN_PAIRS of these neighbours exist: trial by trial. That is
    not ``groups.alternate``, which asks only whether two rows' spans of time overlap (the grouping of rows
    measured together, for their shared idle windows and eco-collect's label of a resumed run): rows whose spans
    overlap may touch at a trial or two, too few pairs to compare speeds; rows with five neighbours always
    overlap. One concept at two grains, each the one its rule needs (review38 F7): not merged."""
    merged = sorted(
        (t.started_at_s, t.generated_tokens / t.duration_s, who)
        for who, row in ((0, m), (1, twin))
        for t in row.trials
        if not t.is_warmup and t.started_at_s is not None and t.duration_s > 0
    )
    out = []
    for k, (start, speed, who) in enumerate(merged):
        near = [merged[n] for n in (k - 1, k + 1) if who == 0 and 0 <= n < len(merged) and merged[n][2] == 1]
        if near and (other := min(near, key=lambda x: abs(x[0] - start))[1]) > 0:
            out.append(speed / other)
    return out
