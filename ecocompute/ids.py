"""Identifiers and hashes: canonical measurement hashes (stable row ids) and commit SHAs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

_HEX40 = re.compile(r"[0-9a-f]{40}")


def is_commit_sha(value: str) -> bool:
    """A full 40-hex git commit SHA (lower case), as the Hub reports revisions."""
    return _HEX40.fullmatch(value) is not None


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def measurement_hash(gpu_uuid_sha256: str, measurement: Mapping[str, Any]) -> str:
    """sha256 over the GPU identity and the whole measurement as written (trials included)."""
    payload = canonical_json({"gpu_uuid_sha256": gpu_uuid_sha256, "measurement": measurement})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def measurement_hashes(doc: Mapping[str, Any]) -> list[str]:
    """One hash per measurement of a raw document, in order."""
    gpu = doc["environment"]["gpu"]["uuid_sha256"]
    return [measurement_hash(gpu, m) for m in doc["measurements"]]
