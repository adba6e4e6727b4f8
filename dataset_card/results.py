"""The card's results: measurements grouped by GPU, model, precision, engine and batch size, with the
ids of the rows behind every figure. Collected here as data; card.py and figures.py render it."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ecocompute import catalogue
from ecocompute.names import M

ID_PREFIX = 12  # characters of measurement_id that name a row in the card
MAX_IDS_SHOWN = 3  # a line with more rows says how many and how to select them
MAX_SETTINGS = 40  # settings with a table in the card: those with the most rows
SETTING = (M.gpu_name, M.model_id, M.weights)  # one results table per setting
CONFIG = (M.engine, M.batch_size, M.precision)  # one line per configuration within it
FIGURES = (  # (column, label): the per-configuration median shown
    (M.energy_per_1k_tokens_j, "J/1k tok gross"),
    (M.net_energy_per_1k_tokens_j, "J/1k tok net"),
    (M.throughput_tok_s, "tok/s"),
    (M.throughput_tok_s_cv_pct, "CV tok/s %"),
    (M.energy_per_token_j_cv_pct, "CV J/tok %"),
    (M.energy_vs_fp16, "energy vs fp16 (gross)"),
    (M.energy_per_request_j, "J/request"),
)
COLUMNS = (*SETTING, *CONFIG, M.measurement_id, M.status, M.gate_failed, *(c for c, _ in FIGURES))


@dataclass(frozen=True)
class Line:
    """One configuration of one setting: the median of each figure over its rows and their range."""

    engine: str
    batch_size: int
    precision: str
    ids: tuple[str, ...]  # sorted measurement ids of every row behind the line
    statuses: tuple[tuple[str, int], ...]  # (status, rows) in catalogue order
    failed_gates: tuple[str, ...]
    median: dict[str, float | None]
    low: dict[str, float | None]
    high: dict[str, float | None]
    drawn_statuses: tuple[str, ...] | None = None  # statuses of the rows with figures (skipped rows have none)

    @property
    def all_ok(self) -> bool:
        return self.statuses == ((catalogue.STATUS_OK, len(self.ids)),)

    @property
    def figures_ok(self) -> bool:
        """Whether every row behind the line's figures passed its gates: a skipped row adds no figure,
        so it does not make the medians of rows that all passed look like gate_failed ones."""
        if self.drawn_statuses is None:
            return self.all_ok
        return bool(self.drawn_statuses) and all(s == catalogue.STATUS_OK for s in self.drawn_statuses)


@dataclass(frozen=True)
class Setting:
    gpu_name: str
    model_id: str
    weights: str
    lines: tuple[Line, ...]

    @property
    def rows(self) -> int:
        return sum(len(line.ids) for line in self.lines)


def _order(value: str, known: Any) -> tuple[int, str]:
    names = list(known)
    return (names.index(value), value) if value in names else (len(names), value)


def _line(key: tuple[Any, ...], rows: list[dict[str, Any]]) -> Line:
    engine, batch_size, precision = key
    statuses = Counter(r[M.status] for r in rows)
    gates = {g for r in rows if r[M.gate_failed] for g in r[M.gate_failed].split(",") if g}
    median, low, high = {}, {}, {}
    for column, _ in FIGURES:
        values = [r[column] for r in rows if r[column] is not None and not math.isnan(r[column])]
        median[column] = statistics.median(values) if values else None
        low[column], high[column] = (min(values), max(values)) if values else (None, None)
    return Line(
        engine=engine,
        batch_size=batch_size,
        precision=precision,
        ids=tuple(sorted(r[M.measurement_id] for r in rows)),
        statuses=tuple((s, statuses[s]) for s in sorted(statuses, key=lambda s: _order(s, catalogue.STATUSES))),
        failed_gates=tuple(g for g in catalogue.GATE_NAMES if g in gates),
        median=median,
        low=low,
        high=high,
        drawn_statuses=tuple(sorted(r[M.status] for r in rows if r[M.energy_per_1k_tokens_j] is not None)),
    )


@dataclass(frozen=True)
class Results:
    settings: tuple[Setting, ...]  # those shown, by GPU, model and weights
    omitted_settings: int
    omitted_rows: int


def collect(measurements: pa.Table, max_settings: int = MAX_SETTINGS) -> Results:
    """The ``max_settings`` settings with the most rows (ties by name), each with its lines ordered by
    engine, batch size, then precision in the catalogue's order. Only their rows leave Arrow."""
    sizes = measurements.group_by(list(SETTING)).aggregate([(M.measurement_id, "count")])
    ranked = sorted(
        zip(*(sizes.column(c).to_pylist() for c in (*SETTING, f"{M.measurement_id}_count")), strict=True),
        key=lambda s: (-s[-1], *s[:-1]),
    )
    shown = pa.table(
        {
            c: pa.array([s[i] for s in ranked[:max_settings]], measurements.schema.field(c).type)
            for i, c in enumerate(SETTING)
        }
    )
    subset = measurements.select(list(COLUMNS)).join(shown, keys=list(SETTING), join_type="left semi")
    grouped: dict[tuple[Any, ...], dict[tuple[Any, ...], list[dict[str, Any]]]] = {}
    for row in subset.to_pylist():
        setting = grouped.setdefault(tuple(row[c] for c in SETTING), {})
        setting.setdefault(tuple(row[c] for c in CONFIG), []).append(row)
    settings = []
    for (gpu, model, weights), configs in sorted(grouped.items()):
        lines = [_line(key, config_rows) for key, config_rows in configs.items()]
        lines.sort(
            key=lambda x: (
                _order(x.engine, catalogue.ENGINES),
                x.batch_size,
                _order(x.precision, catalogue.PRECISIONS),
            )
        )
        settings.append(Setting(gpu, model, weights, tuple(lines)))
    omitted = ranked[max_settings:]
    return Results(tuple(settings), len(omitted), sum(s[-1] for s in omitted))
