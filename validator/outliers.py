"""A file's rows against the accepted rows of the same configuration on the same GPU model
(``history.outlier``, a warning for the maintainer who reviews the pull request).

Why: a whole file scaled by one factor keeps every identity and every physical bound one file can be
held to. Attack v6 scaled a real H100 file's powers, energies and idle by 0.34-0.38 (2.7x "more
efficient"), or its clock by 0.25-0.46 (throughput 2-4x), and it passed: decoding sits far inside the
board's energy, compute and bandwidth bounds. What is left is what other boards of that model measured.

Why a warning: an honest board may differ (a lower power limit, another driver or host), and the first
file of a configuration must not be refused on the word of whoever submitted before it. The reference
is the accepted files only (in CI the repository's submissions/, never the pull request's own files),
so that a pull request cannot bring its own majority.

Margin: across the real files, a row's gross and net energy per token, throughput and idle power lie
within 1.11x of the median of the other sessions' rows of its configuration (22 configurations measured
in 2-5 sessions on H100 and H200 boards); a row is named beyond OUTLIER_FACTOR = 1.5x.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ecocompute import domain

from .findings import Finding, make

OUTLIER_FACTOR = 1.5
MIN_REFERENCE_ROWS = 2  # the median of fewer is one session's word
# Net energy magnifies idle power: where it is a small share of gross (22 % in some real rows), an honest
# host idling 10 % above ours moves it past any factor. It is compared where it is at least this share of
# gross energy (the row's own): below, gross energy and idle power speak for it (review 23).
NET_SHARE_MIN = 0.5
_NET = 1  # QUANTITIES' index of net energy per token
# what is compared, as the row's summary names it: (field, what the message calls it)
QUANTITIES = (
    ("energy_per_token_j_mean", "energy per token"),
    ("net_energy_per_token_j_mean", "net energy per token"),
    ("throughput_tok_s_mean", "throughput"),
    ("idle_power_w", "idle power"),
)


@dataclass(frozen=True)
class Level:
    """One passing row's configuration and the quantities compared (in QUANTITIES' order)."""

    key: tuple[object, ...]
    index: int  # the measurement's position in its file
    values: tuple[float, ...]


def levels(sub: domain.Submission) -> tuple[Level, ...]:
    """The rows of ``sub`` that passed their gates, keyed by their configuration on the GPU model: the
    board's name and count, the model and its weights, precision, engine, batch size and workload (the
    tokens generated and the prompt's length: a seeded prompt of another seed, its own hash, costs the
    same, and keyed by hash it made a configuration of its own that nothing was compared with)."""
    gpu, proto = sub.environment.gpu, sub.protocol
    out = []
    for i, m in enumerate(sub.measurements):
        s = m.summary
        if m.status != "ok" or s is None:
            continue
        values = tuple(float(getattr(s, name)) for name, _ in QUANTITIES)
        if not all(math.isfinite(v) and v > 0 for v in values):
            continue  # the per-file checks judge such a row; a ratio to it says nothing
        key = (
            gpu.name,
            gpu.count,
            m.model.id,
            m.model.weights,
            m.precision,
            m.engine.name,
            m.batch_size,
            proto.output_tokens,
            proto.prompt_tokens,  # not the prompt's hash: another seed of random ids costs the same
        )
        out.append(Level(key, i, values))
    return tuple(out)


def findings(
    path: str, mine: Sequence[Level], reference: dict[tuple[object, ...], list[tuple[float, ...]]]
) -> list[Finding]:
    """``history.outlier`` for each of ``mine`` with a quantity beyond OUTLIER_FACTOR of the median of
    at least MIN_REFERENCE_ROWS accepted rows of its configuration (the first such quantity)."""
    out = []
    for level in mine:
        rows = reference.get(level.key, [])
        if len(rows) < MIN_REFERENCE_ROWS:
            continue
        for q, (name, said) in enumerate(QUANTITIES):
            if q == _NET and level.values[_NET] < NET_SHARE_MIN * level.values[0]:
                continue
            others = [r[q] for r in rows]
            median = statistics.median(others)
            ratio = level.values[q] / median
            if abs(math.log(ratio)) <= math.log(OUTLIER_FACTOR):
                continue
            out.append(
                make(
                    "history.outlier",
                    path,
                    f"/measurements/{level.index}/summary/{name}",
                    f"{said} {level.values[q]:.4g} is {ratio:.2f} x the median ({median:.4g}) of the {len(rows)} accepted "
                    f"rows of this configuration on the {level.key[0]} (they span {min(others):.4g}-{max(others):.4g})",
                )
            )
            break
    return out


def reference_of(accepted: Sequence[Sequence[Level]]) -> dict[tuple[object, ...], list[tuple[float, ...]]]:
    """The accepted rows' quantities by configuration."""
    out: dict[tuple[object, ...], list[tuple[float, ...]]] = defaultdict(list)
    for file_levels in accepted:
        for level in file_levels:
            out[level.key].append(level.values)
    return out
