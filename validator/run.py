"""Validate a set of files: per-file checks on every core, then what needs several files
(duplicates, append-only history), gathered into one report."""

from __future__ import annotations

import bisect
import functools
import itertools
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ecocompute import parallel, reference
from ecocompute.cli import EcoError, printable

from . import history, nearfiles, outliers, tokenhashes
from .check import Checked, check_file
from .findings import Finding, Severity, capped, make
from .nearfiles import SHOWN_PLACES
from .nearfiles import places as _places
from .paths import root_of_folder


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
    """Files named, and *.json files under folders named. A symbolic link to a folder and a folder that
    cannot be listed are listed too, never followed: each is then a file.not_regular finding of its own
    rather than a silent gap in what was checked (a build would have published without them)."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            _walk(p, found)
        elif p.exists() or p.is_symlink():
            found.append(p)
        else:
            raise UsageError(f"no such file or folder: {printable(str(p))}")
    return found


def _walk(top: Path, found: list[Path]) -> None:
    """os.walk's order (top-down, names sorted) without its recursion: a folder nested a thousand deep
    overflowed Python's stack before 3.12. Appends the *.json entries, the links to folders and the
    folders that cannot be listed to ``found``."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            found.append(folder)  # its files unchecked: a finding of its own (loading names why)
            continue
        below = []
        for entry in entries:
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
                is_link_to_folder = not is_folder and entry.is_symlink() and entry.is_dir()
            except OSError:
                is_folder = is_link_to_folder = False
            if is_folder:
                below.append(Path(entry.path))
            elif is_link_to_folder or entry.name.endswith(".json"):
                found.append(Path(entry.path))
        stack.extend(reversed(below))


def _check_chunk(paths: list[Path], now: datetime | None, reference_dir: str) -> list[Checked]:
    """Per-file checks in a worker; the documents stay there, only findings and hashes travel."""
    ref = reference.cached(reference_dir)
    checked = [check_file(p, now, ref) for p in paths]
    for c in checked:
        c.submission = None
    return checked


def check_files(paths: Sequence[Path], now: datetime | None = None, reference_dir: str | None = None) -> list[Checked]:
    """check_file over many files, on every core when there are enough of them."""
    work = functools.partial(_check_chunk, now=now, reference_dir=reference_dir or str(reference.PACKAGE_DIR))
    try:
        chunks = parallel.map_chunks(work, list(paths))
    except Exception:  # noqa: BLE001 - a worker that died (killed, broken pool): redo the files here
        chunks = [work([p]) for p in paths]
    return [c for chunk in chunks for c in chunk]


def path_order(c: Checked) -> tuple[str, ...]:
    """Sorted path order: by the parts of the path that names the file however it is reached (``same_file``: from
    the root, its folder resolved), so that a folder's files keep together. Not the path as shown, which is
    relative to the working directory only below it: a file outside it (shown from '/') sorted before every file
    inside, and one reached through a link to its folder by the link's name, so the file named depended on
    where the command ran and how the files were named."""
    return Path(same_file(Path(c.path))).parts


def holder_order(c: Checked) -> tuple[bool, tuple[str, ...]]:
    """The order in which candidates become first holders: those their own checks refuse last, each group in
    sorted path order (``path_order``). Between an honest file and one refused anyway, the rule names the
    refused one: which of two copies came first cannot be known, and naming the honest file sent its
    contributor after a fault that was not theirs (review34 F4); the run fails either way."""
    return (not c.accepted, path_order(c))


def cross_file_findings(candidates: Sequence[Checked], accepted: Sequence[Checked]) -> list[Finding]:
    """What needs several files: the same submission id, measurement, trials, GPU uuid or token ids hash
    again, within a file (measurements), across candidates or against the accepted pool. The candidates are
    judged against each other as against the accepted files (attack v24): one pool, the accepted files
    first, then the candidates in ``holder_order`` (sorted path order, files refused on their own last). A
    rule of a first holder (duplicate.measurement, duplicate.near, duplicate.gpu_identity,
    protocol.token_check) names every file after the first that holds the thing, so between two candidates
    the later in that order, however they were named or cut into a build's chunks; duplicate.submission_id
    and duplicate.gpu_time name every candidate involved.
    Each duplicate group is reported once per such file (none twice). And each candidate's passing rows
    against the accepted pool's of their configuration (outliers: the accepted files only, by design). A file's
    findings here are capped per code as its own checks' are (``capped``), and ``report_for`` caps both together."""
    ordered = sorted(candidates, key=holder_order)
    pool = [c for c in [*accepted, *ordered] if c.submission_id is not None]
    seen_id: dict[str, list[str]] = defaultdict(list)
    seen_hash: dict[str, list[tuple[str, int]]] = defaultdict(list)
    board: dict[str, tuple[str, str]] = {}  # uuid hash -> (identity, first file)
    for c in pool:
        seen_id[c.submission_id or ""].append(c.path)
        for i, h in enumerate(c.hashes):
            seen_hash[h].append((c.path, i))
        if c.gpu is not None:
            board.setdefault(c.gpu[0], (c.gpu[1], c.path))
    token_holders = tokenhashes.first_holders(accepted, ordered)
    overlapping = _overlapping_sessions(pool, {c.path for c in candidates}, seen_hash)
    copied = nearfiles.copied_runs(pool, {c.path for c in candidates})
    shuffled = nearfiles.copied_windows(pool, {c.path for c in candidates})
    # each pool file's entry, by the object: a candidate is in the pool (unless it has no id: no entry needed)
    foreign = {id(c): held for c, held in zip(pool, nearfiles.foreign_holders(pool), strict=True)}
    levels = outliers.reference_of([c.levels for c in accepted])
    fastest = outliers.fastest_of([(c.path, c.levels) for c in accepted])
    # each group of files sharing an id sorted once, and each group of identical measurements counted by
    # file once: a candidate's message names the first few of the others and counts the rest, so
    # thousands of copies of one file cost linear time, not a list of all the others per copy (fuzz 7)
    shared_ids = {i: sorted(paths) for i, paths in seen_id.items() if len(paths) > 1}
    per_file = {h: Counter(p for p, _ in places) for h, places in seen_hash.items() if len(places) > 1}
    findings = []
    for c in candidates:
        if c.submission_id is None:
            continue
        mine: list[Finding] = []  # capped as a file's own findings are: thousands of rows say nothing more
        paths = shared_ids.get(c.submission_id, [])
        own = bisect.bisect_right(paths, c.path) - bisect.bisect_left(paths, c.path)
        if len(paths) > own:
            others = [p for p in paths[: SHOWN_PLACES + own] if p != c.path]
            mine.append(
                make(
                    "duplicate.submission_id",
                    c.path,
                    "/submission_id",
                    f"also used by {_places(others, total=len(paths) - own)}",
                )
            )
        mine += _exact(c, seen_hash, per_file) + nearfiles.findings(c, seen_hash, foreign[id(c)], copied, shuffled)
        mine += overlapping.get(c.path, [])
        mine += outliers.findings(c.path, c.levels, levels, fastest)
        mine += tokenhashes.findings(c, token_holders)
        if c.gpu is not None and board[c.gpu[0]][0] != c.gpu[1]:
            identity, first = board[c.gpu[0]]
            mine.append(
                make(
                    "duplicate.gpu_identity",
                    c.path,
                    "/environment/gpu/uuid_sha256",
                    f"this uuid hash is a {c.gpu[1]!r} here but a {identity!r} in {first}",
                )
            )
        findings += capped(mine)
    return findings


# session.started_at is written to the second, so a trial's epoch time is known to a second
SESSION_SLACK_S = 2.0


def _overlapping_sessions(
    pool: Sequence[Checked], candidates: set[str], seen_hash: dict[str, list[tuple[str, int]]]
) -> dict[str, list[Finding]]:
    """duplicate.gpu_time for each candidate with a trial that overlaps a trial of another file on the
    same GPU (uuid hash and board): one board runs one trial at a time. The trials of each board are
    swept in order of start, keeping the latest end so far and the latest of any other file: a trial
    overlaps another file's exactly when that other end lies beyond its start. n log n, whatever the
    number of files on one board. A copy of another file's measurements is duplicate.measurement's."""
    trials: dict[tuple[str, str], list[tuple[float, float, str]]] = defaultdict(list)
    for c in pool:
        if c.gpu is not None:
            trials[c.gpu].extend((start, end, c.path) for start, end in c.busy)
    clashes: dict[str, str] = {}  # file -> a file it overlaps
    for spans in trials.values():
        spans.sort()
        first: tuple[float, str] = (float("-inf"), "")  # the latest end so far, and its file
        second: tuple[float, str] = (float("-inf"), "")  # the latest end of any file but first's
        for start, end, path in spans:
            other = first if first[1] != path else second
            if other[0] > start + SESSION_SLACK_S:
                clashes.setdefault(path, other[1])
                clashes.setdefault(other[1], path)
            if end > first[0]:
                if path != first[1]:
                    second = first
                first = (end, path)
            elif path != first[1] and end > second[0]:
                second = (end, path)
    # files holding a measurement another file holds too: duplicate.measurement rejects them
    copied = {path for places in seen_hash.values() if len({p for p, _ in places}) > 1 for path, _ in places}
    return {
        path: [
            make(
                "duplicate.gpu_time",
                path,
                "/session",
                f"its trials overlap those of {_places([other])} on the same GPU (uuid hash)",
            )
        ]
        for path, other in clashes.items()
        if path in candidates and path not in copied
    }


def _exact(c: Checked, seen_hash: dict[str, list[tuple[str, int]]], per_file: dict[str, Counter[str]]) -> list[Finding]:
    """duplicate.measurement across files: one finding per group of identical measurements this file
    holds a copy of (copies inside one file are fabrication.check's). ``per_file``: each group's copies
    counted by file."""
    out, reported = [], set()
    for i, h in enumerate(c.hashes):
        group = seen_hash[h]
        if group[0][0] == c.path or h in reported:
            continue  # this file holds the first of them (or no other file has one)
        reported.add(h)
        others = (f"{p}#/measurements/{j}" for p, j in group[1:] if p != c.path)
        copies = list(itertools.islice(others, SHOWN_PLACES))  # the file's own copies skipped: its size bounds them
        total = len(group) - 1 - per_file[h][c.path]
        also = f" (copies also at {_places(copies, total=total)})" if copies else ""
        original = f"{group[0][0]}#/measurements/{group[0][1]}"
        out.append(make("duplicate.measurement", c.path, f"/measurements/{i}", f"identical to {original}{also}"))
    return out


def accepted_pool(
    root: Path | None, exclude: Iterable[Path], now: datetime | None = None, reference_dir: str | None = None
) -> list[Checked]:
    """The accepted submissions under ``root`` (those that still pass), except the candidates."""
    if root is None or not root.is_dir():
        return []
    skip = {same_file(p) for p in exclude}
    files = [p for p in discover([root]) if same_file(p) not in skip]
    return [c for c in check_files(files, now, reference_dir) if c.accepted]


def targets(paths: Sequence[Path], base: str | None, author: str | None = None) -> tuple[list[Path], list[Finding]]:
    """The files to check (named ones, and with ``base`` the ones added since) and history findings;
    ``author``: the pull request's author, who may add files to their own folder only."""
    if author is not None and (base is None or not history.GITHUB_LOGIN.fullmatch(author)):
        raise UsageError(
            "--author takes the GitHub login of the pull request's author (letters, digits, hyphens) and needs "
            "--base: it judges the files added since"
        )
    found = discover(paths)
    history_findings: list[Finding] = []
    if base is not None:
        repo = history.toplevel(Path.cwd())
        history_findings, added = history.check(base, repo, contributor=author is not None)
        if author is not None:
            history_findings += history.author_findings(added, author)
        found += [repo / a for a in added]
    unique: dict[str, Path] = {}
    for p in found:
        unique.setdefault(same_file(p), p.absolute())
    return list(unique.values()), history_findings


def same_file(path: Path) -> str:
    """What names one file however it is reached: its folder resolved (links to folders and '..' followed), its
    own name kept (a link named is the link). A submission named through a link to its folder (a checkout
    reached through a symlinked home, /tmp on macOS) was also in the accepted pool under its real path, and
    refused as a duplicate of itself (attack v23)."""
    return os.path.join(_resolved(str(path.absolute().parent)), path.name)


@functools.lru_cache(maxsize=4096)
def _resolved(folder: str) -> str:
    return os.path.realpath(folder)


def report_for(candidates: Sequence[Checked], accepted: Sequence[Checked], extra: Sequence[Finding] = ()) -> Report:
    """The candidates' findings, each file's own then those over files, capped together: one code shows at most
    MAX_SHOWN_PER_CODE findings of a file and one note, the cap shared fairly between the two (``capped``); then
    ``extra``."""
    report = Report(files=[c.path for c in candidates])
    findings = [f for c in candidates for f in c.findings]
    try:
        across = cross_file_findings(candidates, accepted)
    except Exception as exc:  # noqa: BLE001 - a bug in the checks over files rejects every candidate
        detail = printable(f"{type(exc).__name__}: {exc}", limit=300)
        across = [
            make("validator.internal_error", c.path, "", f"the checks over files failed ({detail})") for c in candidates
        ]
    report.findings.extend(capped(findings, across))
    report.findings.extend(extra)
    return report


def reference_folder(explicit: Path | None = None) -> str:
    """The reference tables to check against: the folder named, else those of the repository the
    command runs in (a pull request adds its new board or model there, for a maintainer to review),
    else the ones installed with the package."""
    if explicit is not None:
        if not (explicit / "gpus.json").is_file():
            raise UsageError(f"{printable(str(explicit))} holds no reference tables (gpus.json, models.json, ...)")
        return str(explicit.absolute())
    in_repo = root_of_folder(Path.cwd()) / "ecocompute" / "reference"
    return str(in_repo) if (in_repo / "gpus.json").is_file() else str(reference.PACKAGE_DIR)


def validate(
    paths: Sequence[Path],
    *,
    base: str | None = None,
    accepted_root: Path | None = None,
    now: datetime | None = None,
    reference_dir: str | None = None,
    author: str | None = None,
) -> Report:
    files, history_findings = targets(paths, base, author)
    folder = reference_dir or str(reference.PACKAGE_DIR)
    try:
        reference.cached(folder)
    except reference.ReferenceError as exc:
        raise UsageError(str(exc)) from exc
    if not files:  # nothing checked is no success; history findings, if any, already say why
        asked = ", ".join(p.as_posix() for p in paths) or f"files added since {base}"
        empty = make("run.no_files", asked, "", f"no submission file found in {asked}: nothing was validated")
        return Report(files=[], findings=history_findings or [empty])
    candidates = check_files(files, now, folder)
    return report_for(candidates, accepted_pool(accepted_root, files, now, folder), history_findings)


def exit_code(report: Report) -> int:
    """The one place that turns findings into an exit status."""
    return 1 if report.errors else 0
