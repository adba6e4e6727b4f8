"""fabrication.too_regular over a whole file (attack v27 N3): every idle baseline, or every trial's start time,
rounded by hand; neither judged where the clock reads whole milliseconds (Windows before Python 3.13, review37 F1),
whose starts lie on the grid of 10^-3 s as measured."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ecocompute import domain
from validator import fabrication

IRREGULAR_W = (71.23456781, 72.87654329)  # before, after: unrounded, apart at every grid judged


def _messages(doc: dict[str, Any]) -> list[str]:
    sub = domain.parse(doc)
    found = fabrication.check(sub, [str(i) for i in range(len(sub.measurements))], "f.json")[0]
    return [f.message for f in found if f.code == "fabrication.too_regular"]


def _with_idle(doc: dict[str, Any], before: float, after: float) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for m in doc["measurements"]:
        m["idle"].update(
            power_before_w=before, power_after_w=after, power_per_gpu_before_w=[before], power_per_gpu_after_w=[after]
        )
    return doc


def _windows(doc: dict[str, Any], python: str = "3.12.3") -> dict[str, Any]:
    """The file as eco-collect writes it on Windows: the OS named by platform, no load average."""
    doc = copy.deepcopy(doc)
    doc["environment"]["host"].update(os="Windows 10", kernel="10")
    doc["environment"]["software"]["python"] = python
    for m in doc["measurements"]:
        for t in m["trials"]:
            t["host"]["cpu_load_1m"] = None
    return doc


def _timed(doc: dict[str, Any], places: int) -> dict[str, Any]:
    """Every trial's start rounded to ``places`` decimals, each moved 2 ms after the one before it went (the
    synthetic trials follow each other without a gap)."""
    doc = copy.deepcopy(doc)
    for k, t in enumerate(t for m in doc["measurements"] for t in m["trials"]):
        t["started_at_s"] = round(t["started_at_s"] + 0.002 * (k + 1), places)
    return doc


@pytest.mark.parametrize(
    ("places", "rejected"), [(0, True), (1, True), (3, True), (4, True), (6, False), (None, False)]
)
def test_idle_rounded_by_hand(valid_doc: dict[str, Any], places: int | None, rejected: bool) -> None:
    # eco-collect's idle is counter millijoules over a nanosecond-timed window: on a grid of 10^-4 W once in 10^5
    before, after = (v if places is None else round(v, places) for v in IRREGULAR_W)
    found = _messages(_with_idle(valid_doc, before, after))
    assert any("idle baselines" in m for m in found) is rejected


def test_one_idle_baseline_alone_is_not_judged(valid_doc: dict[str, Any]) -> None:
    # rows of one load share a baseline: a file whose every row idles at one round figure holds one value
    assert not _messages(_with_idle(valid_doc, 71.0, 71.0))


def test_idle_of_a_board_without_an_energy_counter_is_not_judged(valid_doc: dict[str, Any]) -> None:
    # power_integration: the sampler's integral over an idle window whose readings stood at one whole-mW value is
    # that value (review38 F4: vGPU, WSL2, a reading that updates slowly); the counter's file is still judged
    doc = _with_idle(valid_doc, 71.0, 72.0)
    assert any("idle baselines" in m for m in _messages(doc))
    doc["protocol"]["energy_method"] = "power_integration"
    assert not any("idle baselines" in m for m in _messages(doc))


def test_idle_of_a_whole_millisecond_clock_is_not_judged(valid_doc: dict[str, Any]) -> None:
    # counter millijoules over a window of whole milliseconds (5,000 ms: 0.2 mW steps) may lie on any grid
    assert not _messages(_windows(_with_idle(valid_doc, 71.0, 72.0)))


@pytest.mark.parametrize(("places", "rejected"), [(1, True), (3, True), (4, True), (6, False)])
def test_starts_rounded_by_hand(valid_doc: dict[str, Any], places: int, rejected: bool) -> None:
    found = _messages(_timed(valid_doc, places))
    assert any("start times" in m for m in found) is rejected


@pytest.mark.parametrize(("python", "rejected"), [("3.12.3", False), ("3.10.12", False), ("3.13.1", True)])
def test_starts_of_a_whole_millisecond_clock(valid_doc: dict[str, Any], python: str, rejected: bool) -> None:
    # time.monotonic is GetTickCount64 on Windows before Python 3.13: every start a whole millisecond
    found = _messages(_timed(_windows(valid_doc, python), 3))
    assert any("start times" in m for m in found) is rejected


@pytest.mark.parametrize(("kept", "rejected"), [(4, False), (5, True)])
def test_starts_judged_from_min_starts_on(valid_doc: dict[str, Any], kept: int, rejected: bool) -> None:
    # madeup.MIN_STARTS (5) held from both sides (review38 F5): fewer starts are not judged (each falls on the grid
    # by chance once in 10^5); from it on, every one rounded is a hand's work
    doc = _timed(valid_doc, 3)
    trials = [t for m in doc["measurements"] for t in m["trials"]]
    for t in trials[kept:]:
        t["started_at_s"] = None
    found = _messages(doc)
    assert any("start times" in m for m in found) is rejected
