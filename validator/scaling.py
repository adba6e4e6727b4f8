"""Batch scaling within one file: a decode step of more sequences is never much faster per sequence,
nor slower in all than the smaller batches it holds."""

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


def check(sub: Submission, file: str) -> list[Finding]:
    """Each row's per-sequence throughput against the slowest of its group at any smaller batch, and its
    throughput in all against the fastest smaller batch of at most BATCH_THROUGHPUT_YARDSTICK_MAX (a sort
    of each group by batch, then one pass)."""
    groups: dict[tuple[str, str, str, str], list[tuple[int, float, int]]] = {}
    for i, m in enumerate(sub.measurements):
        # a row that claims no throughput is physics.throughput's to name, and no yardstick here; nor one
        # whose tok/s a sequence underflows to 0.0 (5e-324 at batch 2), which the messages divided by
        per_sequence = m.summary.throughput_tok_s_mean / m.batch_size if m.summary and m.batch_size > 0 else 0.0
        if per_sequence > 0:
            key = (m.model.id, m.model.weights, m.precision, m.engine.name)
            groups.setdefault(key, []).append((m.batch_size, per_sequence, i))
    out: list[Finding] = []
    for (_, _, label, _), rows in groups.items():
        rows.sort()
        precision = catalogue.PRECISIONS.get(label)
        single_token_kernel = precision is not None and precision.four_bit  # its batch 1 is no yardstick in all
        slowest: tuple[float, int, int] | None = None  # (per-sequence tok/s, batch, row) below this batch
        fastest: tuple[float, int, int] | None = None  # (tok/s in all, batch, row) below this batch
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
            least = min(block, key=lambda r: r[1])
            if slowest is None or least[1] < slowest[0]:
                slowest = (least[1], least[0], least[2])
            most = max(block, key=lambda r: r[0] * r[1])
            yardstick = most[0] <= BATCH_THROUGHPUT_YARDSTICK_MAX and not (single_token_kernel and most[0] == 1)
            if yardstick and (fastest is None or most[0] * most[1] > fastest[0]):
                fastest = (most[0] * most[1], most[0], most[2])
    return out
