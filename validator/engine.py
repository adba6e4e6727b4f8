"""Run every check over a set of files and gather the findings into one report."""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import contract, history, loading, physics, provenance, recompute
from .duplicates import submission_hashes
from .findings import Finding, Severity, make
from .jsonpos import line_of


class UsageError(Exception):
    """The command was asked something it cannot do (missing path, bad git ref)."""


@dataclass
class Report:
    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    def rejected_files(self) -> set[str]:
        return {f.file for f in self.errors}


@dataclass
class Checked:
    """One file after all per-file checks: its findings and, if sound enough, its document."""

    path: str
    findings: list[Finding]
    submission_id: str | None = None  # set once the document passed the schema
    hashes: list[str] = field(default_factory=list)  # one per measurement, for duplicates and row ids
    payload: Any = None  # what a caller's ``transform`` made of the document (see validate_checked)


# transform(document, path, measurement hashes, file sha256) -> payload; runs where the file was
# checked, so callers that need the document (the dataset build) get a small result instead of it.
Transform = Callable[[dict[str, Any], Path, list[str], str], Any]
# combine(payloads of one chunk of consecutive files, in order) -> one batch; also runs in the worker,
# so a builder receives a few columnar batches instead of millions of small objects.
Combine = Callable[[list[Any]], Any]


def _display(path: Path) -> str:
    """Path as the user sees it: relative to the working directory when below it."""
    rel = os.path.relpath(path.absolute())
    return path.absolute().as_posix() if rel.startswith("..") else Path(rel).as_posix()


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files named, and *.json files under folders named (symlinks listed, never followed)."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found.extend(Path(root) / f for f in sorted(files) if f.endswith(".json"))
        elif p.exists() or p.is_symlink():
            found.append(p)
        else:
            raise UsageError(f"no such file or folder: {p}")
    return found


def check_file(path: Path, now: datetime | None = None, transform: Transform | None = None) -> Checked:
    """Every check that needs only this one file."""
    loaded = loading.load(path, _display(path))
    shown = loaded.path
    findings = list(loaded.findings)
    if loaded.data is None and findings:
        return Checked(shown, findings)
    data = loaded.data
    identity = contract.identify(data, shown)
    if identity:
        return Checked(shown, findings + identity)
    schema_findings = contract.check_schema(data, shown)
    if schema_findings:
        return Checked(shown, _with_lines(findings + schema_findings, loaded.text or ""))
    stem = Path(shown).name.removesuffix(".json")
    if shown.startswith("submissions/") and stem != data["submission_id"]:
        findings.append(
            make(
                "file.name_mismatch",
                shown,
                "/submission_id",
                f"file {stem}.json holds submission_id {data['submission_id']!r}",
            )
        )
    findings += provenance.check(data, shown, now)
    findings += recompute.check(data, shown)
    findings += physics.check(data, shown)
    hashes = submission_hashes(data)
    payload = transform(data, path, hashes, loaded.sha256 or "") if transform is not None else None
    return Checked(shown, _with_lines(findings, loaded.text or ""), data["submission_id"], hashes, payload)


PARALLEL_MIN_FILES = 256
CHUNK_FILES = 64  # files per worker task; also the unit ``combine`` sees, serial or parallel alike


def _check_chunk(
    paths: list[Path], now: datetime | None, transform: Transform | None, combine: Combine | None
) -> tuple[list[Checked], Any]:
    checked = [check_file(p, now, transform) for p in paths]
    if combine is None:
        return checked, None
    batch = combine([c.payload for c in checked if c.payload is not None])
    for c in checked:
        c.payload = None
    return checked, batch


def _check_all(
    paths: list[Path], now: datetime | None, transform: Transform | None = None, combine: Combine | None = None
) -> tuple[list[Checked], list[Any]]:
    """check_file over many files, on every core when there are enough files to pay for it."""
    chunks = [paths[i : i + CHUNK_FILES] for i in range(0, len(paths), CHUNK_FILES)]
    task = functools.partial(_check_chunk, now=now, transform=transform, combine=combine)
    workers = min(os.cpu_count() or 1, 8)
    if len(paths) < PARALLEL_MIN_FILES or workers < 2:
        results = [task(chunk) for chunk in chunks]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = list(pool.map(task, chunks))
    checked = [c for chunk, _ in results for c in chunk]
    return checked, [batch for _, batch in results if combine is not None]


def _with_lines(findings: list[Finding], text: str) -> list[Finding]:
    out = []
    for f in findings:
        if f.line is None and f.pointer and text:
            f = Finding(f.code, f.severity, f.file, f.pointer, f.message, line_of(text, f.pointer))
        out.append(f)
    return out


def _duplicates(candidates: Sequence[Checked], accepted: Sequence[Checked]) -> list[Finding]:
    """Same measurement or submission id twice: within a file, across candidates, or vs accepted."""
    seen_hash: dict[str, list[tuple[str, int]]] = defaultdict(list)
    seen_id: dict[str, list[str]] = defaultdict(list)
    for c in [*accepted, *candidates]:
        if c.submission_id is None:
            continue
        seen_id[c.submission_id].append(c.path)
        for i, h in enumerate(c.hashes):
            seen_hash[h].append((c.path, i))
    findings = []
    for c in candidates:
        if c.submission_id is None:
            continue
        others = [p for p in seen_id[c.submission_id] if p != c.path]
        if others:
            findings.append(
                make("duplicate.submission_id", c.path, "/submission_id", f"also used by {', '.join(sorted(others))}")
            )
        for i, h in enumerate(c.hashes):
            twins = [f"{p}#/measurements/{j}" for p, j in seen_hash[h] if (p, j) != (c.path, i)]
            if twins:
                findings.append(
                    make(
                        "duplicate.measurement",
                        c.path,
                        f"/measurements/{i}",
                        f"identical to {', '.join(sorted(twins))}",
                    )
                )
    return findings


def validate_checked(
    paths: Sequence[Path],
    *,
    base: str | None = None,
    accepted_root: Path | None = None,
    now: datetime | None = None,
    transform: Transform | None = None,
    combine: Combine | None = None,
) -> tuple[Report, list[Checked], list[Any]]:
    """The report, every checked candidate file (with ``transform``'s payload for builders), and,
    when ``combine`` is given, its batches in file order (the payloads are then consumed)."""
    report = Report()
    history_findings: list[Finding] = []
    targets = discover(paths)
    if base is not None:
        repo = Path(history._git(Path.cwd(), "rev-parse", "--show-toplevel").decode().strip())
        history_findings, added = history.check(base, repo)
        targets += [repo / a for a in added]
    unique = list(dict.fromkeys(p.absolute() for p in targets))
    candidates, batches = _check_all(unique, now, transform, combine)
    candidate_set = set(unique)
    accepted: list[Checked] = []
    if accepted_root is not None and accepted_root.is_dir():
        accepted = _check_all([p for p in discover([accepted_root]) if p.absolute() not in candidate_set], now)[0]
        accepted = [a for a in accepted if not any(f.severity is Severity.ERROR for f in a.findings)]
    report.files = [c.path for c in candidates]
    for c in candidates:
        report.findings.extend(c.findings)
    report.findings.extend(_duplicates(candidates, accepted))
    report.findings.extend(history_findings)
    return report, candidates, batches


def validate(
    paths: Sequence[Path],
    *,
    base: str | None = None,
    accepted_root: Path | None = None,
    now: datetime | None = None,
) -> Report:
    return validate_checked(paths, base=base, accepted_root=accepted_root, now=now)[0]


def exit_code(report: Report) -> int:
    """The one place that turns findings into an exit status."""
    return 1 if report.errors else 0
