"""Batch scaling within one file: a decode step of more sequences is never much faster per sequence,
nor slower in all than the smaller batches it holds, nor does it leave the board much less busy."""

from __future__ import annotations

from itertools import groupby

from ecocompute import catalogue
from ecocompute.domain import Submission

from .findings import Finding, make

# A decode step of more sequences reads the same weights and does more arithmetic and KV reads, so it
# is never much shorter than a step of fewer: within one file, for the same model, weights, precision
# and engine, each sequence of a larger batch decodes at most twice as fast as at a smaller batch. The
# real files' largest speed-up is 1.42 (fp16 generate() at batch 8 against batch 1 on an H100: the
# host's per-step overhead, which a batch shares).
BATCH_SPEEDUP_MAX = 2.0
# ... nor longer than the smaller batches it holds run one after another: a larger batch decodes at least
# as many tokens a second in all (the same weights read once for every sequence). 10 % covers two rows'
# noise (the gates hold each row's throughput CV under 2 %; a row that failed them is noisier). The real
# files' smallest gain is 1.83 x (fp16 generate() at batch 128 against 64), 6.18 x from batch 1 to 8 at
# 16 and 8 bits; a batch 8 made 8 x slower per request (2.16 J a token against batch 1's 1.85) passed.
# Exempt: bitsandbytes 4-bit against batch 1. bitsandbytes multiplies a single token's activations with
# its own 4-bit kernel (bitsandbytes/autograd/_functions.py matmul_4bit: gemv_4bit when A.numel() ==
# A.shape[-1]) and any more tokens by dequantizing every weight first, so its batch 2 may decode fewer
# tokens a second than its batch 1 (the real files' 4-bit batch 8 gains only 2.85-6.3 x on batch 1).
BATCH_THROUGHPUT_MIN = 0.9
# Only batches up to 8 are yardsticks in all: their decode step is bound by reading the weights on every
# GPU, so a larger batch can only add tokens per step. Beyond that a step may be bound by arithmetic
# (fp32 without tensor cores, a consumer board at batch 64 and more), where batch 128 decodes about as
# fast as batch 64 and two rows' noise, or a KV cache filling the board, decides which reads faster
# (review 26). Batch 32 or 128 against batch 8 keeps a margin of 4 or 16 steps.
BATCH_THROUGHPUT_YARDSTICK_MAX = 8
# ... and a larger batch draws at least 0.8 x the power of the hungriest of those smaller batches: up to
# batch 8 a step reads the same weights in about the same time, and a step of more sequences adds reads
# and arithmetic to the same kernels, so the board is no less busy (the host's share of a step, which a
# batch shares, only shrinks). Within one engine only: generate()'s host overhead is another engine's
# busy board. The real files' widest drop, over all 175 pairs of batches of one file, is 0.978 x (fp16
# generate() at batch 8 against batch 1, Qwen2.5-14B on an H100; cuda-graph: 1.000), so 0.8 leaves 1.22 x
# for a board throttled, hotter or cooler in one row than another. One row's power and energies scaled
# by 0.6 (0.62 x batch 1's draw, every reading consistent) passed (attack v14 U1). Gross power: above
# idle, a host-bound row's small load makes the ratio noise (the real files' net ratio reaches 0.74).
# generate()'s smaller batches are yardsticks for every engine too: the host paces its steps, and a step
# compiled or replayed from a graph leaves the board no less busy (the real files' cross-engine pairs, a
# captured batch 8 against generate()'s batch 1, draw 1.47 x or more). One row's power scaled by 0.6 and
# relabelled cuda-graph or generate-static, where no row of its engine was smaller, passed (attack v18 E2).
BATCH_POWER_MIN = 0.8


def check(sub: Submission, file: str) -> list[Finding]:
    """Each row's per-sequence throughput against the slowest of its group at any smaller batch, its
    throughput in all against the fastest smaller batch of at most BATCH_THROUGHPUT_YARDSTICK_MAX and its
    power against the hungriest such batch (a sort of each group by batch, then one pass)."""
    groups: dict[tuple[str, str, str, str], list[tuple[int, float, int]]] = {}
    for i, m in enumerate(sub.measurements):
        # a row that claims no throughput is physics.throughput's to name, and no yardstick here; nor one
        # whose tok/s a sequence underflows to 0.0 (5e-324 at batch 2), which the messages divided by
        per_sequence = m.summary.throughput_tok_s_mean / m.batch_size if m.summary and m.batch_size > 0 else 0.0
        if per_sequence > 0:
            key = (m.model.id, m.model.weights, m.precision, m.engine.name)
            groups.setdefault(key, []).append((m.batch_size, per_sequence, i))
    out: list[Finding] = []
    paced = {  # (model, weights, precision) -> generate()'s rows at a batch of at most 8: (batch, W, row)
        key[:3]: [(b, _watts(sub, j), j) for b, _, j in rows if b <= BATCH_THROUGHPUT_YARDSTICK_MAX]
        for key, rows in groups.items()
        if catalogue.engine_flag(key[3], "host_paced")
    }
    for (model, weights, label, engine), rows in groups.items():
        rows.sort()
        host_paced = [] if catalogue.engine_flag(engine, "host_paced") else paced.get((model, weights, label), [])
        precision = catalogue.PRECISIONS.get(label)
        single_token_kernel = precision is not None and precision.four_bit  # its batch 1 is no yardstick in all
        slowest: tuple[float, int, int] | None = None  # (per-sequence tok/s, batch, row) below this batch
        fastest: tuple[float, int, int] | None = None  # (tok/s in all, batch, row) below this batch
        hungriest: tuple[float, int, int] | None = None  # (W, batch, row) below this batch
        for _, same_batch in groupby(rows, key=lambda r: r[0]):
            block = list(same_batch)
            for batch, per_sequence, i in block:
                if slowest is not None and per_sequence > BATCH_SPEEDUP_MAX * slowest[0]:
                    out.append(
                        make(
                            "physics.batch_scaling",
                            file,
                            f"/measurements/{i}/summary/throughput_tok_s_mean",
                            f"batch {batch} decodes each sequence at {per_sequence:.1f} tok/s, {per_sequence / slowest[0]:.2f} x "
                            f"the {slowest[0]:.1f} tok/s of batch {slowest[1]} (/measurements/{slowest[2]}: same model, "
                            f"weights, precision and engine); at most {BATCH_SPEEDUP_MAX:.0f} x: a larger batch's decode "
                            "step reads the same weights and does more work",
                        )
                    )
                if fastest is not None and batch * per_sequence < BATCH_THROUGHPUT_MIN * fastest[0]:
                    out.append(
                        make(
                            "physics.batch_throughput",
                            file,
                            f"/measurements/{i}/summary/throughput_tok_s_mean",
                            f"batch {batch} decodes {batch * per_sequence:.1f} tok/s in all, {batch * per_sequence / fastest[0]:.2f} x "
                            f"the {fastest[0]:.1f} tok/s of batch {fastest[1]} (/measurements/{fastest[2]}: same model, "
                            f"weights, precision and engine); at least {BATCH_THROUGHPUT_MIN} x: a step of more sequences "
                            "takes no longer than the smaller batches run one after another",
                        )
                    )
                paced_below = max(((w, b, j) for b, w, j in host_paced if b < batch), default=None)
                out += _power(sub, file, batch, i, max(filter(None, (hungriest, paced_below)), default=None))
            least = min(block, key=lambda r: r[1])
            if slowest is None or least[1] < slowest[0]:
                slowest = (least[1], least[0], least[2])
            most = max(block, key=lambda r: r[0] * r[1])
            yardstick = most[0] <= BATCH_THROUGHPUT_YARDSTICK_MAX and not (single_token_kernel and most[0] == 1)
            if yardstick and (fastest is None or most[0] * most[1] > fastest[0]):
                fastest = (most[0] * most[1], most[0], most[2])
            if block[0][0] <= BATCH_THROUGHPUT_YARDSTICK_MAX:
                watts = max((_watts(sub, j), b, j) for b, _, j in block)
                if hungriest is None or watts[0] > hungriest[0]:
                    hungriest = watts
    return out


def _watts(sub: Submission, i: int) -> float:
    summary = sub.measurements[i].summary
    assert summary is not None  # rows without one are left out of the groups
    return summary.power_w_mean


def _power(sub: Submission, file: str, batch: int, i: int, hungriest: tuple[float, int, int] | None) -> list[Finding]:
    watts = _watts(sub, i)
    # a power of 0 or less is physics.power_range's to name, and no yardstick here
    if hungriest is None or hungriest[0] <= 0 or watts >= BATCH_POWER_MIN * hungriest[0]:
        return []
    row = sub.measurements[hungriest[2]]
    same = (
        "same model, weights, precision and engine"
        if row.engine.name == sub.measurements[i].engine.name
        else f"same model, weights and precision on {row.engine.name}, whose host paces the board"
    )
    return [
        make(
            "physics.batch_power",
            file,
            f"/measurements/{i}/summary/power_w_mean",
            f"batch {batch} draws {watts:.1f} W, {watts / hungriest[0]:.2f} x the {hungriest[0]:.1f} W of batch "
            f"{hungriest[1]} (/measurements/{hungriest[2]}: {same}); at least "
            f"{BATCH_POWER_MIN} x: a step of more sequences reads the same weights and does more work, so the "
            "board is no less busy",
        )
    ]
