"""Validate a set of files: per-file checks on every core, then what needs several files
(duplicates, append-only history), gathered into one report."""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ecocompute import parallel
from ecocompute.cli import EcoError

from . import history
from .check import Checked, check_file
from .findings import Finding, Severity, make


class UsageError(EcoError):
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


def _check_chunk(paths: list[Path], now: datetime | None) -> list[Checked]:
    """Per-file checks in a worker; the documents stay there, only findings and hashes travel."""
    checked = [check_file(p, now) for p in paths]
    for c in checked:
        c.submission = None
    return checked


def check_files(paths: Sequence[Path], now: datetime | None = None) -> list[Checked]:
    """check_file over many files, on every core when there are enough of them."""
    chunks = parallel.map_chunks(functools.partial(_check_chunk, now=now), list(paths))
    return [c for chunk in chunks for c in chunk]


def cross_file_findings(candidates: Sequence[Checked], accepted: Sequence[Checked]) -> list[Finding]:
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


def accepted_pool(root: Path | None, exclude: Iterable[Path], now: datetime | None = None) -> list[Checked]:
    """The accepted submissions under ``root`` (those that still pass), except the candidates."""
    if root is None or not root.is_dir():
        return []
    skip = {p.absolute() for p in exclude}
    return [c for c in check_files([p for p in discover([root]) if p.absolute() not in skip], now) if c.accepted]


def targets(paths: Sequence[Path], base: str | None) -> tuple[list[Path], list[Finding]]:
    """The files to check (named ones, and with ``base`` the ones added since) and history findings."""
    found = discover(paths)
    history_findings: list[Finding] = []
    if base is not None:
        repo = history.toplevel(Path.cwd())
        history_findings, added = history.check(base, repo)
        found += [repo / a for a in added]
    return list(dict.fromkeys(p.absolute() for p in found)), history_findings


def report_for(candidates: Sequence[Checked], accepted: Sequence[Checked], extra: Sequence[Finding] = ()) -> Report:
    report = Report(files=[c.path for c in candidates])
    for c in candidates:
        report.findings.extend(c.findings)
    report.findings.extend(cross_file_findings(candidates, accepted))
    report.findings.extend(extra)
    return report


def validate(
    paths: Sequence[Path],
    *,
    base: str | None = None,
    accepted_root: Path | None = None,
    now: datetime | None = None,
) -> Report:
    files, history_findings = targets(paths, base)
    candidates = check_files(files, now)
    return report_for(candidates, accepted_pool(accepted_root, files, now), history_findings)


def exit_code(report: Report) -> int:
    """The one place that turns findings into an exit status."""
    return 1 if report.errors else 0
