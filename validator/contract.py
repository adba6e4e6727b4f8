"""The JSON Schema contract: locating, loading and applying ``schema/*.schema.json``."""

from __future__ import annotations

import functools
import json
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs

from ecocompute.catalogue import SCHEMA_VERSIONS

from . import fastschema
from .findings import Finding, make
from .jsonpos import bounded

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


@functools.lru_cache(maxsize=1)
def _fast() -> fastschema.FastSchema:
    """Asked only whether a document is valid; the errors of an invalid one come from ``_validator``."""
    return fastschema.compile_schema(load_schema())


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
                f"schema_version {str(version)[:64]!r} is unknown; this validator knows {', '.join(SCHEMA_VERSIONS)}",
            )
        ]
    return []


MAX_SCHEMA_FINDINGS = 5
_PROBE_ITEMS = 4  # arrays longer than this are cut for error collection (see check_schema)
_PROBE_KEYS = 64  # more keys than any object of the schema has, except a free-form device_map


def _largest(schema: Any, key: str) -> int:
    """The largest value of ``key`` (maxItems, maxProperties) anywhere in the schema."""
    if isinstance(schema, dict):
        own = schema.get(key, 0) if isinstance(schema.get(key), int) else 0
        return max([own, *(_largest(v, key) for v in schema.values())])
    if isinstance(schema, list):
        return max((_largest(v, key) for v in schema), default=0)
    return 0


@functools.lru_cache(maxsize=1)
def _limits() -> tuple[int, int]:
    schema = load_schema()
    return _largest(schema, "maxItems"), _largest(schema, "maxProperties")


def _probe(value: Any, at: list[Any], oversized: list[tuple[str, str]]) -> Any:
    """A copy of ``value`` with every array cut to its first few items (and huge objects to their
    first keys); arrays and objects larger than any the schema allows are noted in ``oversized``.

    An error of the copy is an error of the original (a prefix of a unique array is unique, no array
    of the schema needs more items than are kept, and only objects that are wrong already have more
    keys), and the copy is small, so collecting errors is cheap however many values fail."""
    if isinstance(value, list):
        if len(value) > _limits()[0]:
            oversized.append(
                (_pointer(at), f"{len(value)} items; no array of the schema holds more than {_limits()[0]}")
            )
        return [_probe(v, [*at, i], oversized) for i, v in enumerate(value[:_PROBE_ITEMS])]
    if isinstance(value, dict):
        if len(value) > _limits()[1]:
            oversized.append(
                (_pointer(at), f"{len(value)} keys; no object of the schema holds more than {_limits()[1]}")
            )
        items = value.items() if len(value) <= _PROBE_KEYS else list(value.items())[:_PROBE_KEYS]
        return {k: _probe(v, [*at, k], oversized) for k, v in items}
    return value


def _oversized(value: Any, at: list[Any], oversized: list[tuple[str, str]]) -> None:
    """What ``_probe`` notes in ``oversized``, in the same order, without copying anything: the same
    walk (the first few items of arrays, the first keys of huge objects), descending only into arrays
    and objects. A valid document needs no probe, only this."""
    if isinstance(value, list):
        if len(value) > _limits()[0]:
            oversized.append(
                (_pointer(at), f"{len(value)} items; no array of the schema holds more than {_limits()[0]}")
            )
        for i, v in enumerate(value[:_PROBE_ITEMS]):
            if isinstance(v, (list, dict)):
                _oversized(v, [*at, i], oversized)
    elif isinstance(value, dict):
        if len(value) > _limits()[1]:
            oversized.append(
                (_pointer(at), f"{len(value)} keys; no object of the schema holds more than {_limits()[1]}")
            )
        items = value.items() if len(value) <= _PROBE_KEYS else list(value.items())[:_PROBE_KEYS]
        for k, v in items:
            if isinstance(v, (list, dict)):
                _oversized(v, [*at, k], oversized)


# jsonschema-rs' messages quote the value first and give the reason last ("... is greater than the maximum of
# 10000000", "... is longer than 256 characters"): a long value (1.7e308 spelt out in 309 digits, a string of
# megabytes) cut at the end lost the reason (attack v30 M1). Its start and its end are kept.
MESSAGE_HEAD, MESSAGE_TAIL = 120, 177


def _finding(file: str, pointer: str, message: str) -> Finding:
    if len(message) > MESSAGE_HEAD + MESSAGE_TAIL + 3:
        message = f"{message[:MESSAGE_HEAD]}...{message[-MESSAGE_TAIL:]}"
    pointer = bounded(pointer)
    return make("schema.violation", file, pointer, f"{pointer or '/'}: {message}")


def check_schema(data: dict[str, Any], file: str, limit: int = MAX_SCHEMA_FINDINGS) -> list[Finding]:
    """At most ``limit`` schema findings, in time linear in the document however many values fail.

    The engine is first only asked whether the document is valid: jsonschema-rs reads Python objects
    in place and stops at the first fault (a 2,000,000-item array answers in under a millisecond, at
    its maxItems). Errors are collected only from the probe: a document with an array or object
    larger than any the schema allows is wrong already, and is never walked whole for its errors."""
    if _fast().is_valid(data):
        return []  # so nothing in it is oversized: every array and object of the schema is bounded
    validator = _validator()
    oversized: list[tuple[str, str]] = []
    _oversized(data, [], oversized)
    errors = list(oversized)
    probe = _probe(data, [], [])
    for error in validator.iter_errors(probe):
        errors.append((_pointer(error.instance_path), error.message))
        if len(errors) >= 4 * limit:
            break
    if not errors:  # the fault lies beyond the probed prefix: the first one, found short-circuiting
        try:
            validator.validate(data)
        except jsonschema_rs.ValidationError as error:
            errors.append((_pointer(error.instance_path), error.message))
    errors.sort()
    findings = [_finding(file, pointer, message) for pointer, message in errors[:limit]]
    if len(errors) > limit:
        findings.append(make("schema.violation", file, "", "more schema errors not shown: fix these first"))
    if not findings:  # is_valid and validate disagree: fail closed
        findings.append(make("schema.violation", file, "", "the document does not conform to the schema"))
    return findings


# -- what JSON Schema cannot say ---------------------------------------------------------------------


def _integer_paths(node: dict[str, Any], defs: dict[str, Any], path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Paths of every integer-typed value ("[]" any item, "*" any value of a free-form object)."""
    ref = node.get("$ref")
    if ref:
        node = {**defs[ref.rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    out: list[tuple[str, ...]] = []
    types = node.get("type")
    if "integer" in (types if isinstance(types, list) else [types]):
        out.append(path)
    for sub in node.get("oneOf", []):
        out += _integer_paths(sub, defs, path)
    for name, child in node.get("properties", {}).items():
        out += _integer_paths(child, defs, (*path, name))
    if isinstance(node.get("items"), dict):
        out += _integer_paths(node["items"], defs, (*path, "[]"))
    if isinstance(node.get("additionalProperties"), dict):
        out += _integer_paths(node["additionalProperties"], defs, (*path, "*"))
    return out


@functools.lru_cache(maxsize=1)
def integer_paths() -> tuple[tuple[str, ...], ...]:
    schema = load_schema()
    return tuple(dict.fromkeys(_integer_paths(schema, schema["$defs"], ())))


@functools.lru_cache(maxsize=1)
def _integer_trie() -> dict[str, Any]:
    trie: dict[str, Any] = {}
    for path in integer_paths():
        node = trie
        for token in path:
            node = node.setdefault(token, {})
    return trie


def _first_float(value: Any, node: dict[str, Any], at: list[Any]) -> tuple[list[Any], float] | None:
    """The first integer-typed value spelt as a float, with its path; one walk for every path."""
    if not node:
        return (at, value) if isinstance(value, float) else None
    for key, child in node.items():
        if key == "[]":
            items: Any = enumerate(value) if isinstance(value, list) else ()
        elif key == "*":
            items = value.items() if isinstance(value, dict) else ()
        else:
            items = ((key, value[key]),) if isinstance(value, dict) and key in value else ()
        for name, item in items:
            if not child and not isinstance(item, float):
                continue  # the common case, without a call
            found = _first_float(item, child, [*at, name])
            if found is not None:
                return found
    return None


_Plan = tuple[tuple[str, ...], tuple[tuple[str, Any], ...]]  # (leaf keys, (step, plan) below)


@functools.lru_cache(maxsize=1)
def _integer_plan() -> _Plan:
    """The integer trie with its leaves gathered per object: a trial's four counts are looked up in
    one frame, not four calls."""

    def plan(node: dict[str, Any]) -> _Plan:
        leaves = tuple(k for k, child in node.items() if not child and k not in ("[]", "*"))
        return leaves, tuple((k, plan(child)) for k, child in node.items() if child or k in ("[]", "*"))

    return plan(_integer_trie())


def _has_float(value: Any, plan: _Plan) -> bool:
    """Whether ``_first_float`` would find anything, without building a path: the common answer."""
    leaves, below = plan
    if isinstance(value, dict):
        for k in leaves:
            if type(value.get(k)) is float:
                return True
        for step, child in below:
            if step == "*":
                if any(type(v) is float if not child[1] else _has_float(v, child) for v in value.values()):
                    return True
            elif step in value and _has_float(value[step], child):
                return True
        return False
    if isinstance(value, list):
        for step, child in below:
            if step != "[]":
                continue
            if child[1]:  # items with integers further down
                if any(_has_float(v, child) for v in value):
                    return True
            elif child[0]:  # records with integer properties alone (the trials): looked at here, no call each
                for v in value:
                    if isinstance(v, dict):
                        for k in child[0]:
                            if type(v.get(k)) is float:
                                return True
            elif any(type(v) is float for v in value):  # the items themselves are integers
                return True
        return False
    return False


def integer_spelling(data: dict[str, Any], file: str) -> list[Finding]:
    """JSON Schema counts 3.0 as an integer; the dataset's integer columns do not: a count written
    with a fraction part is rejected (eco-collect writes integers as integers)."""
    if not _has_float(data, _integer_plan()):
        return []
    found = _first_float(data, _integer_trie(), [])
    if found is None:
        return []
    at, value = found
    return [_finding(file, _pointer(at), f"{value!r} must be written as an integer ({int(value)}, not {value!r})")]


_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")


@functools.lru_cache(maxsize=256)
def parse_utc(value: str) -> datetime:
    """A timestamp of the schema's strict form (YYYY-MM-DDTHH:MM:SS[.ffffff]Z) as an aware datetime;
    ValueError for anything else (a leap second, 30 February)."""
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ")


def timestamps(data: dict[str, Any], file: str) -> list[Finding]:
    """created_at and session.started_at are real UTC times (the schema's pattern checks the form only)."""
    out = []
    session = data.get("session")
    for pointer, value in (
        ("/created_at", data.get("created_at")),
        ("/session/started_at", session.get("started_at") if isinstance(session, dict) else None),
    ):
        if isinstance(value, str):
            try:
                parse_utc(value)
            except ValueError as exc:
                out.append(_finding(file, pointer, str(exc)))
    return out
