"""The JSON Schema contract: locating, loading and applying ``schema/*.schema.json``."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs

from ecocompute.catalogue import SCHEMA_VERSIONS

from .findings import Finding, make

SCHEMA_FILE = "submission.schema.json"
# Keys by which the researcher's legacy metadata files are recognised.
_LEGACY_KEYS = {"benchmark_id", "experiment_id", "benchmark_name", "experiment_name"}


def schema_path() -> Path:
    """The schema: from the source tree, or from the copy installed with the package."""
    in_tree = Path(__file__).resolve().parent.parent / "schema" / SCHEMA_FILE
    if in_tree.is_file():
        return in_tree
    return Path(str(resources.files("validator") / "_schema" / SCHEMA_FILE))


@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema_rs.Draft202012Validator:
    # jsonschema-rs: about 100x faster than the pure-Python engine on trial-heavy files, which is
    # what keeps a 1,000-file CI run within seconds. Formats (date-time) are checked.
    return jsonschema_rs.Draft202012Validator(load_schema(), validate_formats=True)


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def identify(data: Any, file: str) -> list[Finding]:
    """Is this a submission at all, and of a version we know? Findings if not."""
    if not isinstance(data, dict):
        kind = type(data).__name__
        return [make("submission.not_a_submission", file, "", f"top level is a JSON {kind}, not an object")]
    if "schema_version" not in data:
        legacy = sorted(_LEGACY_KEYS & data.keys())
        detail = (
            f"looks like legacy benchmark metadata (has {', '.join(legacy)}); legacy data cannot enter "
            "through submissions and is imported separately as the 'legacy' config"
            if legacy
            else "it has no schema_version"
        )
        return [make("submission.not_a_submission", file, "", f"not an ecocompute submission: {detail}")]
    version = data["schema_version"]
    if version not in SCHEMA_VERSIONS:
        return [
            make(
                "schema.unknown_version",
                file,
                "/schema_version",
                f"schema_version {version!r} is unknown; this validator knows {', '.join(SCHEMA_VERSIONS)}",
            )
        ]
    return []


def check_schema(data: dict[str, Any], file: str, limit: int = 50) -> list[Finding]:
    findings = []
    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(map(str, e.instance_path)), e.message))
    for error in errors[:limit]:
        pointer = _pointer(error.instance_path)
        message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
        findings.append(make("schema.violation", file, pointer, f"{pointer or '/'}: {message}"))
    if len(errors) > limit:
        findings.append(make("schema.violation", file, "", f"{len(errors) - limit} more schema errors not shown"))
    return findings
