"""The host's load average cannot fall faster than the kernel's 1-minute average decays
(validator/loadavg.py): pairs of readings from made-up numbers, and readings the kernel's own
arithmetic gives, on any timing of trials."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from ecocompute import domain
from validator import loadavg, timeline
from validator.check import check_data

BASE = synthetic.submission(seed=7, n_measurements=2, n_trials=7)


def _timed(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The file's trials in the order they ran."""
    return sorted((t for m in doc["measurements"] for t in m["trials"]), key=lambda t: t["started_at_s"])


def _codes(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.code, f.pointer) for f in check_data(doc, "x.json").findings if f.code == "physics.host_load"]


def _with_loads(loads: list[float | None]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for trial, load in zip(_timed(doc), loads, strict=False):
        trial["host"]["cpu_load_1m"] = load
    return doc


def _pointer(doc: dict[str, Any], n: int) -> str:
    """The pointer of the n-th trial in time order."""
    target = _timed(doc)[n]
    for i, m in enumerate(doc["measurements"]):
        for j, t in enumerate(m["trials"]):
            if t is target:
                return f"/measurements/{i}/trials/{j}/host/cpu_load_1m"
    raise AssertionError(n)


def test_the_synthetic_file_passes() -> None:
    assert _codes(copy.deepcopy(BASE)) == []


def test_a_fall_to_zero_seconds_later_is_refused() -> None:
    doc = _with_loads([0.94, 0.0])
    assert _codes(doc) == [("physics.host_load", _pointer(doc, 1))]


def test_a_spike_between_two_ordinary_readings_is_refused_where_it_falls() -> None:
    doc = _with_loads([1.0, 1.0, 60.0, 1.0])
    assert _codes(doc) == [("physics.host_load", _pointer(doc, 3))]


def test_rises_are_never_refused() -> None:
    n = len(_timed(BASE))
    assert _codes(_with_loads([0.0, 0.5, 8.0] + [60.0] * (n - 3))) == []
    assert _codes(_with_loads([1.0] * (n - 1) + [500.0])) == []


def test_one_update_with_nothing_running_passes() -> None:
    """The real files' closest pair: 1.0, then 1884/2048 one update later."""
    assert _codes(_with_loads([1.0, 1884 / 2048])) == []


def test_a_reading_without_a_load_is_skipped_and_the_pair_around_it_judged() -> None:
    assert _codes(_with_loads([1.0, None, 1.0])) == []
    doc = _with_loads([4.0, None, 0.5])
    assert _codes(doc) == [("physics.host_load", _pointer(doc, 2))]


def test_a_long_gap_lets_it_fall_all_the_way() -> None:
    doc = _with_loads([4.0, 0.0])
    later = _timed(doc)
    shift = 600.0  # ten minutes between the two trials: the average has long decayed
    for t in later[1:]:
        t["started_at_s"] += shift
    doc["session"]["wall_s"] += shift
    sub = domain.parse(doc)
    assert loadavg.check(sub, "x.json", timeline.trial_spans(sub), sub.session.wall_s) == []


@pytest.mark.parametrize("seconds", [0.0, 4.9, 5.0, 22.0, 600.0, 1e300, -3.0])
def test_the_least_is_below_the_load_and_finite(seconds: float) -> None:
    least = loadavg.least_after(1.0, seconds)
    assert least < 1.0 and least == least


def _kernel_update(load: int, active: int) -> int:
    """kernel/sched/loadavg.c calc_load, in its fixed point of 11 bits."""
    exp, fixed_1 = 1884, 2048
    new = load * exp + active * fixed_1 * (fixed_1 - exp)
    if active * fixed_1 >= load:
        new += fixed_1 - 1
    return new // fixed_1


def _proc_loadavg(load: int) -> float:
    """How /proc/loadavg prints it (rounded to hundredths), or sysinfo()'s exact steps."""
    rounded = load + 2048 // 200
    return (rounded >> 11) + (((rounded & 2047) * 100) >> 11) / 100


@settings(max_examples=60, deadline=None)
@given(
    start=st.floats(0.0, 4.99),  # where in its 5-s period the kernel is when the session starts
    active=st.lists(st.integers(0, 64), min_size=1, max_size=400),  # tasks runnable at each update
    initial=st.integers(0, 40 * 2048),
    lag=st.floats(0.0, 0.2),  # the read after each trial's end
    hundredths=st.booleans(),
)
def test_readings_the_kernel_gives_always_pass(
    start: float, active: list[int], initial: int, lag: float, hundredths: bool
) -> None:
    doc = copy.deepcopy(BASE)
    load, update_at, period = initial, start, 0
    for t in _timed(doc):
        read_at = t["started_at_s"] + t["duration_s"] + lag
        while update_at <= read_at:
            load = _kernel_update(load, active[period % len(active)])
            update_at, period = update_at + 5.0, period + 1
        t["host"]["cpu_load_1m"] = _proc_loadavg(load) if hundredths else load / 2048
    sub = domain.parse(doc)
    assert loadavg.check(sub, "x.json", timeline.trial_spans(sub), sub.session.wall_s) == []


def test_a_fall_cut_into_steps_each_inside_its_pair_is_judged_whole() -> None:
    """Each reading a hundredth above the least its pair allows (three updates and a rounding in ~4 s)
    took the load from 8 to 0.2 in 40 s, where the kernel keeps 8 x 0.92^10 of it (review 28)."""
    doc = copy.deepcopy(BASE)
    timed, load = _timed(doc), 8.0
    for n, t in enumerate(timed):
        if n:
            end = timed[n - 1]["started_at_s"] + timed[n - 1]["duration_s"]
            read_by = timed[n + 1]["started_at_s"] if n + 1 < len(timed) else doc["session"]["wall_s"]
            load = max(0.0, round(loadavg.least_after(load, read_by - end) + 0.01, 2))
        t["host"]["cpu_load_1m"] = load
    sub = domain.parse(doc)
    assert loadavg.check(sub, "x.json", timeline.trial_spans(sub)[:2], sub.session.wall_s) == []  # one pair passes
    found = _codes(doc)
    assert found and found[0] == ("physics.host_load", _pointer(doc, 2))
    [first] = [f for f in check_data(doc, "x.json").findings if f.code == "physics.host_load"][:1]
    assert "after 8.00 (trial 0 of /measurements/" in first.message
