"""Build accepted submissions and the legacy data into the Hub repository layout, deterministically."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from ecocompute import parallel, rows
from ecocompute.cli import EcoError
from ecocompute.columns import CONFIGS
from validator.check import Checked, check_file
from validator.run import discover, exit_code, report_for

from . import card, checks, legacy, outdir, writer

DEFAULT_REPO = "ecocompute/llm-energy"
T = TypeVar("T")
_SUBMITTED = ("measurements", "trials", "submissions")


class BuildError(EcoError):
    """Submissions that do not validate, or tables that break a rule: nothing is written."""


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    counts: dict[str, int]


def _changelog(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    return text.split("\n", 1)[1] if text.startswith("# ") else text  # drop the file's own title


def _check_and_flatten(root: Path, paths: list[Path]) -> tuple[list[Checked], dict[str, pa.Table]]:
    """In a worker: validate one chunk of files and flatten the accepted ones into unsorted Arrow
    tables, which cross processes as buffers instead of documents or millions of row dicts."""
    measurements: list[rows.Row] = []
    submissions: list[rows.Row] = []
    trials: rows.Columns = {name: [] for name in CONFIGS["trials"].names}
    checked = []
    for path in paths:
        c = check_file(path)
        if c.submission is not None and c.accepted:
            relative = Path(os.path.relpath(path.absolute(), root)).as_posix()
            file_measurements, file_trials, submission = rows.flatten(c.submission, relative, c.sha256 or "", c.hashes)
            measurements += file_measurements
            submissions.append(submission)
            for name, values in trials.items():
                values += file_trials[name]
        c.submission = None
        checked.append(c)
    return checked, {
        "measurements": writer.unsorted_table(measurements, CONFIGS["measurements"]),
        "trials": pa.table(trials, schema=CONFIGS["trials"]),
        "submissions": writer.unsorted_table(submissions, CONFIGS["submissions"]),
    }


def _with_fp16_ratios(measurements: pa.Table) -> pa.Table:
    needed = {*rows.FP16_KEY, "measurement_id", "precision", "energy_per_token_j", "throughput_tok_s"}
    energy_vs, throughput_vs = rows.fp16_ratios({c: measurements.column(c).to_pylist() for c in needed})
    for column, values in (("energy_vs_fp16", energy_vs), ("throughput_vs_fp16", throughput_vs)):
        i = measurements.schema.get_field_index(column)
        measurements = measurements.set_column(i, measurements.schema.field(i), pa.array(values, pa.float64()))
    return measurements


def collect_tables(submissions_dir: Path) -> dict[str, pa.Table]:
    """Validate every submission (as CI does) and turn the accepted ones into sorted tables."""
    if not submissions_dir.is_dir():
        raise BuildError(f"submissions folder {submissions_dir} does not exist (--submissions)")
    paths = list(dict.fromkeys(p.absolute() for p in discover([submissions_dir])))
    chunks = parallel.map_chunks(functools.partial(_check_and_flatten, submissions_dir.absolute().parent), paths)
    report = report_for([c for checked, _ in chunks for c in checked], accepted=[])
    if exit_code(report):
        shown = [f"{f.file}: {f.code} {f.pointer}: {f.message}" for f in report.errors[:10]]
        raise BuildError(f"{len(report.errors)} validation error(s), nothing built:\n  " + "\n  ".join(shown))
    out = _in_threads(
        {
            name: functools.partial(writer.finish, name, [b[name] for _, b in chunks], CONFIGS[name])
            for name in _SUBMITTED
        }
    )
    out["measurements"] = _with_fp16_ratios(out["measurements"])
    return out


def _in_threads(calls: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Arrow's sorting and Parquet writing release the GIL: one table per thread overlaps them."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {name: pool.submit(call) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Millions of acyclic objects (documents, rows) would make every full collection rescan them;
    forked validator workers inherit the setting."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build(
    submissions_dir: Path,
    legacy_dir: Path,
    out_dir: Path,
    *,
    version: str = "0.0.0-dev",
    repo_id: str = DEFAULT_REPO,
    changelog: Path | None = None,
) -> BuildResult:
    with _no_cyclic_gc():
        return _build(submissions_dir, legacy_dir, out_dir, version=version, repo_id=repo_id, changelog=changelog)


def _build(
    submissions_dir: Path, legacy_dir: Path, out_dir: Path, *, version: str, repo_id: str, changelog: Path | None
) -> BuildResult:
    out_dir = outdir.target(out_dir)
    outdir.check(out_dir)  # refuse a folder that is not ours before minutes of work, not after
    if not legacy_dir.is_dir():
        raise BuildError(f"legacy folder {legacy_dir} does not exist (--legacy): point it at the project's legacy/")
    arrow = collect_tables(submissions_dir)
    arrow["legacy"] = writer.to_table("legacy", legacy.rows(legacy_dir), CONFIGS["legacy"])
    arrow = {name: arrow[name] for name in CONFIGS}
    try:
        checks.check({name: table.select(checks.columns(name)).to_pandas() for name, table in arrow.items()})
    except checks.BuildCheckError as exc:
        raise BuildError(str(exc)) from exc
    counts = {name: table.num_rows for name, table in arrow.items()}
    latest = pc.max(arrow["measurements"].column("created_at")).as_py()
    text = card.render(
        version=version,
        repo_id=repo_id,
        year=latest[:4] if latest else "2026",
        measurements=arrow["measurements"],
        counts=counts,
        sizes={name: table.nbytes for name, table in arrow.items()},
        legacy_cv=legacy.raw_sweep_cv(legacy_dir),
        discrepancies=legacy.discrepancies(legacy_dir),
        changelog=_changelog(changelog),
    )

    def write(staging: Path) -> None:
        _in_threads({name: functools.partial(writer.write, table, staging, name) for name, table in arrow.items()})
        card.write(text, staging)

    outdir.replace(out_dir, write)  # a failed build leaves no half dataset and deletes nothing foreign
    return BuildResult(out_dir, counts)
