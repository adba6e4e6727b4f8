"""Two grains of "alternate" (review38 F7): groups.alternate asks whether two rows' spans of time overlap;
precisions._neighbour_ratios pairs trials next to each other, and a twin is judged from MIN_TWIN_PAIRS of them."""

from __future__ import annotations

import synthetic

from ecocompute import domain
from validator import groups, precisions


def _rows(order: str) -> list[domain.Measurement]:
    """Two rows whose trials run in ``order`` ("a" and "b" for each row's trial, one second each)."""
    doc = synthetic.submission(seed=7, n_measurements=2, n_trials=order.count("a"))
    a, b = doc["measurements"]
    b["trials"] = [dict(a["trials"][0], index=k) for k in range(order.count("b"))]
    nth = {"a": iter(a["trials"]), "b": iter(b["trials"])}
    for second, who in enumerate(order):
        t = next(nth[who])
        t.update(started_at_s=float(second), duration_s=0.9, role="measured")
    return list(domain.parse(doc).measurements)


def test_spans_that_overlap_are_not_yet_trials_that_alternate() -> None:
    rows = _rows("aaaabbbbbbaaaa")  # b inside a's span: touching at two trials
    assert groups.alternate(rows) and len(precisions._neighbour_ratios(*rows)) == 2 < precisions.MIN_TWIN_PAIRS


def test_trials_that_alternate_have_spans_that_overlap() -> None:
    rows = _rows("abababababab")
    assert groups.alternate(rows) and len(precisions._neighbour_ratios(*rows)) == 6 >= precisions.MIN_TWIN_PAIRS
