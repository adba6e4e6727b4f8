"""A file from a clock of whole milliseconds (Windows before Python 3.13: time.monotonic is GetTickCount64) is
judged at that clock's grain: its honest durations repeat and step by a tick, so the rules on equal values,
progressions and lines through two trials refused honest files (the real files re-read by such a clock: 3 %),
while a claim of Windows left durations and starts typed by hand unjudged (review37 F1's exemption)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import synthetic

from ecocompute import domain
from validator import fabrication, madeup
from validator.check import check_document


def _read_by_ticks(doc: dict[str, Any], tick_ms: float, phase_ms: float, steady: bool = False) -> dict[str, Any]:
    """The file as eco-collect writes it on Windows 10 with Python 3.12, its trials' true start and end read by a
    clock of ``tick_ms`` ticks in whole milliseconds; ``steady``: every trial of a row as long as its first."""
    doc = copy.deepcopy(doc)
    doc["environment"]["host"]["os"], doc["environment"]["software"]["python"] = "Windows 10", "3.12.4"

    def read(t: float) -> float:
        return math.floor(math.floor((t * 1e3 + phase_ms) / tick_ms) * tick_ms) / 1e3

    for m in doc["measurements"]:
        first = m["trials"][0]["duration_s"]
        for t in m["trials"]:
            true = first if steady else t["duration_s"]
            t0, t1 = read(t["started_at_s"]), read(t["started_at_s"] + true)
            t["started_at_s"], t["duration_s"] = t0 - read(0.0), t1 - t0
            t["sampler_energy_j"] = t["power_avg_w"] * t["duration_s"]
        synthetic.resummarize(m)
    return doc


def _fabrication(doc: dict[str, Any]) -> list[str]:
    sub = domain.parse(doc)
    found = fabrication.check(sub, [str(i) for i in range(len(sub.measurements))], "f.json")[0]
    return [f"{f.code}: {f.message}" for f in found]


@pytest.mark.parametrize("tick_ms", [15.625, 1.0])
@pytest.mark.parametrize("phase_ms", [271_234_567.0, 271_234_590.1])
def test_a_steady_row_read_in_ticks_is_no_fabrication(tick_ms: float, phase_ms: float) -> None:
    # every trial one tick count (zero variance), or a tick apart in floats that differ in their last digits
    # (a progression, a line through two trials): each refused an honest Windows file
    doc = _read_by_ticks(synthetic.submission(seed=4, n_measurements=3, n_trials=7), tick_ms, phase_ms, steady=True)
    assert _fabrication(doc) == []
    assert not [f for f in check_document(doc, "f.json") if f.code.startswith("fabrication.")]


def test_the_same_steady_row_on_a_fine_clock_is_still_refused() -> None:
    doc = _read_by_ticks(synthetic.submission(seed=4, n_measurements=3, n_trials=7), 15.625, 271_234_567.0, True)
    doc["environment"]["software"]["python"] = "3.13.1"  # QueryPerformanceCounter: whole milliseconds are typed
    assert any("every duration_s rounded to 3" in m for m in _fabrication(doc))


def _typed(doc: dict[str, Any], places: int, starts: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["environment"]["host"]["os"], doc["environment"]["software"]["python"] = "Windows 11", "3.11.9"
    clock = 0.0
    for m in doc["measurements"]:
        for t in m["trials"]:
            t["duration_s"] = round(t["duration_s"], places)
            if starts:
                t["started_at_s"] = clock = round(clock + t["duration_s"] + 0.0137, places)
    return doc


TYPED = synthetic.submission(seed=6, n_measurements=3, n_trials=8)  # durations 2-3 s: 10 distinct at 2 decimals


@pytest.mark.parametrize(("places", "rejected"), [(2, True), (3, False), (4, True), (6, False)])
def test_durations_typed_on_a_millisecond_clock(places: int, rejected: bool) -> None:
    # 2 decimals over the file's 7 or more distinct durations: at most (1/8)^7 by chance; 4 decimals: finer than
    # that clock reads; 3: what it reads, unjudged; 6: no such clock's (left to other rules). Typed to 1 decimal,
    # these hold 3 distinct values: not judged (a steady row's honest ticks hold as few)
    found = [m for m in _fabrication(_typed(TYPED, places)) if "rounded to" in m]
    assert bool(found) is rejected, found


@pytest.mark.parametrize(("places", "rejected"), [(1, True), (2, True), (3, False), (4, True)])
def test_starts_typed_on_a_millisecond_clock(places: int, rejected: bool) -> None:
    found = [m for m in _fabrication(_typed(TYPED, places, starts=True)) if "start times" in m]
    assert bool(found) is rejected, found


def test_few_distinct_durations_are_not_judged() -> None:
    # a steady row's durations repeat one tick count: 6 distinct values all on 10 ms are not judged, 7 are
    window = [4.25, 4.26, 4.27, 4.28, 4.29, 4.31]
    doc = synthetic.submission(seed=5, n_measurements=1, n_trials=len(window) + 4)
    doc["environment"]["host"]["os"], doc["environment"]["software"]["python"] = "Windows 10", "3.12.4"
    after = [t for t in doc["measurements"][0]["trials"] if t["role"] != "warmup"]
    for t, d in zip(after, window + [window[0]] * len(after), strict=False):
        t["duration_s"] = d
    assert not [m for m in _fabrication(doc) if "distinct trial durations" in m]
    after[len(window)]["duration_s"] = 4.33
    assert [m for m in _fabrication(doc) if "distinct trial durations" in m]


def test_stuck_power_readings_are_judged_at_whole_watts() -> None:
    # review37 F3: a reading that stood still all trial long: its average is the whole-mW reading, and its peak
    after = [(5.0 + 0.01 * k + 1e-7 * k * k, 0.0, 300.0 + 0.137 * k) for k in range(7)]
    assert madeup.rounded(after) == ("power_avg_w", 3)
    assert madeup.rounded(after, stuck=True) is None
    assert madeup.rounded([(d, e, round(p)) for d, e, p in after], stuck=True) == ("power_avg_w", 0)
