"""Flattening a submission into rows: the validator's gate and the builder share one computation."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from ecocompute import domain, ids, rows

DOC = json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))


def test_a_second_flatten_of_the_same_submission_reuses_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    sub, hashes = domain.parse(DOC), ids.measurement_hashes(DOC)
    gate = rows.flatten(sub, "shown/by/the/validator.json", "", hashes)
    calls = []
    real = rows.measurement_row
    monkeypatch.setattr(rows, "measurement_row", lambda *a: calls.append(a) or real(*a))
    built = rows.flatten(sub, "submissions/x/y.json", "ab" * 32, hashes)
    assert built[0] is gate[0] and built[1] is gate[1] and calls == []
    assert built[2]["file_path"] == "submissions/x/y.json" and built[2]["file_sha256"] == "ab" * 32
    again = rows.flatten(sub, "submissions/x/y.json", "ab" * 32, hashes)  # handed out once more only
    assert again[0] == gate[0] and again[0] is not gate[0] and len(calls) == len(hashes)


def test_another_submission_in_between_is_not_confused_with_it() -> None:
    first, hashes = domain.parse(DOC), ids.measurement_hashes(DOC)
    a = rows.flatten(first, "a.json", "", hashes)
    twin = domain.parse(DOC)  # equal, not the same object
    b = rows.flatten(twin, "a.json", "", hashes)
    assert b[0] == a[0] and b[0] is not a[0]
    c = rows.flatten(first, "a.json", "", list(reversed(hashes)))  # other hashes: other rows
    assert [r["measurement_id"] for r in c[0]] == list(reversed(hashes))
