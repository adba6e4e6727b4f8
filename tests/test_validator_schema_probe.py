"""The schema check's shortcuts: contract._oversized (asked of every document) notes exactly what
contract._probe (built only for a document that fails) notes, in the same order, however the document
is shaped; contract._fast (the schema with its references inlined and its fractional bounds checked
in Python, validator/fastschema.py) accepts exactly what the schema as written accepts, and what it
accepts holds no oversized array or object (check_schema then skips the walk)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validator import contract, fastschema

_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=8), st.dictionaries(st.text(max_size=3), inner, max_size=8)),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None)
@given(document=_JSON)
def test_oversized_notes_what_the_probe_notes(document: Any) -> None:
    with pytest.MonkeyPatch.context() as patch:  # small limits, so that random documents exceed them
        patch.setattr(contract, "_limits", lambda: (3, 4))
        patch.setattr(contract, "_PROBE_KEYS", 6)
        probed: list[tuple[str, str]] = []
        walked: list[tuple[str, str]] = []
        contract._probe(document, [], probed)
        contract._oversized(document, [], walked)
    assert walked == probed


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*at, k))] or [at]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*at, i))] or [at]
    return [at]


def _edit(doc: dict[str, Any], picks: list[tuple[int, Any, bool]]) -> None:
    """Set (or delete) the leaf each pick's index lands on, in place."""
    for index, value, delete in picks:
        leaves = _leaves(doc)
        *parents, last = leaves[index % len(leaves)] or ("schema_version",)
        node = doc
        for key in parents:
            node = node[key]
        if delete and isinstance(node, dict):
            node.pop(last, None)
        elif isinstance(node, (dict, list)) and (isinstance(node, dict) or last < len(node)):
            node[last] = copy.deepcopy(value)  # sampled lists and dicts are shared between examples


_EDIT = st.one_of(
    st.sampled_from([None, True, 0, -1, -0.5, 1e-9, 0.001, 63, 64, 1e5 + 1, 1e6 + 0.5, 1e8 + 1, 1e12 + 1, 2e15]),
    # the fractional bounds (0.001, -273.15, 0.5) and the integral ones written as floats (1e15), each side
    st.sampled_from([0.000999, 0.0010000000000000002, -273.15, -273.16, -274, 0.5, 0.5000000000000001, 0.4999]),
    st.sampled_from([10**15, 10**15 + 1, 1e15, 1.0000000000000002e15, -(10**15), -(10**15) - 1, -1e15, 1, 1.0]),
    st.sampled_from([10**9 + 1, 10**15 + 1, 2**70, "", "x", "fp16", "2026-01-01T00:00:00Z", [], {}, [1.0] * 70]),
    st.integers(-(10**16), 10**16),
    st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(min_value=0), _EDIT, st.booleans()), min_size=1, max_size=3))
def test_the_inlined_schema_accepts_exactly_what_the_schema_accepts(
    valid_doc: dict, picks: list[tuple[int, Any, bool]]
) -> None:
    """contract._fast answers is_valid for every document: it must never disagree with the schema as
    written (edits at every leaf: boundaries of the maxima merged from $ref and beside it, of the
    bounds it checks in Python, of those it rewrites as integers). The fixture is only read
    (deep-copied), so sharing it across examples is safe."""
    doc = copy.deepcopy(valid_doc)
    _edit(doc, picks)
    valid = contract._validator().is_valid(doc)
    assert contract._fast().is_valid(doc) == valid
    if valid:
        oversized: list[tuple[str, str]] = []
        contract._oversized(doc, [], oversized)
        assert not oversized


_DEFS: dict[str, Any] = {
    "one": {"const": 1},
    "closed": {"type": "object", "additionalProperties": False},
    "later": {"type": "object", "unevaluatedProperties": False},
    "pair": {"type": "array", "prefixItems": [{"type": "integer"}]},
    "cond": {"if": {"type": "integer"}, "then": {"minimum": 5}},
    "self": {"type": "array", "items": {"$ref": "#/$defs/self"}, "maxItems": 2},
    "anchored": {"$id": "https://example.org/other", "$defs": {"one": {"const": 2}}, "$ref": "#/$defs/one"},
    "positive": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
}


@pytest.mark.parametrize(
    ("beside", "instances"),
    [
        ({"$ref": "#/$defs/one", "const": True}, [1, True, 1.0]),  # 1 == True in Python, not in JSON
        ({"$ref": "#/$defs/one", "const": 1.0}, [1, 1.0]),
        ({"$ref": "#/$defs/closed", "properties": {"y": {}}}, [{"y": 1}, {}]),
        ({"$ref": "#/$defs/later", "properties": {"y": {}}}, [{"y": 1}, {}]),
        ({"$ref": "#/$defs/pair", "items": False}, [[1], [1, 2], []]),
        ({"$ref": "#/$defs/cond", "else": False}, [3, 7, "x"]),
        ({"$ref": "#/$defs/self"}, [[], [[]], [[[], [], []]], [1]]),
        ({"$ref": "#/$defs/anchored"}, [1, 2]),
        ({"$ref": "#/$defs/positive", "maximum": 5, "minimum": 0.5}, [0.25, 0.5, 5, 6, 10]),
        ({"$ref": "#/$defs/positive", "maximum": 20, "exclusiveMinimum": 2}, [1, 3, 10, 15]),
        ({"$ref": "#/$defs/positive", "type": "integer"}, [1, 1.5, 11]),
    ],
)
def test_inlining_keeps_every_verdict_of_a_tricky_reference(beside: dict[str, Any], instances: list[Any]) -> None:
    """Keywords beside a $ref that read their neighbours, JSON values that Python calls equal (1, 1.0,
    true), a target that references itself or sets its own $id: the inlined schema judges alike."""
    import jsonschema_rs

    schema = {"$defs": _DEFS, "properties": {"x": beside}}
    as_written = jsonschema_rs.Draft202012Validator(schema)
    fast = jsonschema_rs.Draft202012Validator(fastschema.inlined(schema, _DEFS))
    for instance in instances:
        assert fast.is_valid({"x": instance}) == as_written.is_valid({"x": instance}), instance


def test_the_submission_schema_is_inlined_whole() -> None:
    """The shortcut is worth having only if it reaches the schema's references (all of them today)."""
    schema = contract.load_schema()
    assert "$ref" not in json.dumps(fastschema.inlined(schema, schema["$defs"]))


@pytest.mark.parametrize(
    ("schema", "instances"),
    [
        ({"properties": {"x": {"minimum": 0.5}}}, [{"x": 0.5}, {"x": 0.4}, {"x": "s"}, {"x": True}, {}, [], 1]),
        (
            {"items": {"properties": {"t": {"exclusiveMaximum": 2.5, "exclusiveMinimum": -1.5}}}},
            [[{"t": 2}, {"t": 2.5}], [{"t": -1.5}], [{"t": -1}, 3], {"t": 9}],
        ),
        (
            {"properties": {"x": {"maximum": 1e15, "minimum": -1e15}}},
            [{"x": 10**15}, {"x": 10**15 + 1}, {"x": -(10**15) - 1}, {"x": 1e15}],
        ),
        # under a condition the bound stays with the engine: only a path that always applies is taken
        (
            {"properties": {"x": {"oneOf": [{"minimum": 0.5}, {"type": "string"}]}}},
            [{"x": 0.4}, {"x": 0.6}, {"x": "s"}],
        ),
        (
            {"if": {"required": ["a"]}, "then": {"properties": {"x": {"minimum": 0.5}}}},
            [{"a": 1, "x": 0.4}, {"x": 0.4}],
        ),
        (
            {"properties": {"x": {"properties": {"y": {"minimum": 0.5}}, "maximum": 2.5}}},
            [{"x": {"y": 0.1}}, {"x": 3}, {"x": 2}],
        ),
    ],
)
def test_bounds_checked_in_python_judge_as_the_engine_does(schema: dict[str, Any], instances: list[Any]) -> None:
    import jsonschema_rs

    as_written = jsonschema_rs.Draft202012Validator(schema)
    fast = fastschema.compile_schema(schema)
    for instance in instances:
        assert fast.is_valid(instance) == as_written.is_valid(instance), instance


def test_the_fractional_bounds_of_the_submission_schema_are_taken_out() -> None:
    """Where the time went (0.8 us a number with a fractional bound, two per trial): none is left to
    the engine on the paths every trial takes."""
    fast = contract._fast()
    assert fast.bounds is not None
    trial = fast.bounds.properties[[n for n, _ in fast.bounds.properties].index("measurements")][1].items
    assert trial is not None
    names = {name for name, _, _ in dict(trial.properties)["trials"].items.leaves}
    assert names == {"duration_s", "temperature_max_c"}


def test_every_array_and_object_of_the_schema_is_bounded() -> None:
    """Why a document the schema accepts needs no oversized walk: each array it may hold has at most
    _limits()[0] items (maxItems, or unique items of an enum), each object at most _limits()[1] keys
    (maxProperties, or additional/unevaluatedProperties false beside the properties it names).
    Conditions (allOf, if/then) only add constraints, so the schema's plain structure is what bounds
    a valid document."""
    schema = contract.load_schema()
    most_items, most_keys = contract._limits()
    seen: set[int] = set()

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        return {**schema["$defs"][ref.rsplit("/", 1)[-1]], **node} if ref else node

    def walk(node: Any, where: str) -> None:
        if not isinstance(node, dict) or id(node) in seen:
            return
        seen.add(id(node))
        node = resolve(node)
        types = node.get("type")
        types = types if isinstance(types, list) else [types]
        if "array" in types or "items" in node:
            enum = (node.get("items") or {}).get("enum")
            unique_enum = node.get("uniqueItems") is True and isinstance(enum, list)
            assert node.get("maxItems", 10**9) <= most_items or (unique_enum and len(enum) <= most_items), where
        if "object" in types or "properties" in node:
            # unevaluatedProperties: also the properties its conditions (allOf, if/then/else) name
            named = set(node.get("properties", {}))
            for sub in [*node.get("allOf", []), *(node.get(k) for k in ("then", "else"))]:
                named |= set((sub or {}).get("properties", {}))
            closed = False in (node.get("additionalProperties"), node.get("unevaluatedProperties"))
            assert (closed and len(named) <= most_keys) or node.get("maxProperties", 10**9) <= most_keys, where
        for name, child in node.get("properties", {}).items():
            walk(child, f"{where}/{name}")
        walk(node.get("items"), f"{where}/[]")
        walk(node.get("additionalProperties"), f"{where}/*")

    walk(schema, "")
    assert len(seen) > 20  # the walk reached the trials


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(min_value=0), _EDIT, st.booleans()), min_size=1, max_size=3))
def test_the_quick_integer_test_finds_what_the_walk_finds(valid_doc: dict, picks: list[tuple[int, Any, bool]]) -> None:
    """contract._has_float (asked of every document) answers whether contract._first_float (the walk
    that names the place) finds an integer written as a float: floats at every leaf, device_map's
    free-form values and the trials' counts included."""
    doc = copy.deepcopy(valid_doc)
    doc["measurements"][0]["placement"] = {"strategy": "accelerate_auto", "device_map": {"": 0, "lm_head": 1}}
    _edit(doc, picks)
    found = contract._first_float(doc, contract._integer_trie(), [])
    assert contract._has_float(doc, contract._integer_plan()) is (found is not None)
