"""From a built dataset to estimates: each precision's energy per token relative to fp16 (as the
``energy_vs_fp16`` column defines it: ``ecocompute.rows.FP16_KEY``) with its interval, one curve per
GPU, engine, batch size, workload and precision, a crossover fit per curve, and each measured
configuration's energy per token. Legacy rows get the same treatment in curves of their own.

Which rows feed estimates: those with status ``ok`` (and ``gate_failed`` too when asked); a ratio
needs both its row and its fp16 row admitted. The others are kept as points marked unused, so that
figures and tables can show them beside the estimates.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ecocompute import catalogue, rows
from ecocompute.names import L, M

from . import estimate
from .data import Dataset, DatasetError
from .estimate import CONFIDENCE, Crossover, Line, LogEstimate

VALIDATED, LEGACY = "validated", "legacy"
LEGACY_ENGINE = "legacy"  # the researcher's own transformers loop: never one of ours
BASIS_GROSS = "gross"  # energy_per_token_j is the board's whole energy (net_* columns subtract idle)
# energy_vs_fp16 is the build's quotient of the two rows' stored energies per token: recomputed from
# the same columns it differs by float noise only (the estimates below use the trials' means, which
# may differ from the stored ones by the validator's summary tolerance, twice over in a ratio).
RATIO_TOLERANCE = 1e-9


# Not frozen: a 100,000-row report builds about 90,000 of these, and a frozen dataclass's __init__ (object.__setattr__
# per field) costs 1.6 us against 0.4 us. Nothing assigns to one after construction; hashable by value
# as before (unsafe_hash costs construction nothing), as ecocompute.measurement.Trial.
@dataclass(slots=True, unsafe_hash=True)
class Point:
    """One row's energy per token relative to its fp16 row."""

    row_id: str  # measurement_id, or legacy_id for legacy rows
    reference_id: str  # the fp16 row's id
    source: str  # VALIDATED or LEGACY
    gpu_name: str
    model_id: str
    weights: str
    parameter_count: float
    precision: str
    engine: str
    batch_size: int
    output_tokens: int
    basis: str  # gross or net energy (legacy tables differ)
    status: str  # ok, gate_failed, or legacy
    reference_status: str
    ratio: LogEstimate
    used: bool  # feeds the curve's fit


@dataclass(frozen=True)
class Curve:
    source: str
    gpu_name: str
    engine: str
    batch_size: int
    output_tokens: int
    basis: str
    precision: str
    points: tuple[Point, ...]
    line: Line | None
    crossover: Crossover

    @property
    def used(self) -> tuple[Point, ...]:
        return tuple(p for p in self.points if p.used)


# Not frozen, as Point: a build whose rows are of many models holds a configuration a row or two (100,000
# rows, 100,000 configurations: 2.4 us each frozen, 0.5 us so).
@dataclass(slots=True, unsafe_hash=True)
class Config:
    """One measured configuration on one GPU model: its admitted measurements pooled."""

    gpu_name: str
    model_id: str
    weights: str
    parameter_count: int
    precision: str
    engine: str
    batch_size: int
    output_tokens: int
    measurement_ids: tuple[str, ...]
    statuses: tuple[str, ...]
    energy_per_token: LogEstimate
    throughput_tok_s: float  # mean over its measurements
    power_w: float
    vs_fp16: LogEstimate | None  # pooled over its admitted ratio points; None for fp16 itself
    vs_fp16_sessions: int = 0  # its measurements with an fp16 row on their board: what vs_fp16 pools

    @property
    def energy_per_sequence_j(self) -> float:
        """Energy of one sequence of output_tokens tokens (a request, one decoding of the batch, serves
        batch_size of them: a single row's energy_per_request_j is this x batch_size; over several rows this
        is their pooled estimate, which no row states)."""
        return self.energy_per_token.value * self.output_tokens


@dataclass(frozen=True)
class Analysis:
    source: str
    statuses: tuple[str, ...]  # statuses admitted to estimates
    confidence: float
    measurements: tuple[dict[str, Any], ...]
    counts: dict[str, int]  # rows by status
    curves: tuple[Curve, ...]
    legacy_curves: tuple[Curve, ...]
    configs: tuple[Config, ...]
    legacy_rows: tuple[dict[str, Any], ...]
    energies: dict[str, LogEstimate]  # measurement_id -> its energy per token, every row with trials
    ratios: dict[str, Point]  # measurement_id -> its ratio to fp16, every row with an fp16 row

    @property
    def admitted(self) -> int:
        return sum(self.counts[s] for s in self.statuses)


def admitted_statuses(include_gate_failed: bool) -> tuple[str, ...]:
    ok, gate_failed = catalogue.STATUS_OK, catalogue.STATUS_GATE_FAILED
    return (ok, gate_failed) if include_gate_failed else (ok,)


def analyse(dataset: Dataset, *, include_gate_failed: bool = False, confidence: float = CONFIDENCE) -> Analysis:
    statuses = admitted_statuses(include_gate_failed)
    measurements = dataset.measurements
    by_status = Counter([m[M.status] for m in measurements])
    counts = {s: by_status[s] for s in catalogue.STATUSES}
    energies = _energies(dataset)
    points = _validated_points(dataset, statuses, energies)
    legacy_points = _legacy_points(dataset.legacy)
    return Analysis(
        source=dataset.source,
        statuses=statuses,
        confidence=confidence,
        measurements=measurements,
        counts=counts,
        curves=_curves(points, confidence),
        legacy_curves=_curves(legacy_points, confidence),
        configs=_configs(dataset, statuses, points, energies),
        legacy_rows=dataset.legacy,
        energies={m[M.measurement_id]: e for m, e in zip(measurements, energies, strict=True) if e is not None},
        ratios={p.row_id: p for p in points},
    )


def _energies(dataset: Dataset) -> list[LogEstimate | None]:
    """Each row's energy per token from its measured window (None: a row without figures), in the rows'
    order: computed once and looked up by position, as the ratios, the configs and ``Analysis.energies``
    ask for most rows (300,000 estimates for a 100,000-row build)."""
    windows = dataset.windows
    out: list[LogEstimate | None] = []
    for m in dataset.measurements:
        if m[M.energy_per_token_j] is None:
            out.append(None)
            continue
        w = windows[m[M.measurement_id]]
        out.append(estimate.of_mean(w.mean_j, w.std_j, w.n))
    return out


def _validated_points(dataset: Dataset, statuses: tuple[str, ...], energies: list[LogEstimate | None]) -> list[Point]:
    """``energies``: each row's (``_energies``); a row with an fp16 reference has one, and so has its reference."""
    ms = dataset.measurements
    columns = {c: [m[c] for m in ms] for c in (*rows.FP16_KEY, M.measurement_id, M.precision, M.energy_per_token_j)}
    out = []
    for i, (m, j) in enumerate(zip(ms, rows.fp16_references(columns), strict=True)):
        if j is None or m[M.precision] == catalogue.REFERENCE_PRECISION:
            continue
        ref = ms[j]
        r = estimate.ratio(energies[i], energies[j])  # type: ignore[arg-type]
        stored, built = m[M.energy_vs_fp16], m[M.energy_per_token_j] / ref[M.energy_per_token_j]
        if stored is None or not math.isclose(built, stored, rel_tol=RATIO_TOLERANCE):
            raise DatasetError(
                f"{dataset.source}: energy_vs_fp16 of {m[M.measurement_id]} is {stored}, but its fp16 row "
                f"{ref[M.measurement_id]} gives {built}; the dataset was built with another reference rule"
            )
        out.append(
            Point(
                row_id=m[M.measurement_id],
                reference_id=ref[M.measurement_id],
                source=VALIDATED,
                gpu_name=m[M.gpu_name],
                model_id=m[M.model_id],
                weights=m[M.weights],
                parameter_count=float(m[M.parameter_count]),
                precision=m[M.precision],
                engine=m[M.engine],
                batch_size=m[M.batch_size],
                output_tokens=m[M.output_tokens],
                basis=BASIS_GROSS,
                status=m[M.status],
                reference_status=ref[M.status],
                ratio=r,
                used=m[M.status] in statuses and ref[M.status] in statuses,
            )
        )
    return out


def _legacy_points(legacy: Iterable[dict[str, Any]]) -> list[Point]:
    """Ratios within the researcher's aggregate tables: each row over the fp16 row of the same GPU,
    model, batch size, output length and energy basis (several: the smallest legacy_id)."""
    aggregates = [r for r in legacy if r[L.row_kind] == "aggregate" and r[L.energy_per_1k_tokens_j]]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r[L.gpu], r[L.hf_path], r[L.batch_size], r[L.output_tokens], r[L.energy_basis])

    references: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in sorted(aggregates, key=lambda r: r[L.legacy_id]):
        if r[L.precision] == catalogue.REFERENCE_PRECISION:
            references.setdefault(key(r), r)
    out = []
    for r in aggregates:
        ref = references.get(key(r))
        if ref is None or r is ref or r[L.params_b] is None:
            continue
        out.append(
            Point(
                row_id=r[L.legacy_id],
                reference_id=ref[L.legacy_id],
                source=LEGACY,
                gpu_name=r[L.gpu],
                model_id=r[L.hf_path],
                weights="pretrained",
                parameter_count=r[L.params_b] * 1e9,
                precision=r[L.precision],
                engine=LEGACY_ENGINE,
                batch_size=r[L.batch_size],
                output_tokens=r[L.output_tokens],
                basis=r[L.energy_basis],
                status=LEGACY,
                reference_status=LEGACY,
                ratio=estimate.ratio(legacy_energy(r), legacy_energy(ref)),
                used=True,
            )
        )
    return out


def legacy_energy(r: dict[str, Any]) -> LogEstimate:
    """A legacy aggregate's energy per 1k tokens with its published spread (none where not published)."""
    return estimate.of_mean(r[L.energy_per_1k_tokens_j], r[L.energy_std], r[L.n_runs])


def _curves(points: list[Point], confidence: float) -> tuple[Curve, ...]:
    groups: dict[tuple[Any, ...], list[Point]] = defaultdict(list)
    for p in points:
        groups[(p.source, p.gpu_name, p.engine, p.batch_size, p.output_tokens, p.basis, p.precision)].append(p)
    curves = []
    for key in sorted(groups, key=_curve_order):
        members = tuple(sorted(groups[key], key=lambda p: (p.parameter_count, p.model_id, p.row_id)))
        line = estimate.fit_line([(math.log10(size), ratio) for _, size, ratio in per_model(members)])
        curves.append(Curve(*key, points=members, line=line, crossover=estimate.crossover(line, confidence)))
    return tuple(curves)


def per_model(points: Iterable[Point]) -> list[tuple[str, float, LogEstimate]]:
    """The points a crossover fit takes: one per model (id and size), its used rows' ratios pooled as a
    configuration's are. A model measured in four sessions is one model: as four points it weighed four
    times in the fit and, its repeats agreeing, shrank the between-model spread and the interval."""
    by_model: dict[tuple[str, float], list[LogEstimate]] = defaultdict(list)
    for p in points:
        if p.used:
            by_model[(p.model_id, p.parameter_count)].append(p.ratio)
    # the fit drops a point without a spread: a model's rows with one are pooled without those that lack it
    # (a legacy aggregate published without a std), which would leave the model no spread and no point
    return [
        (model, size, estimate.pooled([r for r in ratios if r.se is not None and r.dof is not None] or ratios))
        for (model, size), ratios in sorted(by_model.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def precision_rank(label: str) -> int:
    """Order of precisions in tables and legends: the catalogue's, unknown legacy labels last."""
    order = list(catalogue.PRECISIONS)
    return order.index(label) if label in order else len(order)


def _curve_order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    source, gpu, engine, batch, tokens, basis, precision = key
    return (source, gpu, engine, batch, tokens, basis, precision_rank(precision), precision)


def _configs(
    dataset: Dataset, statuses: tuple[str, ...], points: list[Point], energies: list[LogEstimate | None]
) -> tuple[Config, ...]:
    ms = dataset.measurements
    # (measurement_id, position) of each row: sorted by id (unique), and energies[position] is the row's
    groups: dict[tuple[Any, ...], list[tuple[str, int]]] = defaultdict(list)
    for i, m in enumerate(ms):
        if m[M.status] in statuses and m[M.energy_per_token_j] is not None:
            key = (m[M.gpu_name], m[M.model_id], m[M.weights], m[M.parameter_count], m[M.precision])
            groups[(*key, m[M.engine], m[M.batch_size], m[M.output_tokens])].append((m[M.measurement_id], i))
    ratios: dict[str, LogEstimate] = {p.row_id: p.ratio for p in points if p.used}
    out = []
    for key in sorted(groups):
        ids, rows_of = zip(*sorted(groups[key]), strict=True)
        found = [ratios[mid] for mid in ids if mid in ratios]
        # lists, not generators, for tuple() and fsum (exact, however fed): up to 100,000 rows a group
        out.append(
            Config(
                *key,
                measurement_ids=ids,
                statuses=tuple([ms[i][M.status] for i in rows_of]),
                energy_per_token=estimate.pooled([energies[i] for i in rows_of]),  # type: ignore[misc]
                throughput_tok_s=math.fsum([ms[i][M.throughput_tok_s] for i in rows_of]) / len(rows_of),
                power_w=math.fsum([ms[i][M.power_w] for i in rows_of]) / len(rows_of),
                vs_fp16=estimate.pooled(found) if found else None,
                vs_fp16_sessions=len(found),
            )
        )
    return tuple(out)
