"""Build accepted submissions and the legacy data into the Hub repository layout, deterministically.

Where the time goes, and why the code is shaped so: validating and flattening a file is the bulk and
runs in worker processes, which send back Arrow tables (buffers, not documents or row dicts). The
parent then overlaps what releases the GIL (Parquet encoding, in threads) with what does not (the
pandera checks, the card and its figures), while a large build's report section is drawn in a forked
process of its own (parallel.aside), all into a staging folder that replaces --out only when
everything succeeded (outdir.py).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ecocompute import parallel, reference, rows
from ecocompute.cli import printable
from ecocompute.columns import CONFIGS
from ecocompute.names import M, S, T
from validator import paths as policy
from validator.check import Checked, check_file
from validator.run import discover, exit_code, report_for

from . import card, checks, figures, legacy, outdir, report, results, versions, writer
from .changelog import changelog_entries
from .errors import BuildError, BuildOptionError

DEFAULT_REPO = "ecocompute/llm-energy"
# Beyond this many measurements the report runs in a process of its own (2.5 s of 4 at 100,000 rows
# saved on two cores); a smaller build keeps it in process, where figures drawn before are reused
# (advisor.report looks figures up up to the same number of rows).
REPORT_ASIDE_MIN_ROWS = 20_000
_SUBMITTED = ("measurements", "trials", "submissions")


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    counts: dict[str, int]
    version: str
    timings: dict[str, float]  # seconds per step, in order (benchmarks/build_dataset.py prints them)
    warnings: tuple[str, ...]  # for the command to show: the build is in place all the same (folders.Swap)


class _Clock:
    def __init__(self) -> None:
        self.steps: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, step: str, *, beyond_inner: bool = False) -> Iterator[None]:
        """Time ``step``; ``beyond_inner``: less the steps timed inside it, so that no second is
        counted twice (the staging step holds the report, the figures and the card)."""
        start, inner = time.perf_counter(), sum(self.steps.values())
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            if beyond_inner:
                elapsed -= sum(self.steps.values()) - inner
            self.steps[step] = self.steps.get(step, 0.0) + elapsed


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is a Hub dataset repository id, owner/name (the Hub's own validator); the card
    renders it inside code, a URL and BibTeX, so only such ids ever reach it."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise BuildOptionError(f"--repo {printable(repo_id, limit=120)} is not a Hub repository id: {exc}") from None
    if repo_id.count("/") != 1:
        raise BuildOptionError(
            f"--repo {printable(repo_id, limit=120)} is not a Hub dataset repository id: give owner/name"
        )
    return repo_id


def _checked(path: Path, folder: Path, ref: reference.Reference) -> tuple[Checked, str]:
    """eco-validate's checks on one file, and its path in the dataset (the file_path column):
    submissions/<handle>/<file>.json relative to the folder given, whatever that folder is named or
    wherever it lies, policed as the repository's submissions/ is (eco-validate polices a path
    relative to the repository root, so a folder elsewhere was built with any file name)."""
    c = check_file(path, ref=ref)
    relative = os.path.relpath(path, folder)  # relpath makes both absolute, as Path.absolute() did
    if os.sep != "/":  # a Path only where the separator differs: 1 % of the worker, for nothing, on POSIX
        relative = Path(relative).as_posix()
    published = f"{policy.SUBMISSIONS}/{relative}"
    if policy.repo_relative(path) != published:  # eco-validate judged another path, or none
        named = policy.name_findings(c.submission, published, c.path) if c.submission is not None else []
        c.findings = policy.policy_findings(published, c.path) + named + c.findings
    return c, published


def _check_and_flatten(folder: Path, paths: list[Path]) -> tuple[list[Checked], dict[str, pa.Table]]:
    """In a worker: validate one chunk of the files under the submissions ``folder`` and flatten the
    accepted ones into unsorted Arrow tables, which cross processes as buffers instead of documents
    or millions of row dicts."""
    measurements: list[rows.Row] = []
    submissions: list[rows.Row] = []
    trials: rows.Columns = {name: [] for name in CONFIGS["trials"].names}
    checked = []
    ref = reference.default()  # once per chunk, as eco-validate's workers do: it stats five files
    for path in paths:
        c, relative = _checked(path, folder, ref)
        if c.submission is not None and c.accepted:
            file_measurements, file_trials, submission = rows.flatten(c.submission, relative, c.sha256 or "", c.hashes)
            measurements += file_measurements
            submissions.append(submission)
            for name, values in trials.items():
                values += file_trials[name]
        c.submission = None
        c.levels = ()  # history.outlier compares with an accepted pool: the build has none (report_for)
        checked.append(c)
    return checked, {
        "measurements": writer.unsorted_table(measurements, CONFIGS["measurements"]),
        "trials": pa.table(trials, schema=CONFIGS["trials"]),
        "submissions": writer.unsorted_table(submissions, CONFIGS["submissions"]),
    }


def validated_tables(submissions_dir: Path) -> dict[str, pa.Table]:
    """Validate every submission (as CI does) and flatten the accepted ones: unsorted tables."""
    _folder(submissions_dir, "submissions folder", "--submissions", "give the folder that holds the JSON files")
    if submissions_dir.is_symlink():  # eco-validate follows no link: the folder read as one link, path 'submissions/.'
        raise BuildOptionError(
            f"submissions folder {printable(str(submissions_dir))} is a symbolic link (--submissions): give the "
            f"folder itself ({printable(os.path.realpath(submissions_dir))}); links are never followed"
        )
    paths = list(dict.fromkeys(p.absolute() for p in discover([submissions_dir])))
    chunks = parallel.map_chunks(functools.partial(_check_and_flatten, submissions_dir.absolute()), paths)
    report = report_for([c for checked, _ in chunks for c in checked], accepted=[])
    if exit_code(report):
        # each escaped on its own, as eco-validate's text report shows it: the lines are joined into one
        # by the error handler, and a raw line break (or U+2028) in a file name split the name there
        shown = [
            printable(f"{f.file}: {f.code}" + (f" [{f.pointer}]" if f.pointer else "") + f": {f.message}", limit=300)
            for f in report.errors[:10]
        ]
        raise BuildError(f"{len(report.errors)} validation error(s), nothing built:\n  " + "\n  ".join(shown))
    return {name: writer.concat([b[name] for _, b in chunks], CONFIGS[name]) for name in _SUBMITTED}


def trial_order(trials: pa.Table, measurement_ids: pa.ChunkedArray) -> pa.Array:
    """The trials' positions in SORT_KEYS order (measurement_id, trial_index) given the sorted measurement
    ids: the rank of each trial's measurement and its index are integers, 10x cheaper to order than the ids."""
    rank = pc.fill_null(pc.index_in(trials.column(T.measurement_id), value_set=measurement_ids), -1)
    return pa.array(np.lexsort((trials.column(T.trial_index).to_numpy(), rank.to_numpy())))


def in_order(trials: pa.Table, order: pa.Array) -> pa.Table:
    """``trials`` taken in ``order`` (``trial_order``), one chunk per column: its layout, and so its size,
    does not depend on how the files were cut into chunks."""
    return trials.take(order).combine_chunks()


def with_fp16_ratios(measurements: pa.Table) -> pa.Table:
    needed = [*rows.FP16_KEY, M.measurement_id, M.precision, M.energy_per_token_j, M.throughput_tok_s]
    energy_vs, throughput_vs = rows.fp16_ratios(measurements.select(needed).to_pydict())
    for column, values in ((M.energy_vs_fp16, energy_vs), (M.throughput_vs_fp16, throughput_vs)):
        i = measurements.schema.get_field_index(column)
        measurements = measurements.set_column(i, measurements.schema.field(i), pa.array(values, pa.float64()))
    return measurements


def _result(pending: parallel.Aside[str]) -> str:
    """The report's Markdown from its process; a process that died (out of memory, killed) says so."""
    try:
        return pending.result()
    except parallel.ChildDied as exc:
        raise BuildError(f"the process drawing the report ended unexpectedly ({exc}); nothing built") from exc


def _folder(path: Path, what: str, option: str, fix: str) -> None:
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise BuildOptionError(f"{what} {printable(str(path))} {state} ({option}): {fix}")


def _legacy(folder: Path) -> legacy.Legacy:
    _folder(folder, "legacy folder", "--legacy", "point it at the project's legacy/")
    try:
        return legacy.load(folder)
    except legacy.LegacyError as exc:
        raise BuildError(str(exc)) from exc


def _check(tables: dict[str, pa.Table]) -> None:
    try:
        checks.check(tables)
    except checks.BuildCheckError as exc:
        raise BuildError(str(exc)) from exc


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
    version: str | None = None,
    repo_id: str = DEFAULT_REPO,
    changelog: Path | None = None,
    changelog_required: bool = True,
) -> BuildResult:
    """Validate, flatten and write the dataset with its card into ``out_dir``. ``version``: X.Y.Z
    for a release, any semantic version for a pre-release; None labels a local build
    ``0.0.0-dev+<digest of the submitted files>`` (versions.py). ``changelog_required``: a missing
    ``changelog`` is an error (False: the card shows no entries)."""
    check_repo_id(repo_id)
    if version is not None:
        versions.parse(version)  # before it heads the changelog's entries, and before minutes of work
    with _no_cyclic_gc():
        changelog_text = changelog_entries(changelog, required=changelog_required, version=version)
        return _build(submissions_dir, legacy_dir, out_dir, version=version, repo_id=repo_id, changelog=changelog_text)


def _build(
    submissions_dir: Path, legacy_dir: Path, out_dir: Path, *, version: str | None, repo_id: str, changelog: str
) -> BuildResult:
    given, out_dir = out_dir, outdir.target(out_dir)
    outdir.apart(out_dir, given, {"--submissions": submissions_dir, "--legacy": legacy_dir})
    # refuse an --out that cannot be made or is not ours (inside an earlier build too) before minutes of work
    outdir.creatable(out_dir, given)
    outdir.check(out_dir)
    label = versions.parse(version) if version is not None else None
    clock = _Clock()
    with clock("read legacy/"):
        held = _legacy(legacy_dir)  # a few kilobytes, read before the long validation so that a bad file fails at once
    with clock("validate and flatten (workers)"):
        tables = validated_tables(submissions_dir)
    with clock("legacy, sort measurements and submissions"):
        tables["legacy"] = writer.to_table("legacy", held.rows, CONFIGS["legacy"])
        tables["submissions"] = writer.finish("submissions", [tables["submissions"]], CONFIGS["submissions"])
        tables["measurements"] = writer.finish("measurements", [tables["measurements"]], CONFIGS["measurements"])
    if label is None:
        label = versions.dev(tables["submissions"].column(S.file_sha256).to_pylist())
    counts = {name: tables[name].num_rows for name in CONFIGS}

    def write(staging: Path) -> None:
        with clock("fp16 ratios (a thread: order trials)"), ThreadPoolExecutor(max_workers=1) as sorter:
            # Arrow and numpy order the trials without the GIL while the ratios are computed; the thread has
            # ended at the fork.
            ordering = sorter.submit(trial_order, tables["trials"], tables["measurements"].column(M.measurement_id))
            tables["measurements"] = with_fp16_ratios(tables["measurements"])
            order = ordering.result()
        # The report's analysis and figures are the longest step that holds the GIL: for a large build
        # they run in a forked process beside the checks, the card's figures and the Parquet writers,
        # forked before any thread of those starts (parallel.aside). Its sums depend on the final order,
        # of the three columns it reads: those alone are taken before it forks, and the whole table's take
        # (25 columns, 120 MB of new memory at 100,000 rows) runs beside it, for its writer.
        shown = in_order(tables["trials"].select(list(report.TRIAL_COLUMNS)), order)
        final = {"measurements": tables["measurements"], "trials": shown, "legacy": tables["legacy"]}
        beside = tables["measurements"].num_rows > REPORT_ASIDE_MIN_ROWS
        source = report.source(repo_id, label)
        pending = parallel.aside(report.write, final, staging, source) if beside else None
        try:
            with ThreadPoolExecutor(max_workers=3) as pool:
                trials = pool.submit(in_order, tables["trials"], order)  # first: the trials' writer waits for it
                written = [
                    pool.submit(writer.write, tables[n], staging, n) for n in ("measurements", "submissions", "legacy")
                ]
                written.append(pool.submit(lambda: writer.write(trials.result(), staging, "trials")))
                with clock("pandera checks (threads: write)"):
                    _check(tables)  # the order of the trials does not matter to the checks
                with clock("results and figures (threads: write)"):
                    found = results.collect(tables["measurements"])
                    drawn = figures.plan(found.settings)
                    figures.draw(drawn, staging)
                with clock("report: crossovers, batch size, power (beside: the wait)"):
                    markdown = _result(pending) if pending else report.write(final, staging, source)
                with clock("wait for the Parquet writers"):
                    # the trials' size is the sorted, single-chunk table's: independent of how files were cut
                    sizes = {name: table.nbytes for name, table in tables.items()} | {"trials": trials.result().nbytes}
                    for future in written:
                        future.result()
        except BaseException:  # any failure, Ctrl-C included: end the report, then re-raise
            if pending is not None:  # ended, not awaited: it must not draw into a staging folder being removed
                pending.stop()
            raise
        with clock("card"):
            latest = pc.max(tables["measurements"].column(M.created_at)).as_py()
            inputs = card.Inputs(
                version=label,
                repo_id=repo_id,
                year=latest[:4] if latest else "2026",
                measurements=tables["measurements"],
                results=found,
                figures=drawn,
                counts=counts,
                sizes=sizes,
                legacy_cv=held.sweep_cv,
                discrepancies=held.discrepancies,
                legacy_sources=held.sources,
                changelog=changelog,
                report=markdown,
            )
            card.write(card.render(inputs), staging)

    with clock("staging folder, mark, swap into --out (rest)", beyond_inner=True):
        # a failed build leaves no half dataset and deletes nothing foreign
        warnings = outdir.replace(out_dir, write)
    return BuildResult(out_dir, counts, label.text, clock.steps, tuple(warnings))
