"""Every check that needs one file or one document alone; nothing here looks at other files.

Nothing here raises for bad content: an unexpected exception on a file becomes a
``validator.internal_error`` finding naming the file, so a run goes on and fails closed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ecocompute import domain, ids, reference
from ecocompute.cli import printable
from ecocompute.reference import Reference

from . import (
    buildable,
    contract,
    fabrication,
    hardware,
    idlesteps,
    loading,
    nearfiles,
    outliers,
    paths,
    physics,
    precisions,
    protocol,
    provenance,
    recompute,
    timeline,
)
from .findings import Finding, Severity, capped, make
from .jsonpos import lines_of


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
    # per measurement: its fingerprints joined (fabrication.PRINT_BYTES each), for near-duplicates over files
    fingerprints: list[bytes] = field(default_factory=list)
    gpu: tuple[str, str] | None = None  # (uuid_sha256, the board's identity): one identity per uuid
    # the trials' (start, end) in epoch seconds: one board runs one trial at a time (duplicate.gpu_time)
    busy: tuple[tuple[float, float], ...] = ()
    levels: tuple[outliers.Level, ...] = ()  # passing rows by configuration: history.outlier
    # (row, ids_sha256, new_tokens) of each token check: one hash is of one token count in every file
    token_checks: tuple[tuple[int, str, int], ...] = ()
    copy_runs: tuple[nearfiles.Run, ...] = ()  # runs of four trials by their steps: copies across files
    copy_windows: tuple[nearfiles.Window, ...] = ()  # gate windows by their sorted steps: shuffled copies

    @property
    def accepted(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def display_path(path: Path) -> str:
    """Path as the user sees it: relative to the working directory when below it."""
    rel = os.path.relpath(path.absolute())
    return path.absolute().as_posix() if rel.startswith("..") else Path(rel).as_posix()


def _internal_error(shown: str, exc: BaseException) -> Finding:
    detail = printable(f"{type(exc).__name__}: {exc}", limit=300)
    return make("validator.internal_error", shown, "", f"the validator failed on this file ({detail})")


def check_data(
    data: Any,
    shown: str,
    now: datetime | None = None,
    *,
    repo_path: str | None = None,
    sha256: str | None = None,
    ref: Reference | None = None,
) -> Checked:
    """The checks on a parsed JSON document (no line numbers: there is no text). ``repo_path`` is the
    file's path relative to the repository root (None: outside it, or not a file), ``sha256`` the
    hash of its bytes (None: a document in memory)."""
    try:
        return _check_data(data, shown, now, repo_path, sha256, ref or reference.default(), from_text=None)
    except Exception as exc:  # noqa: BLE001 - a bug must reject the file, never end the run
        return Checked(shown, [_internal_error(shown, exc)], sha256=sha256)


def _check_data(
    data: Any,
    shown: str,
    now: datetime | None,
    repo_path: str | None,
    sha256: str | None,
    ref: Reference,
    from_text: loading.Loaded | None,
) -> Checked:
    """``from_text``: what read the document from a file's text (None: a document in memory)."""
    identity = contract.identify(data, shown)
    if identity:
        return Checked(shown, identity)
    if from_text is None:  # a document in memory: its strings were never read as text
        unsafe = loading.unsafe_strings(data, shown)
        if unsafe:
            return Checked(shown, unsafe)
    schema_findings = contract.check_schema(data, shown)
    if schema_findings:  # an overflowed number reads as null to the schema: say what it really is
        return Checked(shown, loading.nonfinite(data, shown) or schema_findings)
    spelling = contract.integer_spelling(data, shown) + contract.timestamps(data, shown)
    if spelling:
        return Checked(shown, spelling)
    try:
        # canonical JSON: raises on infinity (where null is allowed), unless the parser excluded it
        hashes = ids.measurement_hashes(data, finite=from_text is not None and from_text.finite)
    except ValueError:
        return Checked(shown, loading.nonfinite(data, shown) or [_internal_error(shown, ValueError("hashing"))])
    sub = domain.parse(data)
    findings = paths.name_findings(sub, repo_path, shown)
    findings += provenance.check(sub, shown, now, ref, sha256)
    findings += recompute.check(sub, shown)
    findings += physics.check(sub, shown)
    findings += precisions.check(sub, shown)
    findings += hardware.check(sub, shown, ref)
    spans = timeline.trial_spans(sub)  # sorted once: idle steps and the session's clock both read them
    findings += idlesteps.check(sub, shown, ref, spans)
    findings += protocol.check(sub, shown, spans)
    fabricated, prints = fabrication.check(sub, hashes, shown)
    findings += fabricated
    if not any(f.severity is Severity.ERROR for f in findings):
        findings += buildable.check(sub, hashes, shown, repo_path or shown, sha256)
    gpu = sub.environment.gpu
    identity_of_board = f"{gpu.name} | {gpu.architecture} | {gpu.compute_capability}"
    return Checked(
        shown,
        capped(findings),
        sub.submission_id,
        hashes,
        sha256,
        submission=sub,
        fingerprints=prints,
        gpu=(gpu.uuid_sha256, identity_of_board),
        busy=_busy(sub),
        levels=outliers.levels(sub),
        token_checks=tuple(
            (i, m.engine.token_check.ids_sha256, m.engine.token_check.new_tokens)
            for i, m in enumerate(sub.measurements)
            if m.engine.token_check is not None
        ),
        copy_runs=nearfiles.runs_of(sub),
        copy_windows=nearfiles.windows_of(sub),
    )


def _busy(sub: domain.Submission) -> tuple[tuple[float, float], ...]:
    """When the board ran this file's trials. Trials, not the session's span: a run interrupted and
    resumed (--resume) has a session spanning the pause, in which another run may use the board."""
    if sub.session is None:  # files before schema 1.2.0 recorded no session
        return ()
    start = contract.parse_utc(sub.session.started_at).timestamp()
    return tuple(
        (start + t.started_at_s, start + t.started_at_s + t.duration_s)
        for m in sub.measurements
        for t in m.trials
        if t.started_at_s is not None
    )


def check_document(data: Any, name: str, now: datetime | None = None) -> list[Finding]:
    """Findings for a document in memory (the collector checks what it is about to write)."""
    return check_data(data, name, now).findings


def check_file(path: Path, now: datetime | None = None, ref: Reference | None = None) -> Checked:
    """Every check that needs only this one file; never raises for bad content."""
    shown = display_path(path)
    try:
        loaded = loading.load(path, shown)
        repo_path = paths.repo_relative(path)
        policy = paths.policy_findings(repo_path, shown)
        if loaded.data is None and loaded.findings:
            return Checked(loaded.path, policy + loaded.findings, sha256=loaded.sha256)
        checked = _check_loaded(loaded, now, repo_path, ref)
        checked.findings = _with_lines(policy + loaded.findings + checked.findings, loaded.text or "")
        checked.sha256 = loaded.sha256
        return checked
    except Exception as exc:  # noqa: BLE001 - a bug must reject the file, never end the run
        return Checked(shown, [_internal_error(shown, exc)])


def _check_loaded(
    loaded: loading.Loaded, now: datetime | None, repo_path: str | None, ref: Reference | None
) -> Checked:
    try:
        ref = ref or reference.default()
        return _check_data(loaded.data, loaded.path, now, repo_path, loaded.sha256, ref, from_text=loaded)
    except Exception as exc:  # noqa: BLE001 - a bug must reject the file, never end the run
        return Checked(loaded.path, [_internal_error(loaded.path, exc)], sha256=loaded.sha256)


def _with_lines(findings: list[Finding], text: str) -> list[Finding]:
    """Line numbers for every finding, from one pass over the text."""
    wanted = [f.pointer for f in findings if f.line is None and f.pointer]
    if not wanted or not text:
        return findings
    lines = lines_of(text, wanted)
    return [
        Finding(f.code, f.severity, f.file, f.pointer, f.message, lines.get(f.pointer))
        if f.line is None and f.pointer in lines
        else f
        for f in findings
    ]
