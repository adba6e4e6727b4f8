"""Provenance completeness: exact versions, model revisions, honest timestamps and configs."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import datetime, timedelta, timezone

from ecocompute import catalogue, ids
from ecocompute.domain import Submission

from .findings import Finding, make

_PLACEHOLDERS = {"", "unknown", "latest", "n/a", "na", "none", "null", "todo", "tbd", "?", "-"}
_WILDCARD = re.compile(r"\*|(?:^|\.)x(?:\.|$|\s|\))|^[<>=~^!]|[<>=~^]=?\s*\d", re.IGNORECASE)
_EXACT = re.compile(r"^v?\d+(\.\d+)*([.+-]?[0-9A-Za-z]+)*$")
CLOCK_SKEW = timedelta(minutes=10)


def version_problem(value: str) -> str | None:
    """Why a version string is not an exact version, or None if it is."""
    stripped = value.strip()
    if stripped.lower() in _PLACEHOLDERS:
        return f"{value!r} is a placeholder, not a version"
    if _WILDCARD.search(stripped) or not _EXACT.match(stripped):
        return f"{value!r} is not an exact version"
    return None


def _is_placeholder(value: str) -> bool:
    return value.strip().lower() in _PLACEHOLDERS or "not recorded" in value.lower()


def check(sub: Submission, file: str, now: datetime | None = None) -> list[Finding]:
    findings: list[Finding] = []
    env = sub.environment
    for section, versions in (("software", env.software), ("driver", env.driver)):
        for key, value in sorted(versions.items()):
            problem = version_problem(value)
            if problem:
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
    if version_problem(sub.collector_version):
        findings.append(
            make(
                "provenance.unpinned_version",
                file,
                "/collector/version",
                f"collector version {sub.collector_version!r} is not exact",
            )
        )

    created = datetime.fromisoformat(sub.created_at.replace("Z", "+00:00"))
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

    for i, m in enumerate(sub.measurements):
        base = f"/measurements/{i}"
        if m.model.weights == "pretrained" and not ids.is_commit_sha(m.model.revision):
            findings.append(
                make(
                    "provenance.revision",
                    file,
                    f"{base}/model/revision",
                    f"{m.model.id}: revision {m.model.revision!r} is not a 40-hex commit SHA",
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
