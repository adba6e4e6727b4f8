"""The schema as jsonschema-rs answers "is this valid?" fastest, judging exactly as the schema as written.

Two rewrites, each tested to keep every verdict (tests/test_validator_schema_probe.py):
- local ``$ref``s inlined (``inlined``): a third faster on a trial, no reference resolved per number;
- numeric bounds that are not integers taken out of the engine's hands (``compile``): jsonschema-rs
  compares a number with a fractional bound (``minimum: 0.001``) 40x slower than with an integer one
  (0.8 us against 0.02 us, jsonschema-rs 0.60), and a trial has two such bounds. A bound written as a
  float but integral (``1e15``) is rewritten as the integer (JSON Schema compares values, not
  spellings); a fractional one on a path that always applies (object properties and array items from
  the root, no condition on the way) is checked here in Python, where it costs a comparison.

The errors of an invalid document always come from the schema as written (``contract._validator``).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

_LOCAL = "#/$defs/"
# Keywords that assert on the instance alone, each independently of the others in its schema object:
# only these are merged from a $ref's target with the keywords beside the $ref. Keywords that read
# their neighbours (properties with additionalProperties or unevaluatedProperties, items with
# prefixItems, if/then/else, contains with minContains) or change how references resolve ($id,
# $anchor, $defs) would change meaning when moved into one object with others.
_INDEPENDENT = frozenset(
    {
        "type",
        "enum",
        "const",
        "maximum",
        "minimum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "multipleOf",
        "maxLength",
        "minLength",
        "pattern",
        "format",
        "description",
        "title",
    }
)
_NO_INLINE = frozenset({"$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$schema", "$defs", "$recursiveAnchor"})


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values are spelt: 1, 1.0 and true differ (Python's == would call them equal)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _resolves_alike(node: Any) -> bool:
    """No keyword below ``node`` changes the base of a reference (an $id, an anchor, $defs)."""
    if isinstance(node, dict):
        return not (_NO_INLINE & node.keys()) and all(_resolves_alike(v) for v in node.values())
    if isinstance(node, list):
        return all(_resolves_alike(v) for v in node)
    return True


def inlined(node: Any, defs: dict[str, Any], _inside: frozenset[str] = frozenset()) -> Any:
    """``node`` with local ``$ref``s replaced by their targets: the same instances valid, and a third
    faster for jsonschema-rs on a trial (it no longer resolves a reference per number).

    A ``$ref`` alone (beside it only a description or title) becomes its target. A ``$ref`` with other
    keywords beside it is merged with its target only when both sides use keywords that assert
    independently (``_INDEPENDENT``): keywords set on one side are kept, the same value on both sides
    once, and where both set ``maximum`` (or ``minimum``) to numbers the stricter is kept, as both
    applied; anything else (another clash, a keyword that reads its neighbours, a target that
    references itself or sets an $id, anchor or $defs) keeps the ``$ref`` as written. Error messages
    still come from the schema as written."""
    if isinstance(node, list):
        return [inlined(v, defs, _inside) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: inlined(v, defs, _inside) for k, v in node.items()}
    ref = node.get("$ref")
    name = ref[len(_LOCAL) :] if isinstance(ref, str) and ref.startswith(_LOCAL) else None
    if name is None or name not in defs or name in _inside or not _resolves_alike(defs[name]):
        return node
    target = inlined(defs[name], defs, _inside | {name})
    if not isinstance(target, dict) or "$ref" in target:
        return node
    beside = {k: v for k, v in node.items() if k != "$ref"}
    if not beside.keys() <= {"description", "title"} and not (beside.keys() | target.keys()) <= _INDEPENDENT:
        return node
    merged = dict(target)
    for key, value in beside.items():
        if key not in merged or key in ("description", "title"):
            merged[key] = value
        elif _same(merged[key], value):
            continue
        elif key in ("maximum", "minimum") and all(type(v) in (int, float) for v in (merged[key], value)):
            merged[key] = min(merged[key], value) if key == "maximum" else max(merged[key], value)
        else:
            return node
    return merged


_BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "minimum": operator.ge,
    "maximum": operator.le,
    "exclusiveMinimum": operator.gt,
    "exclusiveMaximum": operator.lt,
}
# Keywords whose values are JSON values, not schemas: never rewritten.
_VALUES = frozenset({"const", "enum", "default", "examples"})
_ITEMS = "[]"  # a path step: every item of an array
_NUMBERS = (int, float)  # what a bound asserts on (a string or null is the type keyword's business)


def _integral_bounds(node: Any) -> Any:
    """``node`` with every bound written as an integral float (1e15) written as the integer."""
    if isinstance(node, list):
        return [_integral_bounds(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _BOUNDS and type(value) is float and value.is_integer():
            out[key] = int(value)
        elif key in _VALUES:
            out[key] = value
        else:
            out[key] = _integral_bounds(value)
    return out


@dataclass(frozen=True)
class _Step:
    """The bounds taken out at one place of a document and below it: one walk checks them all."""

    checks: tuple[tuple[Callable[[Any, Any], bool], float], ...] = ()  # on the value here
    leaves: tuple[tuple[str, Callable[[Any, Any], bool], float], ...] = ()  # on properties with nothing below
    properties: tuple[tuple[str, _Step], ...] = ()  # properties with bounds further below
    items: _Step | None = None  # every item of an array


def _take_fractional_bounds(node: dict[str, Any]) -> tuple[dict[str, Any], _Step | None]:
    """``node`` without its fractional bounds, nor those of the schemas that always apply below it
    (``properties`` of an object, ``items`` of an array), and the walk that checks them instead."""
    out = dict(node)
    checks = tuple((_BOUNDS[key], out.pop(key)) for key in _BOUNDS if type(out.get(key)) is float)
    leaves: list[tuple[str, Callable[[Any, Any], bool], float]] = []
    properties: list[tuple[str, _Step]] = []
    if isinstance(out.get("properties"), dict):
        kept = {}
        for name, child in out["properties"].items():
            kept[name], below = _take_fractional_bounds(child) if isinstance(child, dict) else (child, None)
            if below is not None and (below.leaves or below.properties or below.items):
                properties.append((name, below))
            elif below is not None:
                leaves += [(name, compare, bound) for compare, bound in below.checks]
        out["properties"] = kept
    items = None
    if isinstance(out.get("items"), dict):
        out["items"], items = _take_fractional_bounds(out["items"])
    step = _Step(checks, tuple(leaves), tuple(properties), items)
    return out, (step if checks or leaves or properties or items else None)


def _within(value: Any, step: _Step) -> bool:
    if type(value) in _NUMBERS and not all(compare(value, bound) for compare, bound in step.checks):
        return False
    if isinstance(value, dict):
        for name, compare, bound in step.leaves:
            leaf = value.get(name)
            if type(leaf) in _NUMBERS and not compare(leaf, bound):
                return False
        return all(_within(value[name], below) for name, below in step.properties if name in value)
    if isinstance(value, list) and step.items is not None:
        items = step.items
        if items.checks or items.properties or items.items is not None:
            return all(_within(item, items) for item in value)
        # records with bounds on their own properties alone (the trials): looked at here, without a
        # call and a generator per record
        for item in value:
            if isinstance(item, dict):
                for name, compare, bound in items.leaves:
                    leaf = item.get(name)
                    if type(leaf) in _NUMBERS and not compare(leaf, bound):
                        return False
    return True


@dataclass(frozen=True)
class FastSchema:
    validator: jsonschema_rs.Draft202012Validator
    bounds: _Step | None  # the fractional bounds taken out, checked in Python

    def is_valid(self, document: Any) -> bool:
        """What the schema as written answers, faster."""
        return self.validator.is_valid(document) and (self.bounds is None or _within(document, self.bounds))


def compile_schema(schema: dict[str, Any]) -> FastSchema:
    inlined_schema = _integral_bounds(inlined(schema, schema.get("$defs", {})))
    fast, bounds = _take_fractional_bounds(inlined_schema)
    return FastSchema(jsonschema_rs.Draft202012Validator(fast, validate_formats=True), bounds)
