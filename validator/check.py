"""Every check that needs one file or one document alone; nothing here looks at other files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ecocompute import domain, ids

from . import contract, loading, physics, protocol, provenance, recompute
from .findings import Finding, Severity, make
from .jsonpos import line_of


@dataclass
class Checked:
    """One file after the per-file checks: its findings and, once it passed the schema, what the run
    over files and the dataset builder need of it."""

    path: str  # as shown to the user
    findings: list[Finding]
    submission_id: str | None = None  # set once the document passed the schema
    hashes: list[str] = field(default_factory=list)  # one per measurement: duplicates and row ids
    sha256: str | None = None  # of the bytes read
    submission: domain.Submission | None = None  # dropped before results cross processes

    @property
    def accepted(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def display_path(path: Path) -> str:
    """Path as the user sees it: relative to the working directory when below it."""
    rel = os.path.relpath(path.absolute())
    return path.absolute().as_posix() if rel.startswith("..") else Path(rel).as_posix()


def check_data(data: Any, shown: str, now: datetime | None = None) -> Checked:
    """The checks on a parsed JSON document (no line numbers: there is no text)."""
    identity = contract.identify(data, shown)
    if identity:
        return Checked(shown, identity)
    schema_findings = contract.check_schema(data, shown)
    if schema_findings:
        return Checked(shown, schema_findings)
    sub = domain.parse(data)
    findings: list[Finding] = []
    stem = Path(shown).name.removesuffix(".json")
    if shown.startswith("submissions/") and stem != sub.submission_id:
        findings.append(
            make(
                "file.name_mismatch",
                shown,
                "/submission_id",
                f"file {stem}.json holds submission_id {sub.submission_id!r}",
            )
        )
    findings += provenance.check(sub, shown, now)
    findings += recompute.check(sub, shown)
    findings += physics.check(sub, shown)
    findings += protocol.check(sub, shown)
    return Checked(shown, findings, sub.submission_id, ids.measurement_hashes(data), submission=sub)


def check_document(data: Any, name: str, now: datetime | None = None) -> list[Finding]:
    """Findings for a document in memory (the collector checks what it is about to write)."""
    return check_data(data, name, now).findings


def check_file(path: Path, now: datetime | None = None) -> Checked:
    """Every check that needs only this one file; never raises for bad content."""
    loaded = loading.load(path, display_path(path))
    if loaded.data is None and loaded.findings:
        return Checked(loaded.path, loaded.findings, sha256=loaded.sha256)
    checked = check_data(loaded.data, loaded.path, now)
    checked.findings = _with_lines(loaded.findings + checked.findings, loaded.text or "")
    checked.sha256 = loaded.sha256
    return checked


def _with_lines(findings: list[Finding], text: str) -> list[Finding]:
    out = []
    for f in findings:
        if f.line is None and f.pointer and text:
            f = Finding(f.code, f.severity, f.file, f.pointer, f.message, line_of(text, f.pointer))
        out.append(f)
    return out
