"""Build accepted submissions and the legacy data into the Hub repository layout, deterministically."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validator.engine import exit_code, validate_checked

from . import card, checks, legacy, tables, writer
from .schemas import CONFIGS

DEFAULT_REPO = "ecocompute/llm-energy"


class BuildError(Exception):
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


def _flatten_file(root: Path, data: dict[str, Any], path: Path, hashes: list[str], file_sha256: str) -> tuple[Any, ...]:
    """Runs in the validator's worker: the file's rows, so documents never cross processes."""
    relative = Path(os.path.relpath(path.absolute(), root)).as_posix()
    return tables.flatten(data, relative, file_sha256, hashes)


def collect_rows(submissions_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Validate every submission (as CI does) and flatten the accepted ones."""
    if not submissions_dir.is_dir():
        raise BuildError(f"submissions folder {submissions_dir} does not exist")
    transform = functools.partial(_flatten_file, submissions_dir.absolute().parent)
    report, checked = validate_checked([submissions_dir], accepted_root=None, transform=transform)
    if exit_code(report):
        shown = [f"{f.file}: {f.code} {f.pointer}: {f.message}" for f in report.errors[:10]]
        raise BuildError(f"{len(report.errors)} validation error(s), nothing built:\n  " + "\n  ".join(shown))
    rows: dict[str, list[dict[str, Any]]] = {"measurements": [], "trials": [], "submissions": []}
    for c in checked:
        measurements, trials, submission = c.payload
        rows["measurements"] += measurements
        rows["trials"] += trials
        rows["submissions"].append(submission)
    tables.add_fp16_ratios(rows["measurements"])
    return rows


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Millions of acyclic row dicts would make every full collection rescan them: 30 % of a 100k build."""
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
    rows = collect_rows(submissions_dir)
    rows["legacy"] = legacy.rows(legacy_dir)
    arrow = {name: writer.to_table(name, rows[name], schema) for name, schema in CONFIGS.items()}
    try:
        checks.check({name: table.to_pandas() for name, table in arrow.items()})
    except checks.BuildCheckError as exc:
        raise BuildError(str(exc)) from exc
    counts = {name: table.num_rows for name, table in arrow.items()}
    years = sorted({m["created_at"][:4] for m in rows["measurements"]}) or ["2026"]
    text = card.render(
        version=version,
        repo_id=repo_id,
        year=years[-1],
        measurements=rows["measurements"],
        counts=counts,
        sizes={name: table.nbytes for name, table in arrow.items()},
        legacy_cv=legacy.raw_sweep_cv(legacy_dir),
        discrepancies=legacy.discrepancies(legacy_dir),
        changelog=_changelog(changelog),
    )
    # Write into a fresh folder beside the target, then swap: a failed build leaves no half dataset.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for name, table in arrow.items():
            writer.write(table, staging, name)
        card.write(text, staging)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return BuildResult(out_dir, counts)
