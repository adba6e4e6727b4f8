"""Assemble the submission and write it: validated first, atomically, never overwriting."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ecocompute import catalogue
from ecocompute.domain import Measurement, Protocol, Session, Submission
from validator.check import check_document
from validator.findings import Severity

from . import __version__
from .errors import CollectError, OutputExistsError
from .request import RunRequest
from .workload import Prompt


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def submission_id(handle: str, gpu_name: str, created: datetime) -> str:
    gpu = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower().replace("nvidia", "")).strip("-")[:32]
    return f"{handle.lower()}-{gpu}-{created:%Y%m%d-%H%M%S}".strip("-")


def protocol(
    request: RunRequest, prompt: Prompt, energy_method: str, power_reading: str, interleaved: bool
) -> Protocol:
    plan = request.plan
    return Protocol(
        prompt_source=prompt.source,
        prompt_sha256=prompt.sha256,
        prompt_tokens=prompt.token_count,
        output_tokens=request.output_tokens,
        warmup_min_trials=plan.warmup_min,
        warmup_max_trials=plan.warmup_max,
        warmup_settle_pct=plan.settle_pct,
        trial_min_duration_s=plan.trial_min_s,
        idle_window_s=plan.idle_window_s,
        energy_method=energy_method,
        sample_period_s=request.sample_period_s,
        gates=plan.gates.as_dict(),
        power_reading=power_reading,
        interleaved=interleaved,
        early_stop=plan.early_stop.as_dict(),
    )


def _order(request: RunRequest, m: Measurement) -> tuple[int, int, int]:
    engines = list(catalogue.ENGINES)
    return (
        request.precisions.index(m.precision),
        engines.index(m.engine.name),
        request.batch_sizes.index(m.batch_size),
    )


def assemble(
    *,
    request: RunRequest,
    environment: Any,
    protocol: Protocol,
    measurements: Sequence[Measurement],
    started_at: datetime,
    finished_at: datetime,
    wall_s: float,
) -> Submission:
    created = finished_at.replace(microsecond=0)
    return Submission(
        schema_version=catalogue.SCHEMA_VERSION,
        submission_id=submission_id(request.handle, environment.gpu.name, created),
        created_at=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        collector_name=catalogue.COLLECTOR_NAME,
        collector_version=__version__,
        handle=request.handle,
        environment=environment,
        protocol=protocol,
        measurements=tuple(sorted(measurements, key=lambda m: _order(request, m))),
        session=Session(started_at.strftime("%Y-%m-%dT%H:%M:%SZ"), wall_s),
    )


def validate_document(doc: dict[str, Any]) -> list[str]:
    """Error messages eco-validate would give for this document (empty when accepted)."""
    # Checked as the bytes that will be written parse back: JSON has no tuples, and ints stay ints.
    findings = check_document(json.loads(dumps(doc)), f"{doc['submission_id']}.json")
    return [f"{f.code} {f.pointer}: {f.message}" for f in findings if f.severity is Severity.ERROR]


def write(doc: dict[str, Any], out_dir: Path, state_dir: Path) -> Path:
    """Write <out_dir>/<handle>/<submission_id>.json if eco-validate accepts it; never overwrite."""
    errors = validate_document(doc)
    target = out_dir / doc["contributor"]["handle"] / f"{doc['submission_id']}.json"
    if errors:
        rejected = state_dir / f"{doc['submission_id']}.rejected.json"
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
