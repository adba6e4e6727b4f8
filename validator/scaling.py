"""Batch scaling within one file: a decode step of more sequences is never much faster per sequence."""

from __future__ import annotations

from itertools import groupby

from ecocompute.domain import Submission

from .findings import Finding, make

# A decode step of more sequences reads the same weights and does more arithmetic and KV reads, so it
# is never much shorter than a step of fewer: within one file, for the same model, weights, precision
# and engine, each sequence of a larger batch decodes at most twice as fast as at a smaller batch. The
# real files' largest speed-up is 1.42 (fp16 generate() at batch 8 against batch 1 on an H100: the
# host's per-step overhead, which a batch shares).
BATCH_SPEEDUP_MAX = 2.0


def check(sub: Submission, file: str) -> list[Finding]:
    """Each row's per-sequence throughput against the slowest of its group at any smaller batch (a
    sort of each group by batch, then one pass)."""
    groups: dict[tuple[str, str, str, str], list[tuple[int, float, int]]] = {}
    for i, m in enumerate(sub.measurements):
        # a row that claims no throughput is physics.throughput's to name, and no yardstick here
        if m.summary is not None and m.batch_size > 0 and m.summary.throughput_tok_s_mean > 0:
            key = (m.model.id, m.model.weights, m.precision, m.engine.name)
            groups.setdefault(key, []).append((m.batch_size, m.summary.throughput_tok_s_mean / m.batch_size, i))
    out: list[Finding] = []
    for rows in groups.values():
        rows.sort()
        slowest: tuple[float, int, int] | None = None  # (per-sequence tok/s, batch, row) below this batch
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
            least = min(block, key=lambda r: r[1])
            if slowest is None or least[1] < slowest[0]:
                slowest = (least[1], least[0], least[2])
    return out
