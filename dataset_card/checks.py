"""pandera models over the merged tables: keys, ranges and cross-column rules, checked before writing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors
from pandera.typing import Series

from ecocompute import catalogue, stats
from ecocompute.columns import PER_REQUEST_REL_TOLERANCE, POWER_OVER_THROUGHPUT_FACTOR, TEXT_RULES
from ecocompute.names import L, M, S, T


def _text(config: str, column: str, **field: Any) -> Any:
    """The pandera field of a text column's rule (ecocompute.columns.TEXT_RULES, which eco-advise applies
    to what it reads)."""
    rule = TEXT_RULES[config][column]
    if rule.one_of:
        return pa.Field(isin=list(rule.one_of), **field)
    return pa.Field(str_matches=rf"^(?:{rule.pattern})\Z", **field)  # \Z: '$' would take a trailing newline


class BuildCheckError(Exception):
    """The merged tables break a rule; nothing was written."""


class Measurements(pa.DataFrameModel):
    measurement_id: Series[str] = _text("measurements", M.measurement_id, unique=True)
    submission_id: Series[str]
    precision: Series[str] = _text("measurements", M.precision)
    weights: Series[str] = _text("measurements", M.weights)
    status: Series[str] = _text("measurements", M.status)
    batch_size: Series[int] = pa.Field(ge=1)
    parameter_count: Series[int] = pa.Field(ge=1)
    energy_per_1k_tokens_j: Series[float] = pa.Field(gt=0, nullable=True)
    throughput_tok_s: Series[float] = pa.Field(gt=0, nullable=True)
    power_w: Series[float] = pa.Field(gt=0, nullable=True)
    idle_power_w: Series[float] = pa.Field(ge=0, nullable=True)

    @pa.dataframe_check(error="net energy must not exceed gross energy")
    def net_below_gross(cls, df: pd.DataFrame) -> Series[bool]:
        return df[M.net_energy_per_1k_tokens_j].isna() | (
            df[M.net_energy_per_1k_tokens_j] <= df[M.energy_per_1k_tokens_j]
        )

    @pa.dataframe_check(error="status ok requires a passed gate; skipped rows carry no figures")
    def status_consistent(cls, df: pd.DataFrame) -> Series[bool]:
        ok = (df[M.status] != catalogue.STATUS_OK) | (df[M.gate_passed] == True)  # noqa: E712 - nullable column
        skipped = (df[M.status] != catalogue.STATUS_SKIPPED) | df[M.energy_per_1k_tokens_j].isna()
        return ok & skipped

    @pa.dataframe_check(
        error="energy per request is energy per token x batch size x output tokens, and an ok row's power over its "
        f"throughput is its energy per token within a factor of {POWER_OVER_THROUGHPUT_FACTOR:g}"
    )
    def figures_agree(cls, df: pd.DataFrame) -> Series[bool]:
        """The rule eco-advise holds a dataset it reads to (advisor/data.py ``_check_figures``): a build writes
        no row that a reader would refuse as altered."""
        per_token = df[M.energy_per_token_j]
        per_request = per_token * df[M.batch_size] * df[M.output_tokens]
        stated = df[M.energy_per_request_j]
        scale = np.maximum(stated.abs(), per_request.abs())  # math.isclose's, as the reader's stats.close
        allowed = np.maximum(PER_REQUEST_REL_TOLERANCE * scale, stats.SUMMARY_ABS_TOLERANCE)
        request = per_token.isna() | ((stated - per_request).abs() <= allowed)
        implied = df[M.power_w] / df[M.throughput_tok_s] / per_token
        within = (implied >= 1 / POWER_OVER_THROUGHPUT_FACTOR) & (implied <= POWER_OVER_THROUGHPUT_FACTOR)
        return request & ((df[M.status] != catalogue.STATUS_OK) | within)

    @pa.dataframe_check(error="pretrained rows need a 40-hex model revision")
    def revision_pinned(cls, df: pd.DataFrame) -> Series[bool]:
        return (df[M.weights] != "pretrained") | df[M.model_revision].str.fullmatch(r"[0-9a-f]{40}")


class Trials(pa.DataFrameModel):
    trial_id: Series[str] = pa.Field(unique=True)
    measurement_id: Series[str]
    role: Series[str] = _text("trials", T.role)
    duration_s: Series[float] = pa.Field(gt=0)
    generated_tokens: Series[int] = pa.Field(ge=1)
    energy_j: Series[float] = pa.Field(ge=0)


class Submissions(pa.DataFrameModel):
    submission_id: Series[str] = pa.Field(unique=True)
    file_sha256: Series[str] = _text("submissions", S.file_sha256)
    measurements: Series[int] = pa.Field(ge=1)


class Legacy(pa.DataFrameModel):
    legacy_id: Series[str] = pa.Field(unique=True)
    row_kind: Series[str] = _text("legacy", L.row_kind)
    energy_basis: Series[str] = _text("legacy", L.energy_basis)
    energy_per_1k_tokens_j: Series[float] = pa.Field(gt=0)
    validation: Series[str] = pa.Field(str_startswith="not validated")


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "measurements": Measurements,
    "trials": Trials,
    "submissions": Submissions,
    "legacy": Legacy,
}
# Columns that dataframe-wide checks and the cross-table keys read beyond each model's fields.
_ALSO_READ = {
    "measurements": [
        M.net_energy_per_1k_tokens_j,
        M.gate_passed,
        M.model_revision,
        M.energy_per_token_j,
        M.energy_per_request_j,
        M.output_tokens,
    ],
    "trials": [],
    "submissions": [],
    "legacy": [],
}


def columns(name: str) -> list[str]:
    """What the checks of one table read, id column first: the builder converts only these."""
    fields = list(MODELS[name].to_schema().columns)
    return fields + [c for c in _ALSO_READ[name] if c not in fields]


def _missing_keys(child: pa_arrow.Table, parent: pa_arrow.Table, key: str) -> list[str]:
    """Values of ``child[key]`` absent from ``parent[key]`` (a hash lookup in Arrow: 700k trials
    against 100k measurements in milliseconds, where pandas' isin takes half a second)."""
    present = pc.is_in(child.column(key), value_set=parent.column(key))
    return sorted(set(pc.filter(child.column(key), pc.invert(present)).to_pylist()))


def check(tables: dict[str, pa_arrow.Table]) -> None:
    """Run every model lazily and the cross-table keys; one error naming each rule and its rows."""
    problems: list[str] = []
    for name, model in MODELS.items():
        frame = tables[name].select(columns(name)).to_pandas()
        try:
            model.validate(frame, lazy=True)
        except SchemaErrors as exc:
            cases = exc.failure_cases
            for (column, rule), group in cases.groupby(["column", "check"], dropna=False, sort=True):
                index = [int(i) for i in group["index"].dropna().head(10)]
                ids = frame.iloc[index][frame.columns[0]].tolist() if index else []
                problems.append(f"{name}: rule {rule!s} on {column or 'table'} fails for rows {ids or index}")
    for child, parent, key in (
        ("trials", "measurements", M.measurement_id),
        ("measurements", "submissions", S.submission_id),
    ):
        missing = _missing_keys(tables[child], tables[parent], key)
        if missing:
            problems.append(f"{child}: {key} not in {parent}: {missing[:5]}")
    if problems:
        raise BuildCheckError("dataset checks failed, nothing written:\n  " + "\n  ".join(problems))
