"""Read a built dataset (a folder written by ``eco-dataset build``, or a Hub repository at a revision)
into what the analysis needs: measurement rows, per-measurement statistics of the gate window's trials,
and the legacy rows.

Only the columns the analysis uses are read, so a large release costs its few columns, not its size.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ecocompute import catalogue, hubenv, rows, stats
from ecocompute.cli import printable
from ecocompute.columns import CONFIGS, PER_REQUEST_REL_TOLERANCE, POWER_OVER_THROUGHPUT_FACTOR, TEXT_RULES, TextRule
from ecocompute.names import L, M, T

from . import reading
from .reading import DatasetError, DatasetSpecError

MEASUREMENT_COLUMNS = (
    *rows.FP16_KEY,
    M.measurement_id,
    M.submission_id,
    M.gpu_name,
    M.parameter_count,
    M.precision,
    M.status,
    M.gate_failed,
    M.trials_measured,
    M.prompt_tokens,
    M.energy_per_token_j,
    M.energy_per_request_j,
    M.throughput_tok_s,
    M.power_w,
    M.energy_vs_fp16,
)
TRIAL_COLUMNS = (T.measurement_id, T.role, T.energy_per_token_j)
LEGACY_COLUMNS = (
    L.legacy_id,
    L.row_kind,
    L.source_document,
    L.gpu,
    L.model,
    L.hf_path,
    L.params_b,
    L.precision,
    L.batch_size,
    L.output_tokens,
    L.n_runs,
    L.throughput_tok_s,
    L.power_w,
    L.energy_per_1k_tokens_j,
    L.energy_std,
    L.energy_basis,
)
_AS_ROWS = ("measurements", "legacy")  # the configs _assemble turns into Python rows
_CONFIGS = ("measurements", "trials", "legacy")  # the configs _assemble reads
# What the analysis takes logarithms of, divides by or counts: positive wherever present. A build's
# checks hold them; a folder or Hub revision read here may not come from one.
_POSITIVE = {
    "measurements": (
        M.parameter_count,
        M.batch_size,
        M.output_tokens,
        M.prompt_tokens,
        M.energy_per_token_j,
        M.energy_per_request_j,
        M.throughput_tok_s,
        M.power_w,
        M.energy_vs_fp16,
    ),
    "trials": (),  # a warm-up may hold 0 J; the measured ones are held positive in _windows
    "legacy": (
        L.params_b,
        L.batch_size,
        L.output_tokens,
        L.n_runs,
        L.throughput_tok_s,
        L.power_w,
        L.energy_per_1k_tokens_j,
    ),
}
# Where a build leaves a cell empty: the figures of a skipped row, a legacy row's unknowns. Every other
# column read here is a key or a label that the analysis sorts, joins and prints.
_NULLABLE = {
    "measurements": (
        M.gate_failed,
        M.energy_per_token_j,
        M.energy_per_request_j,
        M.throughput_tok_s,
        M.power_w,
        M.energy_vs_fp16,
    ),
    "trials": (),
    "legacy": (L.params_b, L.n_runs, L.throughput_tok_s, L.power_w, L.energy_std),
}
# A measurement's figures are empty only where it was skipped (status "skipped"): an ok row without
# its power is no row a build writes.
_FIGURES = (M.energy_per_token_j, M.energy_per_request_j, M.throughput_tok_s, M.power_w)
_MAGNITUDE_MAX = stats.MAGNITUDE_MAX  # integers: within int64 as well
_POSITIVE_MIN = 1e-100  # the same on the small side: 5e-324 W passed "positive" and broke a figure
_INTEGER_MAX = 10**18
_HUB_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*)@([A-Za-z0-9_./-]+)$")
# The analysis re-derives each row's energy per token from its trials; a row whose stored mean is not
# that mean (to eco-validate's own test, stats.close: every file it accepts builds) was altered after
# the build. eco-validate sums exactly (math.fsum), Arrow's grouped mean in another order: the two may
# differ by rounding (a few units in the last place), so a stated value at the edge of eco-validate's
# tolerance needs this much more here.
MEAN_ORDER_SLACK = 1e-12


# Not frozen: a 100,000-row report builds one of these a row, and a frozen dataclass's __init__ (object.__setattr__
# per field) costs 0.40 us against 0.12 us. Nothing assigns to one after construction; hashable by value
# as before (unsafe_hash costs construction nothing), as ecocompute.measurement.Trial.
@dataclass(slots=True, unsafe_hash=True)
class GateWindowEnergy:
    """Energy per token over a measurement's gate window (its measured trials)."""

    n: int
    mean_j: float
    std_j: float


@dataclass(frozen=True)
class Dataset:
    source: str  # what to cite: a folder, or repo@revision
    measurements: tuple[dict[str, Any], ...]
    windows: dict[str, GateWindowEnergy]  # measurement_id -> its gate window
    legacy: tuple[dict[str, Any], ...]


GpuCheck = Callable[[str, set[str]], None]  # (the dataset's source, its GPU names): raises to stop the load


def load(spec: str | Path, api: Any = None, gpus: GpuCheck | None = None) -> Dataset:
    """A local folder built by ``eco-dataset build``, or ``owner/name@revision`` on the Hub (read with
    ``api``, an HfApi; None: a new one), each within the same bounds (advisor.reading, advisor.hub).
    ``gpus`` is shown the GPU names of the measurements and legacy configs as soon as both are read, before
    the trials (most of a dataset's bytes) and before any analysis: eco-advise judges --gpu there. A Hub
    revision's files are all downloaded first."""
    text = str(spec)
    path = Path(text)
    if path.is_symlink():  # as --submissions and --out: an input is read where it is, never through a link
        raise DatasetSpecError(
            f"--dataset {printable(text)} is a symbolic link: give the folder itself "
            f"({printable(os.path.realpath(path))}); links are never followed"
        )
    if path.exists():
        if not path.is_dir():
            raise DatasetSpecError(f"{printable(text)} is a file; give the folder that eco-dataset build wrote")
        budget = reading.Budget()  # one for all the files of all the configs

        def local(config: str, columns: tuple[str, ...]) -> pa.Table:
            return reading.local_table(path, config, columns, budget, as_rows=config in _AS_ROWS)

        return _within_memory(text, local, gpus)
    match = _HUB_SPEC.match(text)
    if match is None:
        raise DatasetSpecError(
            f"no dataset folder {printable(text)}; give a folder built by eco-dataset build, or a Hub "
            "repository with the revision to read, as owner/name@revision (e.g. ecocompute/llm-energy@v1.0.0)"
        )
    repo, revision = match.groups()
    hubenv.check()  # before huggingface_hub is imported: it fails on a malformed variable with a traceback
    from . import hub  # imported only for the Hub

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    snapshot = hub.folder(api, repo, revision, _CONFIGS)
    budget = reading.Budget()

    def downloaded(config: str, columns: tuple[str, ...]) -> pa.Table:
        try:
            return reading.local_table(snapshot, config, columns, budget, as_rows=config in _AS_ROWS)
        except DatasetError as exc:  # named by the Hub's path, not the cache folder's
            raise DatasetError(str(exc).replace(printable(str(snapshot)), printable(f"{repo}@{revision}"))) from None

    return _within_memory(text, downloaded, gpus)


def _within_memory(source: str, read: Callable[[str, tuple[str, ...]], pa.Table], gpus: GpuCheck | None) -> Dataset:
    """``_assemble``, with running out of memory one line (a machine smaller than the read bounds
    assume)."""
    try:
        return _assemble(source, read, gpus)
    except MemoryError:
        raise DatasetError(
            f"{printable(source)}: ran out of memory reading the dataset; nothing written: "
            "give a dataset eco-dataset build wrote, or run on a machine with more memory"
        ) from None


def from_tables(source: str, tables: Mapping[str, pa.Table]) -> Dataset:
    """A dataset still in memory, as Arrow tables by config name (the build embeds the report in the
    card it writes); ``source`` says what to cite."""
    return _assemble(source, lambda config, columns: tables[config].select(list(columns)))


def _assemble(source: str, read: Callable[[str, tuple[str, ...]], pa.Table], gpus: GpuCheck | None = None) -> Dataset:
    def checked(config: str, columns: tuple[str, ...]) -> pa.Table:
        return _checked(source, config, read(config, columns))

    measurements = checked("measurements", MEASUREMENT_COLUMNS)
    ids = measurements.column(M.measurement_id)
    if pc.count_distinct(ids).as_py() != len(ids):  # a row twice would be pooled twice
        counts = pc.value_counts(ids).to_pylist()
        twice = next(c["values"] for c in counts if c["counts"] > 1)
        raise DatasetError(
            f"{printable(source)}: measurement {printable(twice, limit=80)} appears more than once: a build writes each once"
        )
    legacy = checked("legacy", LEGACY_COLUMNS)
    if gpus is not None:
        gpus(source, set(pc.unique(measurements[M.gpu_name]).to_pylist()) | set(pc.unique(legacy[L.gpu]).to_pylist()))
    windows = _windows(source, checked("trials", TRIAL_COLUMNS))
    measured = tuple(measurements.to_pylist())
    _check_windows(source, measured, windows)
    return Dataset(source, measured, windows, tuple(legacy.to_pylist()))


def _checked(source: str, config: str, table: pa.Table) -> pa.Table:
    """``table`` in the column types the dataset declares, its numbers finite, within _MAGNITUDE_MAX
    and positive where the analysis needs them: anything else is a DatasetError naming the column,
    not an error deep in the estimates or the figures."""
    declared = pa.schema([CONFIGS[config].field(name) for name in table.column_names])
    try:
        table = table.cast(declared)
    except (pa.ArrowException, ValueError) as exc:
        raise DatasetError(
            f"{printable(source)}: config {config} does not hold the column types eco-dataset build writes "
            f"({printable(str(exc), limit=200)})"
        ) from None
    for field in declared:
        values = table.column(field.name)
        text = TEXT_RULES.get(config, {}).get(field.name)
        bad, rule = _outside(values, field.type, positive=field.name in _POSITIVE[config], text=text)
        if field.name not in _NULLABLE[config]:
            bad, rule = pc.or_(pc.fill_null(bad, False), pc.is_null(values)), f"{rule}, never empty".lstrip(", ")
        elif config == "measurements" and field.name in _FIGURES:
            # The build's rule both ways: a skipped row has no figures (it could not run), any other has
            # them. A skipped row with figures was counted as skipped and its figures shown all the same.
            unskipped = pc.fill_null(pc.not_equal(table.column(M.status), catalogue.STATUS_SKIPPED), True)
            bad = pc.or_(pc.fill_null(bad, False), pc.not_equal(unskipped, pc.is_valid(values)))
            rule = f"{rule}, empty where the row is skipped and only there"
        first = pc.index(pc.fill_null(bad, False), True).as_py()
        if first >= 0:
            raise DatasetError(
                f"{printable(source)}: config {config}, column {field.name}, row {first}: "
                f"{printable(repr(values[first].as_py()), limit=80)} is not a value eco-dataset build writes ({rule})"
            )
    return table


def _outside(
    values: pa.ChunkedArray, kind: pa.DataType, *, positive: bool, text: TextRule | None = None
) -> tuple[pa.ChunkedArray, str]:
    """Which numbers are NaN, infinite, beyond _MAGNITUDE_MAX or (``positive``) not above 0, which texts
    break their ``text`` rule (the build's own, ecocompute.columns.TEXT_RULES), and the rule in words;
    for other columns, none. Integers are compared as integers: a float bound would make Arrow cast
    them, refusing any beyond 2^53."""
    if pa.types.is_integer(kind):
        bound = pa.scalar(_INTEGER_MAX, kind)
        bad = pc.or_(pc.greater(values, bound), pc.less(values, pc.negate(bound)))
        most = f"{_INTEGER_MAX:.0e}"
    elif pa.types.is_floating(kind):
        bad = pc.invert(pc.less_equal(pc.abs(values), _MAGNITUDE_MAX))  # NaN compares false
        most = f"{_MAGNITUDE_MAX:.0e}"
    elif text is not None:
        if text.one_of:
            known = pc.is_in(values, value_set=pa.array(text.one_of, kind))
        else:  # RE2's '$' is the end of the text only: no trailing newline slips through
            known = pc.match_substring_regex(values, pattern=f"^(?:{text.pattern})$")
        return pc.invert(known), text.words()
    else:
        return pc.and_(pc.is_null(values), pc.is_valid(values)), ""  # all false: no rule on this text
    if positive:
        bad = pc.or_(bad, pc.less(values, _POSITIVE_MIN) if pa.types.is_floating(kind) else pc.less_equal(values, 0))
    least = (
        f", at least {_POSITIVE_MIN:.0e}"
        if positive and pa.types.is_floating(kind)
        else ", positive"
        if positive
        else ""
    )
    return bad, f"finite{least}, at most {most} in size"


def _windows(source: str, trials: pa.Table) -> dict[str, GateWindowEnergy]:
    measured = trials.filter(pc.equal(trials[T.role], catalogue.ROLE_MEASURED))
    # Each trial of a window positive, not only their mean: its spread is taken on the log scale, and
    # trials of +-1e15 cancelling out to a plausible mean overflowed the interval.
    least = pc.min(measured[T.energy_per_token_j]).as_py()
    if least is not None and least <= 0:
        raise DatasetError(
            f"{printable(source)}: a measured trial holds {least} J per token: not a value eco-dataset build writes"
        )
    # One thread: threads would sum each window in an order that varies from run to run, and the build
    # embeds these figures in a card that must be byte-identical between builds of the same files.
    energy = T.energy_per_token_j  # Arrow names each aggregate <column>_<function>
    grouped = measured.group_by(T.measurement_id, use_threads=False).aggregate(
        [(energy, "count"), (energy, "mean"), (energy, "stddev", pc.VarianceOptions(ddof=1))]
    )
    out = {}
    columns = (T.measurement_id, f"{energy}_count", f"{energy}_mean", f"{energy}_stddev")
    for measurement_id, n, mean, std in zip(*(grouped.column(c).to_pylist() for c in columns), strict=True):
        out[measurement_id] = GateWindowEnergy(n, mean, std if n > 1 else 0.0)
    return out


def _check_windows(source: str, measurements: tuple[dict[str, Any], ...], windows: dict[str, GateWindowEnergy]) -> None:
    """Every row with a summary has its gate window in the trials config, with the row's mean."""
    for m in measurements:
        if m[M.energy_per_token_j] is None:
            continue
        w = windows.get(m[M.measurement_id])
        if w is None or w.n != m[M.trials_measured]:
            found = 0 if w is None else w.n
            raise DatasetError(
                f"{printable(source)}: measurement {m[M.measurement_id]} has {m[M.trials_measured]} measured trials, "
                f"but the trials config holds {found}; the configs come from different builds"
            )
        if not stats.close(w.mean_j, m[M.energy_per_token_j], rel=stats.SUMMARY_REL_TOLERANCE + MEAN_ORDER_SLACK):
            raise DatasetError(
                f"{printable(source)}: measurement {m[M.measurement_id]} states {m[M.energy_per_token_j]} J/token, "
                f"its measured trials average {w.mean_j} J/token; the dataset was altered after its build"
            )
        _check_figures(source, m)


def _check_figures(source: str, m: dict[str, Any]) -> None:
    """The figures a row quotes beside its energy per token agree with it: energy per request is its
    definition (ecocompute.rows: per token x batch size x output tokens), and an ok row's power over its
    throughput is its energy per token within POWER_OVER_THROUGHPUT_FACTOR. A row stating 1000 times the
    throughput at a thousandth of the power was quoted as measured beside the trials' energy."""
    per_token, row = m[M.energy_per_token_j], m[M.measurement_id]
    per_request = per_token * (m[M.batch_size] * m[M.output_tokens])
    if not stats.close(m[M.energy_per_request_j], per_request, rel=PER_REQUEST_REL_TOLERANCE):
        raise DatasetError(
            f"{printable(source)}: measurement {row} states {m[M.energy_per_request_j]} J/request, but "
            f"{per_token} J/token x batch size {m[M.batch_size]} x {m[M.output_tokens]} output tokens is "
            f"{per_request} J; the dataset was altered after its build"
        )
    if m[M.status] != catalogue.STATUS_OK:  # a failed gate's spread may part the mean of ratios from the ratio of means
        return
    implied = m[M.power_w] / m[M.throughput_tok_s]
    if not 1 / POWER_OVER_THROUGHPUT_FACTOR <= implied / per_token <= POWER_OVER_THROUGHPUT_FACTOR:
        raise DatasetError(
            f"{printable(source)}: measurement {row} states {m[M.power_w]} W at {m[M.throughput_tok_s]} tokens/s, "
            f"{implied:.4g} J/token, but its trials hold {per_token:.4g} J/token; the dataset was altered after "
            "its build"
        )
