"""Assemble the submission document and write it: validated first, atomically, never overwriting."""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ecocompute.catalogue import COLLECTOR_NAME, SCHEMA_VERSION, STATE_DIR
from validator.check import check_document
from validator.findings import Severity

from . import __version__
from .errors import CollectError, OutputExistsError


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def submission_id(handle: str, gpu_name: str, created: datetime) -> str:
    gpu = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower().replace("nvidia", "")).strip("-")[:32]
    return f"{handle.lower()}-{gpu}-{created:%Y%m%d-%H%M%S}".strip("-")


def assemble(
    *,
    handle: str,
    environment: dict[str, Any],
    protocol: dict[str, Any],
    measurements: list[dict[str, Any]],
    created: datetime | None = None,
) -> dict[str, Any]:
    created = (created or datetime.now(timezone.utc)).replace(microsecond=0)
    return {
        "schema_version": SCHEMA_VERSION,
        "submission_id": submission_id(handle, environment["gpu"]["name"], created),
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "collector": {"name": COLLECTOR_NAME, "version": __version__},
        "contributor": {"handle": handle},
        "environment": environment,
        "protocol": protocol,
        "measurements": measurements,
    }


def validate_document(doc: dict[str, Any]) -> list[str]:
    """Error messages eco-validate would give for this document (empty when accepted)."""
    # Checked as the bytes that will be written parse back: JSON has no tuples, and ints stay ints.
    findings = check_document(json.loads(dumps(doc)), f"{doc['submission_id']}.json")
    return [f"{f.code} {f.pointer}: {f.message}" for f in findings if f.severity is Severity.ERROR]


def write(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write <out_dir>/<handle>/<submission_id>.json if eco-validate accepts it; never overwrite."""
    errors = validate_document(doc)
    target = out_dir / doc["contributor"]["handle"] / f"{doc['submission_id']}.json"
    if errors:
        rejected = out_dir.parent / STATE_DIR / f"{doc['submission_id']}.rejected.json"
        rejected.parent.mkdir(parents=True, exist_ok=True)
        rejected.write_text(dumps(doc), encoding="utf-8")
        raise CollectError(
            f"the collected file does not pass eco-validate ({len(errors)} error(s), first: {errors[0]}); "
            f"kept for inspection at {rejected}, not written to {out_dir}"
        )
    if target.exists():
        raise OutputExistsError(f"{target} exists already; submissions are never overwritten")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".partial-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dumps(doc))
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, target)  # fails if target appeared meanwhile: no silent overwrite
    finally:
        os.unlink(tmp)
    return target
