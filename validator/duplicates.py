"""Canonical content hashes: one per measurement, used for duplicates and as stable row ids."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def measurement_hash(environment: dict[str, Any], measurement: dict[str, Any]) -> str:
    """sha256 over the GPU identity and the whole measurement (trials included)."""
    payload = canonical_json({"gpu_uuid_sha256": environment["gpu"]["uuid_sha256"], "measurement": measurement})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def submission_hashes(data: dict[str, Any]) -> list[str]:
    return [measurement_hash(data["environment"], m) for m in data["measurements"]]
