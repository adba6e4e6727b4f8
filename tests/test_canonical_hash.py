"""Row ids must never change: the fast canonical encoding writes exactly the bytes of the reference
one (json.dumps, sorted keys, compact) or raises where it raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ecocompute import ids

_floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [1e-4, 9.99e-5, 1e-5, -7.5e-5, 5e-324, 1e15, 1e16, -1e16, 1.7976931348623157e308, -0.0, 0.0]
)
_scalars = st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70) | _floats
_text = st.text(st.characters(codec=None, exclude_categories=[]), max_size=8)  # surrogates and controls too
_json = st.recursive(
    _scalars | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


def _reference(value: object) -> bytes:
    return ids.canonical_json(value).encode("utf-8")


@settings(max_examples=400, deadline=None)
@given(_json)
@example({"b": 1, "a": [1e-05, 2.5e-7, 1e16, "x\u2028\x7f\x1f"], "\U0001f600": 0, "\ue000": 1})
@example({"value": float("nan")})
@example([2**64, -(2**63) - 1])
def test_fast_encoding_is_the_reference_encoding(value: object) -> None:
    try:
        expected = _reference(value)
    except (ValueError, UnicodeEncodeError) as exc:
        with pytest.raises(type(exc)):
            ids.canonical_bytes(value)
        return
    assert ids.canonical_bytes(value) == expected


_finite_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_finite_json)
@example({"a": [1e-05, 2**64, 1e16, "\ud800"]})
def test_the_finite_shortcut_writes_the_reference_encoding(value: object) -> None:
    """``finite=True`` (the document came from orjson, which refuses NaN and overflows) skips only
    the round trip: small numbers, big integers and lone surrogates still take the reference path."""
    try:
        expected = _reference(value)
    except (ValueError, UnicodeEncodeError) as exc:
        with pytest.raises(type(exc)):
            ids.canonical_bytes(value, finite=True)
        return
    assert ids.canonical_bytes(value, finite=True) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120).map(lambda b: bytes(b"e-x-"[c % 4] for c in b)))
@example(b"-e-")
@example(b"e-")
@example(b"-" * 40 + b"e-")
@example(b"-" * 40)
def test_the_exponent_scan_is_a_substring_test(raw: bytes) -> None:
    """The memchr scan for a negative exponent (``e-``) answers as ``in`` does: a "-" at 0, and past
    the dashes looked at one by one."""
    assert ids._negative_exponent(raw) == (b"e-" in raw)


def _documents() -> list[Path]:
    return sorted((ROOT / "submissions").rglob("*.json")) + sorted((FIXTURES / "valid").glob("*.json"))


def test_every_committed_row_id_is_unchanged() -> None:
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in _documents()]
    assert len(docs) >= 5
    for doc in docs:
        gpu = doc["environment"]["gpu"]["uuid_sha256"]
        reference = [
            __import__("hashlib").sha256(_reference({"gpu_uuid_sha256": gpu, "measurement": m})).hexdigest()
            for m in doc["measurements"]
        ]
        assert ids.measurement_hashes(doc) == reference
        assert ids.measurement_hashes(doc, finite=True) == reference


def test_the_fast_path_is_taken_for_ordinary_measurements(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ids.orjson is not None, "orjson is a required dependency (pyproject.toml)"
    doc = json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))
    expected = ids.measurement_hashes(doc)

    def slow(value: object) -> str:
        raise AssertionError("the reference encoder ran")

    monkeypatch.setattr(ids, "canonical_json", slow)
    assert ids.measurement_hashes(doc) == expected


def test_without_orjson_the_reference_path_gives_the_same_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """ids keeps a pure-Python path for an environment without orjson: it runs, and writes the same ids."""
    doc = json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))
    expected = ids.measurement_hashes(doc)
    calls, reference = [], ids.canonical_json

    def counted(value: object) -> str:
        calls.append(1)
        return reference(value)

    monkeypatch.setattr(ids, "orjson", None)
    monkeypatch.setattr(ids, "canonical_json", counted)
    assert ids.measurement_hashes(doc) == expected == ids.measurement_hashes(doc, finite=True)
    assert len(calls) == 2 * len(doc["measurements"])  # every row took the reference path
