"""The schema check's shortcuts: contract._oversized (asked of every document) notes exactly what
contract._probe (built only for a document that fails) notes, in the same order, however the document
is shaped; contract._fast_validator (the schema with its references inlined) accepts exactly what the
schema as written accepts."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validator import contract

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


_EDIT = st.one_of(
    st.sampled_from([None, True, 0, -1, -0.5, 1e-9, 0.001, 63, 64, 1e5 + 1, 1e6 + 0.5, 1e8 + 1, 1e12 + 1, 2e15]),
    st.sampled_from([10**9 + 1, 10**15 + 1, 2**70, "", "x", "fp16", "2026-01-01T00:00:00Z", [], {}, [1.0] * 70]),
    st.integers(-(10**16), 10**16),
    st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(min_value=0), _EDIT, st.booleans()), min_size=1, max_size=3))
def test_the_inlined_schema_accepts_exactly_what_the_schema_accepts(
    valid_doc: dict, picks: list[tuple[int, Any, bool]]
) -> None:
    """contract._fast_validator answers is_valid for every document: it must never disagree with the
    schema as written (edits at every leaf: boundaries of the maxima merged from $ref and beside it).
    The fixture is only read (deep-copied), so sharing it across examples is safe."""
    doc = copy.deepcopy(valid_doc)
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
    assert contract._fast_validator().is_valid(doc) == contract._validator().is_valid(doc)


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
    fast = jsonschema_rs.Draft202012Validator(contract.inlined(schema, _DEFS))
    for instance in instances:
        assert fast.is_valid({"x": instance}) == as_written.is_valid({"x": instance}), instance


def test_the_submission_schema_is_inlined_whole() -> None:
    """The shortcut is worth having only if it reaches the schema's references (all of them today)."""
    schema = contract.load_schema()
    assert "$ref" not in json.dumps(contract.inlined(schema, schema["$defs"]))
