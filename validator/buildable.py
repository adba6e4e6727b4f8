"""A file the validator accepts builds: its rows are flattened as the dataset builder flattens them
(``ecocompute.rows``), shown to convert to Arrow with the dataset's declared column types
(``ecocompute.columns``) and held to the per-row rules the builder enforces before writing
(``dataset_card/checks.py``), here as plain comparisons on the rows.

Converting a file's few rows to Arrow costs a fixed few microseconds per column (150 columns: 0.6 ms a
file, more than all the rules). So the rows are first looked at in Python (``_converts``): when every
cell is of a kind Arrow always converts to its column's type, the conversion cannot fail and is
skipped (the builder converts whole chunks of files at once); otherwise it runs, and its error, if
any, is the finding, as before.

Every other check should already have rejected what fails here; this is the last line, so that one
bad file can never block a release. pyarrow is imported on first use: ``eco-validate --help`` stays fast.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ecocompute import catalogue, rows
from ecocompute.domain import Submission
from ecocompute.names import M, S, T

from . import convert
from .findings import Finding, make

_HEX64, _HEX40 = re.compile(r"[0-9a-f]{64}"), re.compile(r"[0-9a-f]{40}")
_RATIO_INPUTS = (*rows.FP16_KEY, M.measurement_id, M.precision, M.energy_per_token_j, M.throughput_tok_s)


def check(sub: Submission, hashes: Sequence[str], file: str, file_path: str, sha256: str | None) -> list[Finding]:
    import pyarrow as pa

    from ecocompute import columns

    try:
        measurements, trials, submission = rows.flatten(sub, file_path, sha256 or "0" * 64, hashes)
        energy_vs, throughput_vs = rows.fp16_ratios({k: [r[k] for r in measurements] for k in _RATIO_INPUTS})
        for row, e, t in zip(measurements, energy_vs, throughput_vs, strict=True):
            row[M.energy_vs_fp16], row[M.throughput_vs_fp16] = e, t
        if convert.converts(measurements, trials, submission):
            finite_trials = convert.finite_columns(trials, "TRIALS")
        else:
            batches = {
                "measurements": pa.RecordBatch.from_pylist(measurements, schema=columns.MEASUREMENTS),
                "trials": pa.RecordBatch.from_pydict(trials, schema=columns.TRIALS),
                "submissions": pa.RecordBatch.from_pylist([submission], schema=columns.SUBMISSIONS),
            }
            finite_trials = _finite(batches["trials"])
    except (ArithmeticError, ValueError, TypeError, KeyError, UnicodeError, pa.ArrowException) as exc:
        return [make("dataset.unbuildable", file, "", f"its rows cannot be built: {type(exc).__name__}: {exc}"[:500])]
    problems = (
        _finite_rows("measurements", "MEASUREMENTS", measurements)
        + _finite_rows("submissions", "SUBMISSIONS", [submission])
        + ([] if finite_trials else ["trials: a float cell is not finite"])
        + [p for r in measurements for p in _measurement_rules(r)]
        + _trial_rules(trials)
        + _submission_rules(submission)
    )
    if not problems:
        return []
    shown = "; ".join(dict.fromkeys(problems))
    return [make("dataset.unbuildable", file, "", f"its rows break the dataset's rules: {shown}"[:500])]


def _finite_rows(name: str, schema_name: str, table: list[dict[str, Any]]) -> list[str]:
    """A few rows: checked in Python, cheaper than an Arrow round trip."""
    floats = convert.float_columns(schema_name)
    ok = all(math.isfinite(v) for row in table for k in floats if (v := row[k]) is not None)
    return [] if ok else [f"{name}: a float cell is not finite"]


def _finite(batch: Any) -> bool:
    """Float cells are numbers or nulls, never NaN or infinite (a NaN would pass the builder's checks
    as a null): all float columns joined, one vectorised test."""
    import pyarrow as pa
    import pyarrow.compute as pc

    floats = [c for c, f in zip(batch.columns, batch.schema, strict=True) if pa.types.is_float64(f.type)]
    if not floats:
        return True
    return pc.all(pc.is_finite(pa.concat_arrays(floats))).as_py() is not False  # null: every cell null


def _fails(checks: Iterable[tuple[bool, str]]) -> list[str]:
    return [text for ok, text in checks if not ok]


def _positive_or_null(value: float | None) -> bool:
    return value is None or value > 0


def _measurement_rules(r: dict[str, Any]) -> list[str]:
    gross, net = r[M.energy_per_1k_tokens_j], r[M.net_energy_per_1k_tokens_j]
    return _fails(
        (
            (_HEX64.fullmatch(r[M.measurement_id]) is not None, f"{M.measurement_id} is not a sha256"),
            (r[M.precision] in catalogue.PRECISIONS, "unknown precision"),
            (r[M.weights] in catalogue.WEIGHTS, "unknown weights"),
            (r[M.status] in catalogue.STATUSES, "unknown status"),
            (r[M.batch_size] >= 1 and r[M.parameter_count] >= 1, f"{M.batch_size} or {M.parameter_count} below 1"),
            (_positive_or_null(gross), f"{M.energy_per_1k_tokens_j} not positive"),
            (_positive_or_null(r[M.energy_per_token_j]), f"{M.energy_per_token_j} not positive"),
            (_positive_or_null(r[M.throughput_tok_s]), f"{M.throughput_tok_s} not positive"),
            (_positive_or_null(r[M.power_w]), f"{M.power_w} not positive"),
            (r[M.idle_power_w] is None or r[M.idle_power_w] >= 0, f"{M.idle_power_w} negative"),
            (net is None or (gross is not None and net <= gross), "net energy above gross energy"),
            (r[M.status] != catalogue.STATUS_OK or r[M.gate_passed] is True, "status ok without a passed gate"),
            (r[M.status] != catalogue.STATUS_SKIPPED or gross is None, "skipped with figures"),
            (
                r[M.weights] != "pretrained" or _HEX40.fullmatch(r[M.model_revision]) is not None,
                "pretrained without a 40-hex revision",
            ),
        )
    )


def _trial_rules(t: dict[str, list[Any]]) -> list[str]:
    return _fails(
        (
            (all(r in catalogue.ROLES for r in t[T.role]), "trials with an unknown role"),
            (all(d > 0 for d in t[T.duration_s]), "trials with a duration not positive"),
            (all(n >= 1 for n in t[T.generated_tokens]), "trials without generated tokens"),
            (all(e >= 0 for e in t[T.energy_j]), "trials with negative energy"),
            (len(set(t[T.trial_id])) == len(t[T.trial_id]), f"{T.trial_id} not unique"),
        )
    )


def _submission_rules(s: dict[str, Any]) -> list[str]:
    return _fails(
        (
            (_HEX64.fullmatch(s[S.file_sha256]) is not None, f"{S.file_sha256} is not a sha256"),
            (s[S.measurements] >= 1, "no measurement"),
        )
    )
