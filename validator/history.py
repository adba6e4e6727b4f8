"""Append-only guard: against a base git ref, accepted submissions may only be added to."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ecocompute import reference, smallfile
from ecocompute.checksums import sum_line
from ecocompute.cli import EcoError

from .findings import MAX_SHOWN_PER_CODE, Finding, make

SUBMISSIONS_DIR = "submissions/"
# The tables that judge every file (boards, models, collectors, prompts): a pull request may add its
# board there, so CI shows each changed table to the maintainer who reviews it.
REFERENCE_DIR = "ecocompute/reference/"
# The files accepted under an older schema version, frozen by their bytes: a row exempts those bytes
# from the current version, so a row may only freeze a file that the base already holds.
ACCEPTED_TABLE = REFERENCE_DIR + "accepted.json"


# GitHub logins: letters, digits and hyphens, at most 39 characters (case-insensitive); a GitHub App
# acts as "<name>[bot]" (it may open a pull request, and gets a finding, not a usage error).
GITHUB_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?(?:\[bot\])?")


class GitError(EcoError):
    """git could not answer (not a repository, unknown ref): a usage error, not a finding."""


@dataclass(frozen=True)
class Change:
    status: str  # A, M, D, R, T, C
    path: str
    old_path: str | None = None


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed") from exc
    if done.returncode != 0:
        # git's message may run over lines (an error, then hints): one line, as every CLI error is
        said = " ".join(line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip())
        raise GitError(said or f"git {' '.join(args)} failed")
    return done.stdout


def _commit(repo: Path, base: str) -> None:
    """``base`` names a commit here; else a usage error that says so (git --quiet says nothing)."""
    try:
        _git(repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except GitError as exc:
        raise GitError(f"--base {base}: no such commit in {repo} (fetch it first, e.g. git fetch origin main)") from exc


def toplevel(path: Path) -> Path:
    """The root of the git work tree that holds ``path``."""
    return Path(_git(path, "rev-parse", "--show-toplevel").decode().strip())


def changes(base: str, repo: Path, folder: str = SUBMISSIONS_DIR) -> list[Change]:
    """Changes under ``folder`` (submissions/) from ``base`` to the working tree, untracked files included."""
    _commit(repo, base)
    raw = _git(repo, "diff", "-z", "--name-status", "-M", "--no-ext-diff", base, "--", folder)
    fields = [f.decode("utf-8", "surrogateescape") for f in raw.split(b"\0") if f]
    out: list[Change] = []
    i = 0
    while i < len(fields):
        status = fields[i][0]
        if status in "RC":
            out.append(Change(status, fields[i + 2], fields[i + 1]))
            i += 3
        else:
            out.append(Change(status, fields[i + 1]))
            i += 2
    untracked = _git(repo, "ls-files", "-z", "--others", "--exclude-standard", "--", folder)
    out.extend(Change("A", f.decode("utf-8", "surrogateescape")) for f in untracked.split(b"\0") if f)
    return out


def reference_changes(base: str, repo: Path) -> list[Finding]:
    """reference.changed (a warning) for each reference table that differs from ``base``."""
    raw = _git(repo, "diff", "-z", "--name-only", "--no-ext-diff", base, "--", REFERENCE_DIR)
    raw += _git(repo, "ls-files", "-z", "--others", "--exclude-standard", "--", REFERENCE_DIR)
    paths = sorted({f.decode("utf-8", "surrogateescape") for f in raw.split(b"\0") if f.endswith(b".json")})
    return [
        make(
            "reference.changed",
            path,
            "",
            f"{path} differs from {base}: the files of this change are judged by the changed table",
        )
        for path in paths
    ]


# The tables' rows by what names them: a pull request that adds submissions may add rows (its new board
# or model, for a maintainer to check against its source), never change or remove one, since every
# accepted file is judged by it (a board's limits loosened, a model's count lowered, a release moved).
ROW_KEYS = {
    REFERENCE_DIR + "gpus.json": ("gpus", ("name",)),
    REFERENCE_DIR + "models.json": ("models", ("id",)),
    REFERENCE_DIR + "prompts.json": ("builtin", ("sha256",)),
    REFERENCE_DIR + "collectors.json": ("releases", ("name", "version")),
    # a file frozen there and no longer listed fails the current version, and leaves the accepted pool
    # that duplicates and outliers are judged against (attack v8)
    ACCEPTED_TABLE: ("files", ("sha256",)),
}


def _table(repo: Path, path: str) -> bytes | None:
    """The pull request's copy of a table, read as the reference loader reads it (a regular file within
    its cap): a link to /dev/zero held the run for ever, a 2-GB table filled memory. None where it cannot
    be read so; the loader then refuses it in one line."""
    try:
        return smallfile.read_bytes(repo / path, reference.MAX_TABLE_BYTES)
    except smallfile.SmallFileError:
        return None


def _parsed(raw: bytes | None) -> object:
    """A table's JSON, or None where it is not JSON (nested past the parser's depth too): the loader's to
    refuse."""
    try:
        return json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        return None


def _keyed_rows(raw: bytes | None, path: str) -> dict[str, dict[str, object]]:
    """A table's rows by their key (shown as text); a broken table has none here (the loader refuses it)."""
    listed, key = ROW_KEYS[path]
    data = _parsed(raw)
    rows = data.get(listed) if isinstance(data, dict) else None
    out: dict[str, dict[str, object]] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict):
            out.setdefault(" ".join(str(row.get(k)) for k in key), row)
    return out


# What a contributor's pull request may add: its board and its model. A collector release or a built-in
# prompt is the project's own to add (a made-up release 0.4.9 took the leniencies kept for 0.1.0-0.5.0
# files: attack v8 U4); maintainers (no --author) may add either.
CONTRIBUTOR_ROWS = (REFERENCE_DIR + "gpus.json", REFERENCE_DIR + "models.json")


def reference_rows_changed(base: str, repo: Path, paths: list[str], *, contributor: bool = False) -> list[Finding]:
    """reference.row_changed for each row of a base table that the change edits or removes, and, for a
    ``contributor`` (--author), each row added to a table that is not theirs to extend."""
    findings: list[Finding] = []
    for path in paths:
        if path not in ROW_KEYS:
            continue
        now = _keyed_rows(_table(repo, path), path)
        before = _keyed_rows(_blob(repo, base, path), path)
        if contributor and path not in CONTRIBUTOR_ROWS and path != ACCEPTED_TABLE:
            findings += [
                make(
                    "reference.row_changed",
                    path,
                    "",
                    f"the row {key[:120]!r} is added to {path}: collector releases and built-in prompts are added by "
                    "maintainers",
                )
                for key in now
                if key not in before
            ]
        for key, row in before.items():
            after = now.get(key)
            if after == row:
                continue
            fields = (
                "removed"
                if after is None
                else ", ".join(sorted(k for k in {*row, *after} if row.get(k) != after.get(k)))
            )
            findings.append(
                make(
                    "reference.row_changed",
                    path,
                    "",
                    f"the row {key[:120]!r} of {path} differs from {base} ({fields[:200]}): the accepted files are "
                    "judged by it",
                )
            )
    return findings


def _accepted_rows(raw: bytes | None) -> list[dict[str, object]]:
    data = _parsed(raw)  # a broken table is the reference loader's to refuse (a usage error)
    rows = data.get("files") if isinstance(data, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _blob(repo: Path, base: str, path: str) -> bytes | None:
    try:
        return _git(repo, "cat-file", "blob", f"{base}:{path}")
    except GitError:
        return None


def accepted_rows_added(base: str, repo: Path) -> list[Finding]:
    """history.accepted_added for each row of accepted.json that is not the base's and does not name a
    file the base holds with those bytes: the table freezes files accepted before, never a new one."""
    table = _table(repo, ACCEPTED_TABLE)
    if table is None:
        return []
    before = _blob(repo, base, ACCEPTED_TABLE)
    known = {r.get("sha256") for r in _accepted_rows(before or b"{}")}
    findings: list[Finding] = []
    new = [r for r in _accepted_rows(table) if r.get("sha256") not in known]
    for n, row in enumerate(new):
        sha, path = row.get("sha256"), row.get("path")
        if len(findings) == MAX_SHOWN_PER_CODE:  # each row asks git once: a 1-MiB table holds ~10,000
            findings.append(
                make(
                    "history.accepted_added",
                    ACCEPTED_TABLE,
                    "",
                    f"{ACCEPTED_TABLE} gains {len(new) - n} more row(s), not judged after {MAX_SHOWN_PER_CODE} refused",
                )
            )
            break
        held = _blob(repo, base, path) if isinstance(path, str) and path.startswith(SUBMISSIONS_DIR) else None
        if held is not None and hashlib.sha256(held).hexdigest() == sha:
            continue
        findings.append(
            make(
                "history.accepted_added",
                ACCEPTED_TABLE,
                "",
                f"{ACCEPTED_TABLE} gains a row (sha256 {str(sha)[:16]}...) for bytes that {base} does not hold at "
                f"{str(path)[:120]}: an older schema version is valid only for files accepted before this change",
            )
        )
    return findings


# The researcher's files, copied verbatim, and their checksums: eco-dataset build imports them into the legacy
# config checking only that each file holds the bytes SHA256SUMS lists, which a change may edit too, so the gate
# is that neither changes (attack v19: a pull request adding a submission also edited a published number and its
# checksum line, and eco-validate judged submissions/ only).
LEGACY_DIR = "legacy/"
LEGACY_SUMS = LEGACY_DIR + "SHA256SUMS"


def _sum_lines(raw: bytes | None) -> list[str]:
    return [line for line in (raw or b"").decode("utf-8", "replace").splitlines() if line.strip()]


def legacy_changes(base: str, repo: Path, *, contributor: bool = False) -> list[Finding]:
    """history.legacy_changed for each change under legacy/ that edits, removes or renames a file the base's
    SHA256SUMS lists, or removes or edits a line of SHA256SUMS (lines may be added, with a new copy); for a
    ``contributor``, every change there."""
    changed = changes(base, repo, LEGACY_DIR)
    sums = _sum_lines(_blob(repo, base, LEGACY_SUMS)) if changed else []
    listed = {LEGACY_DIR + parsed[1] for parsed in map(sum_line, sums) if parsed}
    findings: list[Finding] = []
    for change in changed:
        what = {"A": "added", "C": "added", "D": "removed", "R": f"renamed from {change.old_path}"}.get(
            change.status, "edited"
        )
        if contributor:
            why = "a contributor's pull request adds submissions only"
        elif change.path == LEGACY_SUMS and change.status != "D":
            now = _table(repo, LEGACY_SUMS)
            if now is not None and set(sums) <= set(_sum_lines(now)):
                continue  # lines added for a new copy
            why = "a checksum line of the base is changed or gone"
        elif LEGACY_SUMS in (change.path, change.old_path):  # removed, or renamed to another name
            why = "it holds the checksums of the researcher's files"
        elif change.path in listed or change.old_path in listed:
            why = "the file is one of the researcher's, listed in SHA256SUMS"
        else:
            continue  # a maintainer's new copy, or the project's own notes there (README.md, DISCREPANCIES.json)
        findings.append(
            make(
                "history.legacy_changed",
                change.path,
                "",
                f"{change.path} is {what} since {base}: {why}; legacy/ holds the researcher's files verbatim",
            )
        )
    if len(findings) > MAX_SHOWN_PER_CODE:  # one a file: a contributor adding thousands got thousands
        more = len(findings) - MAX_SHOWN_PER_CODE
        findings[MAX_SHOWN_PER_CODE:] = [
            make("history.legacy_changed", LEGACY_DIR, "", f"{more} more change(s) under {LEGACY_DIR} not shown")
        ]
    return findings


def check(base: str, repo: Path, *, contributor: bool = False) -> tuple[list[Finding], list[str]]:
    """Findings for forbidden changes and changed reference tables, and the repo-relative paths of
    added files; ``contributor``: the pull request's author is held to --author's rules."""
    _commit(repo, base)  # before base reaches any git command
    findings: list[Finding] = reference_changes(base, repo)
    if any(f.file == ACCEPTED_TABLE for f in findings):
        findings += accepted_rows_added(base, repo)
    changed = [f.file for f in findings if f.code == "reference.changed"]
    findings += reference_rows_changed(base, repo, changed, contributor=contributor)
    findings += legacy_changes(base, repo, contributor=contributor)
    added: list[str] = []
    for change in changes(base, repo):
        if change.status == "A" or change.status == "C":
            added.append(change.path)
        elif change.status == "D":
            findings.append(make("history.deleted", change.path, "", f"{change.path} exists at {base} and was deleted"))
        elif change.status == "R":
            findings.append(
                make(
                    "history.renamed",
                    change.path,
                    "",
                    f"{change.old_path} (accepted at {base}) was renamed to {change.path}",
                )
            )
        else:  # M, T (e.g. replaced by a symlink), U
            findings.append(
                make("history.modified", change.path, "", f"{change.path} differs from its accepted version at {base}")
            )
    return findings, added


def author_findings(added: list[str], author: str) -> list[Finding]:
    """file.handle_author for each added file outside submissions/<author>/: the folder name is the
    contributor's handle, which the pull request's author must not choose for someone else. GitHub
    logins are ASCII and case-insensitive, so the comparison is too (casefold would match a Kelvin
    sign with a K)."""
    findings = []
    for path in added:
        parts = path.split("/")
        if len(parts) >= 3 and not (parts[1].isascii() and parts[1].lower() == author.lower()):
            findings.append(
                make(
                    "file.handle_author",
                    path,
                    "",
                    f"added by {author} to submissions/{parts[1]}/: a contributor adds files to the folder of their own "
                    "GitHub login",
                )
            )
    return findings
