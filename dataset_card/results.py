"""The card's results: measurements grouped by GPU, model, precision, engine and batch size, with the
ids of the rows behind every figure. Collected here as data; card.py and figures.py render it."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
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
    """The line of ``rows`` (row dicts holding COLUMNS' keys that _line_of reads)."""
    return _line_of(key, {c: [r[c] for r in rows] for c in _LINE_COLUMNS})


# What a line reads of its rows, each as one list of values in the rows' order.
_LINE_COLUMNS = (M.measurement_id, M.status, M.gate_failed, *(c for c, _ in FIGURES))


def _pick(columns: dict[str, list[Any]], rows: list[int]) -> dict[str, Sequence[Any]]:
    """_LINE_COLUMNS' values at ``rows``, in that order (itemgetter: one C call a column, not a loop)."""
    get = itemgetter(*rows)
    if len(rows) == 1:  # itemgetter of one index returns the value itself, not a tuple of one
        return {c: (get(columns[c]),) for c in _LINE_COLUMNS}
    return {c: get(columns[c]) for c in _LINE_COLUMNS}


def _line_of(key: tuple[Any, ...], columns: Mapping[str, Sequence[Any]]) -> Line:
    """The line of the rows whose values ``columns`` lists (column: one value a row, in the rows' order).
    Columns, not row dicts: a 100,000-row build's collect made 100,000 dicts of 16 keys to read them."""
    engine, batch_size, precision = key
    status = columns[M.status]
    statuses = Counter(status)
    gates = {g for failed in columns[M.gate_failed] if failed for g in failed.split(",") if g}
    median, low, high = {}, {}, {}
    for column, _ in FIGURES:
        values = [v for v in columns[column] if v is not None and not math.isnan(v)]
        median[column] = statistics.median(values) if values else None
        low[column], high[column] = (min(values), max(values)) if values else (None, None)
    gross = columns[M.energy_per_1k_tokens_j]
    return Line(
        engine=engine,
        batch_size=batch_size,
        precision=precision,
        ids=tuple(sorted(columns[M.measurement_id])),
        statuses=tuple((s, statuses[s]) for s in sorted(statuses, key=lambda s: _order(s, catalogue.STATUSES))),
        failed_gates=tuple(g for g in catalogue.GATE_NAMES if g in gates),
        median=median,
        low=low,
        high=high,
        drawn_statuses=tuple(sorted(s for s, e in zip(status, gross, strict=True) if e is not None)),
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
    # rows as indexes into the subset's columns, grouped by setting and configuration in the subset's order
    columns = subset.to_pydict()
    grouped: dict[tuple[Any, ...], dict[tuple[Any, ...], list[int]]] = {}
    settings_of = zip(*(columns[c] for c in SETTING), strict=True)
    configs_of = zip(*(columns[c] for c in CONFIG), strict=True)
    for i, (setting_key, config_key) in enumerate(zip(settings_of, configs_of, strict=True)):
        grouped.setdefault(setting_key, {}).setdefault(config_key, []).append(i)
    settings = []
    for (gpu, model, weights), configs in sorted(grouped.items()):
        lines = [_line_of(key, _pick(columns, rows)) for key, rows in configs.items()]
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
