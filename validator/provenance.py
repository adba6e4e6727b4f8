"""Provenance: exact versions, a released collector, the current schema version, model revisions,
honest timestamps and quantization configs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import date, datetime, timedelta, timezone

from ecocompute import catalogue, ids, reference
from ecocompute.domain import Submission
from ecocompute.reference import Reference

from . import architecture, companions, unreleased, versions
from .contract import parse_utc
from .findings import Finding, make

_PLACEHOLDERS = {"", "unknown", "latest", "n/a", "na", "none", "null", "todo", "tbd", "?", "-"}
# Linear and ASCII-only: no nested quantifier, and [0-9] rather than \d (which matches any digit).
_WILDCARD = re.compile(r"\*|(?:^|\.)x(?:\.|$|\s|\))|^[<>=~^!]|[<>=~^]=?\s*[0-9]", re.IGNORECASE | re.ASCII)
_VERSION_CHARS = frozenset("0123456789.+-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SEPARATORS = frozenset(".+-")
MAX_VERSION_LENGTH = 64
CLOCK_SKEW = timedelta(minutes=10)


def _exact(value: str) -> bool:
    """``v?<digits>`` then ASCII letters, digits and single '.', '+' or '-' between them: one pass,
    no backtracking (the regular expression it replaces took exponential time on 64 characters)."""
    s = value[1:] if value.startswith("v") else value
    if not s or s[0] not in "0123456789":
        return False
    previous_separator = False
    for ch in s:
        if ch not in _VERSION_CHARS:
            return False
        separator = ch in _SEPARATORS
        if separator and previous_separator:
            return False
        previous_separator = separator
    return not previous_separator


def version_problem(value: str) -> str | None:
    """Why a version string is not an exact version, or None if it is."""
    stripped = value.strip()
    if len(stripped) > MAX_VERSION_LENGTH:
        return f"{value[:MAX_VERSION_LENGTH]!r}... is longer than any version ({MAX_VERSION_LENGTH} characters)"
    if stripped.lower() in _PLACEHOLDERS:
        return f"{value!r} is a placeholder, not a version"
    if _WILDCARD.search(stripped) or not _exact(value):  # surrounding whitespace is not part of a version
        return f"{value!r} is not an exact version"
    return None


def python_release(value: str | None) -> str | None:
    """A recorded Python version as its release: CPython built from a branch past its release tag (a
    distribution's development series, Debian's for one) reports the tag and a '+' (PY_VERSION "3.12.3+"),
    which platform.python_version() returns and eco-collect records as it is (review 28)."""
    return value[:-1] if value and value.endswith("+") and value[-2:-1].isdigit() else value


def _is_placeholder(value: str) -> bool:
    return value.strip().lower() in _PLACEHOLDERS or "not recorded" in value.lower()


def unpinned(recorded: Mapping[str, str], section: str = "software") -> dict[str, str]:
    """Each version of ``recorded`` (an environment's software or driver section) that
    ``provenance.unpinned_version`` refuses, in key order, with the problem (naming the value as given).
    eco-collect asks before it measures, and its doctor too: a package not installed was found only when
    the finished run's file was refused."""
    out = {}
    for key, value in sorted(recorded.items()):
        problem = version_problem(value)
        if problem and (section, key) == ("software", "python") and not version_problem(python_release(value)):
            problem = None
        if problem:
            out[key] = problem
    return out


def check(
    sub: Submission,
    file: str,
    now: datetime | None = None,
    ref: Reference | None = None,
    sha256: str | None = None,
) -> list[Finding]:
    ref = ref or reference.default()
    findings: list[Finding] = []
    env = sub.environment
    for section, recorded in (("software", env.software), ("driver", env.driver)):
        for key, problem in unpinned(recorded, section).items():
            findings.append(
                make("provenance.unpinned_version", file, f"/environment/{section}/{key}", f"{key}: {problem}")
            )
    for section, record in (("gpu", env.gpu), ("host", env.host)):
        for f in sorted(fields(record), key=lambda f: f.name):
            value = getattr(record, f.name)
            if isinstance(value, str) and _is_placeholder(value):
                findings.append(
                    make("provenance.missing_value", file, f"/environment/{section}/{f.name}", f"{f.name} is {value!r}")
                )
    findings += (
        versions.check(sub, file)
        + architecture.check(sub, file)
        + companions.check(sub, file)
        + unreleased.check(sub, file)
    )
    created = parse_utc(sub.created_at)
    findings += _collector(sub, created, file, ref)
    findings += _version(sub, file, ref, sha256)
    now = now or datetime.now(timezone.utc)
    if created > now + CLOCK_SKEW:
        findings.append(
            make(
                "provenance.future_time",
                file,
                "/created_at",
                f"created_at {sub.created_at} is after now ({now:%Y-%m-%dT%H:%M:%SZ})",
            )
        )
    findings += _one_model(sub, file) + _id_stamp(sub, created, file)
    for i, m in enumerate(sub.measurements):
        base = f"/measurements/{i}"
        if m.model.weights == "random_init" and m.model.revision != catalogue.RANDOM_REVISION:
            # eco-collect builds random weights from the table's architecture, never from a Hub commit,
            # and records that as the revision (every version since 0.1.0): a SHA here is not its record
            findings.append(
                make(
                    "provenance.revision",
                    file,
                    f"{base}/model/revision",
                    f"{m.model.id}: random weights at revision {str(m.model.revision)[:64]!r}: eco-collect builds them "
                    f"from the architecture alone and records {catalogue.RANDOM_REVISION!r}",
                )
            )
        elif not (m.model.weights == "random_init" or ids.is_commit_sha(m.model.revision)):
            findings.append(
                make(
                    "provenance.revision",
                    file,
                    f"{base}/model/revision",
                    f"{m.model.id}: revision {m.model.revision!r} is not a 40-hex commit SHA",
                )
            )
        first = sub.measurements[0].model.weights
        if m.model.weights != first and not any(f.pointer.endswith("/model/weights") for f in findings):
            findings.append(  # the first row that differs is named
                make(
                    "provenance.revision",
                    file,
                    f"{base}/model/weights",
                    f"{m.model.weights} weights beside the first row's {first}: eco-collect's --weights is one "
                    "choice per run (part of its run key)",
                )
            )
        expected = catalogue.PRECISIONS[m.precision].expected_record()
        wrong = [k for k, v in expected.items() if m.quantization.get(k) != v]
        if wrong:
            detail = ", ".join(f"{k}={m.quantization.get(k)!r} (expected {expected[k]!r})" for k in wrong)
            findings.append(
                make(
                    "provenance.quantization_mismatch",
                    file,
                    f"{base}/quantization",
                    f"precision {m.precision}: {detail}",
                )
            )
    return findings


# eco-collect names every file <handle>-<gpu>-<YYYYMMDD>-<HHMMSS> from the very second it writes as created_at
# (collector/submission.py ``submission_id``, every release since 0.1.0; all 95 real files): an id ending in such a
# stamp other than created_at's is a file whose time was edited and whose name was not (attack v30 I1). An id
# without the stamp (tests/synthetic.py's synthetic-<seed>) is no eco-collect id at all, and is left to the rules
# on its name and its collector.
_ID_STAMP = re.compile(r"-([0-9]{8}-[0-9]{6})\Z", re.ASCII)
_STAMP_FORMAT = "%Y%m%d-%H%M%S"


def _id_stamp(sub: Submission, created: datetime, file: str) -> list[Finding]:
    stamp = _ID_STAMP.search(sub.submission_id)
    if stamp is None or stamp[1] == created.strftime(_STAMP_FORMAT):
        return []
    return [
        make(
            "provenance.submission_id",
            file,
            "/submission_id",
            f"submission_id {sub.submission_id!r} ends in the time {stamp[1]}, but created_at is {sub.created_at} "
            f"({created.strftime(_STAMP_FORMAT)}): eco-collect names the file from the second it writes as created_at",
        )
    ]


def _one_model(sub: Submission, file: str) -> list[Finding]:
    """Every row names the first row's model at its revision: eco-collect measures one model per run
    (``--model`` takes one id, ``--revision`` one commit, both in its run key: every release 0.1.0-0.6.0).
    Rows of two models, or of one model at two commits, are rows of two runs spliced into one file. The
    first row that differs is named, by the field that differs (other weights: the weights check's)."""
    if not sub.measurements:
        return []
    first = sub.measurements[0].model
    for i, m in enumerate(sub.measurements):
        model = m.model
        if model.id != first.id:
            pointer, what = "id", f"model {model.id!r} beside the first row's {first.id!r}"
        elif model.revision != first.revision and model.weights == first.weights:
            pointer = "revision"
            what = f"{model.id} at revision {model.revision[:64]!r} beside the first row's {first.revision[:64]!r}"
        else:
            continue
        return [
            make(
                "provenance.revision",
                file,
                f"/measurements/{i}/model/{pointer}",
                f"{what}: eco-collect measures one model at one revision per run (--model, --revision), so these "
                "rows come from two runs; submit each run's file as eco-collect wrote it",
            )
        ]
    return []


def _collector(sub: Submission, created: datetime, file: str, ref: Reference) -> list[Finding]:
    """Written by a released eco-collect that writes this schema version, after it was released."""
    release = ref.releases.get((sub.collector_name, sub.collector_version))
    if release is None:
        known = ", ".join(f"{n} {v}" for n, v in sorted(ref.releases))
        return [
            make(
                "provenance.collector",
                file,
                "/collector",
                f"{sub.collector_name!r} {sub.collector_version!r} is not a released collector (released: {known})",
            )
        ]
    if sub.schema_version not in release.schema_versions:
        return [
            make(
                "provenance.collector",
                file,
                "/schema_version",
                f"{release.name} {release.version} writes schema {', '.join(release.schema_versions)}, "
                f"not {sub.schema_version}",
            )
        ]
    if release.released is not None and created.date() < date.fromisoformat(release.released) - timedelta(days=1):
        return [
            make(
                "provenance.collector",
                file,
                "/created_at",
                f"created {created:%Y-%m-%d}, before {release.name} {release.version} was released ({release.released})",
            )
        ]
    # The session may open before this version's release (--resume continues a run that an earlier
    # version began), never before the collector's first release: its trials are dated from it.
    dates = [r.released for (name, _), r in ref.releases.items() if name == release.name and r.released]
    if sub.session is not None and dates:
        started = parse_utc(sub.session.started_at)
        first = min(dates)
        if started.date() < date.fromisoformat(first) - timedelta(days=1):
            return [
                make(
                    "provenance.collector",
                    file,
                    "/session/started_at",
                    f"session started {started:%Y-%m-%d}, before {release.name} was first released ({first}): its "
                    "trials are dated from that start",
                )
            ]
    return []


def _version(sub: Submission, file: str, ref: Reference, sha256: str | None) -> list[Finding]:
    """An older schema version is valid only for the exact bytes accepted under it."""
    if sub.schema_version == catalogue.SCHEMA_VERSION:
        return []
    accepted = ref.accepted.get(sha256 or "")
    if accepted is not None and accepted.schema_version == sub.schema_version:
        return []
    return [
        make(
            "schema.outdated_version",
            file,
            "/schema_version",
            f"schema {sub.schema_version} is valid only for the files accepted under it "
            f"(ecocompute/reference/accepted.json); new files use {catalogue.SCHEMA_VERSION}",
        )
    ]
