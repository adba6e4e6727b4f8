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

Faster than the fastest (attack v22 B1): an H200 file relabelled as an H100 (name, memory size and clock,
vbios, a fresh board hash; its numbers untouched) sits inside the H100's bounds, since the two share their
compute peak, clocks, power limit and idle, and an H200's decode reads under 0.85 of an H100's bandwidth. Its
fp16 Qwen2.5-32B batch-1 row was 1.29x the fastest accepted H100 row of that configuration, inside the
median's 1.5x. So a row whose throughput exceeds FASTEST_FACTOR x the fastest accepted row of its
configuration is named too, against one accepted row or more. Margin (leave-one-out over the real files:
each file's rows against the others'): no passing row exceeds 1.04x the fastest other session's row of its
configuration (184 rows compared, all cuda-graph); the real H200 rows read 1.02-1.29x the fastest H100 row of
theirs, 8 of them beyond 1.2x (in 6 of 25 files: fp16 rows of large models, where memory bandwidth sets the
pace). Host-paced engines (catalogue EngineSpec.host_paced) are not held to it: the host CPU sets their pace,
which drifts up to 1.7x between runs of one VM, and their real rows never pass their gates.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, NamedTuple, get_type_hints

from ecocompute import catalogue, domain

from .findings import Finding, make

OUTLIER_FACTOR = 1.5
MIN_REFERENCE_ROWS = 2  # the median of fewer is one session's word
# Net energy magnifies idle power: where it is a small share of gross (22 % in some real rows), an honest
# host idling 10 % above ours moves it past any factor. It is compared where it is at least this share of
# gross energy (the row's own): below, gross energy and idle power speak for it (review 23).
NET_SHARE_MIN = 0.5
FASTEST_FACTOR = 1.2
REAL_FASTEST_SPREAD = 1.04  # the module's docstring: the real files' worst, leave-one-out, which the message quotes


class Quantities(NamedTuple):
    """A passing row's compared quantities, in the order compared, by their summary names; each field's
    annotation also says what a message calls it (QUANTITIES reads it), so a name lives in one place."""

    energy_per_token_j_mean: Annotated[float, "energy per token"]
    net_energy_per_token_j_mean: Annotated[float, "net energy per token"]
    throughput_tok_s_mean: Annotated[float, "throughput"]
    idle_power_w: Annotated[float, "idle power"]


# what is compared, in the order compared: (the summary's field, what the message calls it)
QUANTITIES: tuple[tuple[str, str], ...] = tuple(
    (name, hint.__metadata__[0]) for name, hint in get_type_hints(Quantities, include_extras=True).items()
)


class Configuration(NamedTuple):
    """What a row is compared within: the board, the model and its weights, precision, engine, batch size and
    the workload (the tokens generated and the prompt's length)."""

    gpu: str
    gpu_count: int
    model_id: str
    weights: str
    precision: str
    engine: str
    batch_size: int
    output_tokens: int
    prompt_tokens: int


@dataclass(frozen=True)
class Level:
    """One passing row's configuration and the quantities compared."""

    key: Configuration
    index: int  # the measurement's position in its file
    values: Quantities


def levels(sub: domain.Submission) -> tuple[Level, ...]:
    """The rows of ``sub`` that passed their gates, keyed by their configuration on the GPU model: the
    board's name and count, the model and its weights, precision, engine, batch size and workload (the
    tokens generated and the prompt's length: a seeded prompt of another seed, its own hash, costs the
    same, and keyed by hash it made a configuration of its own that nothing was compared with)."""
    gpu, proto = sub.environment.gpu, sub.protocol
    out = []
    for i, m in enumerate(sub.measurements):
        s = m.summary
        if m.status != catalogue.STATUS_OK or s is None:
            continue
        values = Quantities(**{name: float(getattr(s, name)) for name in Quantities._fields})
        if not all(math.isfinite(v) and v > 0 for v in values):
            continue  # the per-file checks judge such a row; a ratio to it says nothing
        key = Configuration(
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


@dataclass(frozen=True)
class Fastest:
    """The fastest accepted row of a configuration: its throughput and where it is."""

    throughput_tok_s: float
    path: str
    index: int


def findings(
    path: str,
    mine: Sequence[Level],
    reference: dict[Configuration, list[Quantities]],
    fastest: dict[Configuration, Fastest] | None = None,
) -> list[Finding]:
    """``history.outlier`` for each of ``mine`` with a quantity beyond OUTLIER_FACTOR of the median of
    at least MIN_REFERENCE_ROWS accepted rows of its configuration (the first such quantity), else with a
    throughput beyond FASTEST_FACTOR x the ``fastest`` accepted row of its configuration (one a row)."""
    out = []
    for level in mine:
        rows = reference.get(level.key, [])
        named = _beyond_median(path, level, rows) if len(rows) >= MIN_REFERENCE_ROWS else None
        named = named or _beyond_fastest(path, level, (fastest or {}).get(level.key))
        if named is not None:
            out.append(named)
    return out


def _beyond_median(path: str, level: Level, rows: list[Quantities]) -> Finding | None:
    """The first quantity of ``level`` beyond OUTLIER_FACTOR of the median of ``rows``, if any."""
    mine = level.values
    small_net = mine.net_energy_per_token_j_mean < NET_SHARE_MIN * mine.energy_per_token_j_mean
    for name, said in QUANTITIES:
        if small_net and name == "net_energy_per_token_j_mean":
            continue
        others = [getattr(r, name) for r in rows]
        median = statistics.median(others)
        value = getattr(mine, name)
        ratio = value / median
        if abs(math.log(ratio)) <= math.log(OUTLIER_FACTOR):
            continue
        return make(
            "history.outlier",
            path,
            f"/measurements/{level.index}/summary/{name}",
            f"{said} {value:.4g} is {ratio:.2f} x the median ({median:.4g}) of the {len(rows)} accepted "
            f"rows of this configuration on the {level.key.gpu} (they span {min(others):.4g}-{max(others):.4g})",
        )
    return None


def _beyond_fastest(path: str, level: Level, fastest: Fastest | None) -> Finding | None:
    """``level``'s throughput where it exceeds FASTEST_FACTOR x the ``fastest`` accepted row's."""
    tok_s = level.values.throughput_tok_s_mean
    if fastest is None or tok_s <= FASTEST_FACTOR * fastest.throughput_tok_s:
        return None
    return make(
        "history.outlier",
        path,
        f"/measurements/{level.index}/summary/throughput_tok_s_mean",
        f"throughput {tok_s:.4g} tok/s is {tok_s / fastest.throughput_tok_s:.2f} x the fastest accepted row of this "
        f"configuration on the {level.key.gpu} ({fastest.throughput_tok_s:.4g} tok/s, {fastest.path} measurement "
        f"{fastest.index}; real sessions differ by at most {REAL_FASTEST_SPREAD} x): check that the board is the GPU it names (a "
        "faster board relabelled, e.g. an H200 as an H100, reads so) and ask what differs (driver, CUDA, torch, "
        "clocks) and for the run's log and nvidia-smi -q",
    )


def reference_of(accepted: Sequence[Sequence[Level]]) -> dict[Configuration, list[Quantities]]:
    """The accepted rows' quantities by configuration."""
    out: dict[Configuration, list[Quantities]] = defaultdict(list)
    for file_levels in accepted:
        for level in file_levels:
            out[level.key].append(level.values)
    return out


def fastest_of(accepted: Sequence[tuple[str, Sequence[Level]]]) -> dict[Configuration, Fastest]:
    """The fastest accepted row of each configuration whose engine is not host-paced, from (path, rows)
    pairs: one pass over the pool."""
    out: dict[Configuration, Fastest] = {}
    for path, file_levels in accepted:
        for level in file_levels:
            if catalogue.engine_flag(level.key.engine, "host_paced"):
                continue
            best, tok_s = out.get(level.key), level.values.throughput_tok_s_mean
            if best is None or tok_s > best.throughput_tok_s:
                out[level.key] = Fastest(tok_s, path, level.index)
    return out
