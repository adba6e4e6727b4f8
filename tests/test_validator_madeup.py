"""validator.madeup: interpolated's numpy screen of long windows finds what its loop over every trial finds, its
bound for a window of many trials, and the durations of a clock of whole milliseconds."""

from __future__ import annotations

import math
import random

import pytest
import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from ecocompute import domain
from validator import madeup
from validator.check import check_document

# Values as eco-collect writes them, and as a hand would type them (few decimals: equal values, axis-aligned pairs).
_value = st.one_of(
    st.floats(min_value=1.0, max_value=1_000.0, allow_nan=False),
    st.integers(min_value=1, max_value=20).map(float),
    st.decimals(min_value=1, max_value=20, places=1).map(float),
)


@st.composite
def windows(draw: st.DrawFn) -> list[tuple[float, float, float]]:
    n = draw(st.integers(min_value=0, max_value=40))
    rows = [(draw(_value), 0.0, draw(_value)) for _ in range(n)]
    if n >= 3 and draw(st.booleans()):  # one trial made from two others
        i, j, k = draw(st.permutations(range(n)))[:3]
        w = draw(st.floats(min_value=-1.0, max_value=2.0))
        rows[k] = (w * rows[i][0] + (1 - w) * rows[j][0], 0.0, w * rows[i][2] + (1 - w) * rows[j][2])
    return rows


@settings(max_examples=300, deadline=None)
@given(windows())
def test_numpy_screen_finds_what_the_loop_finds(window: list[tuple[float, float, float]]) -> None:
    assert madeup.interpolated(window, numpy_from=3) == madeup.interpolated(window, numpy_from=10**9)


def test_numpy_screen_on_measured_looking_windows() -> None:
    # values with every digit, as eco-collect writes them, one trial in each window made from two others
    rng, found = random.Random(1), 0
    for _ in range(1_000):
        n = rng.choice([3, 5, 7, 16, 20, 40, 130])
        window = [(rng.uniform(5.0, 6.0), 0.0, rng.uniform(400.0, 500.0)) for _ in range(n)]
        i, j, k = rng.sample(range(n), 3)
        w = rng.uniform(-0.5, 1.5)
        window[k] = (w * window[i][0] + (1 - w) * window[j][0], 0.0, w * window[i][2] + (1 - w) * window[j][2])
        loop = madeup.interpolated(window, numpy_from=10**9)
        assert madeup.interpolated(window, numpy_from=3) == loop
        found += loop is not None
    assert found == 1_000


def test_a_line_all_but_level_wraps_from_pi_to_zero() -> None:
    # trial 0's directions to 1 and 2 lie 5e-11 rad either side of level: 5e-11 and pi - 5e-11 once taken
    # modulo pi, neighbours only across the wrap
    window = [
        (5.0, 0.0, 400.0),
        (6.0, 0.0, 400.0 + 2e-9),
        (7.0, 0.0, 400.0 - 2e-9),
        (5.5, 0.0, 500.0),
        (4.5, 0.0, 450.0),
    ]
    assert madeup.interpolated(window, numpy_from=3) == madeup.interpolated(window, numpy_from=10**9) == (0, 1, 2)


def test_a_mean_of_two_far_apart_trials_in_the_schemas_longest_window() -> None:
    # 1,000 trials after warm-up (the schema's budget): the screen in blocks of rows still sees trial 3's
    # directions to 500 and 900, blocks apart
    rng = random.Random(7)
    window = [(rng.uniform(20.0, 21.0), 0.0, rng.uniform(400.0, 450.0)) for _ in range(1_000)]
    assert madeup.interpolated(window) is None
    a, b = window[3], window[500]
    window[900] = (0.3 * a[0] + 0.7 * b[0], 0.0, 0.3 * a[2] + 0.7 * b[2])
    assert madeup.interpolated(window) == (3, 500, 900)


def _with_a_near_line(n: int, gap_rad: float) -> list[tuple[float, float, float]]:
    """``n`` measured-looking trials, trial 2 placed so that its direction from trial 0 and trial 1's differ by
    ``gap_rad`` (in the window's scaled plane): three trials that chance put near one line."""
    rng = random.Random(11)
    window = [(rng.uniform(20.0, 21.0), 0.0, rng.uniform(400.0, 450.0)) for _ in range(n)]
    window[0], window[1] = (20.2, 0.0, 410.0), (20.8, 0.0, 440.0)  # inside the spans: trial 2 moves none
    spans = [max(w[q] for w in window) - min(w[q] for w in window) for q in (0, 2)]
    du, dv = 0.6 / spans[0], 30.0 / spans[1]  # trial 0 to trial 1, scaled
    angle = math.atan2(dv, du) + gap_rad
    reach = 0.5 * math.hypot(du, dv)
    window[2] = (20.2 + reach * math.cos(angle) * spans[0], 0.0, 410.0 + reach * math.sin(angle) * spans[1])
    return window


def test_the_bound_shrinks_as_a_window_holds_more_triples() -> None:
    # 3e-11 rad: taken for a made trial among 7 (35 triples); among 1,000 (1.7e8 triples) chance puts three honest
    # trials that close in one window of 70, which were refused (review37 F2)
    assert madeup.interpolated(_with_a_near_line(7, 3e-11)) == (0, 1, 2)
    assert madeup.interpolated(_with_a_near_line(1_000, 3e-11)) is None
    assert madeup.interpolated(_with_a_near_line(1_000, 3e-14)) == (0, 1, 2)  # a mean computed in floats: still found


def _on_a_millisecond_clock(os_name: str, python: str) -> set[str]:
    """An honest run read by time.monotonic in GetTickCount64's 15.625-ms ticks of whole milliseconds (Windows
    before Python 3.13), a machine up for days: each trial's start and duration from two such readings, the
    sampler's energy over that window. The codes of errors the checks inside the file find."""
    doc = synthetic.submission(seed=3, n_measurements=3, n_trials=7)
    doc["environment"]["host"]["os"], doc["environment"]["software"]["python"] = os_name, python

    def monotonic(true_s: float) -> float:
        return round(true_s // 0.015625 * 15.625) / 1e3

    uptime_s = 271_234.567
    for m in doc["measurements"]:
        for t in m["trials"]:
            t0, t1 = (monotonic(uptime_s + t["started_at_s"] + dt) for dt in (0.0, t["duration_s"]))
            t["started_at_s"], t["duration_s"] = t0 - monotonic(uptime_s), t1 - t0
            t["sampler_energy_j"] = t["power_avg_w"] * t["duration_s"]
        synthetic.resummarize(m)
    return {f.code for f in check_document(doc, "f.json") if f.severity == "error"}


@pytest.mark.parametrize(
    ("os_name", "python", "rejected"),
    [("Windows 10", "3.12.4", False), ("Windows 11", "3.10.11", False), ("Windows 11", "3.13.0", True)],
)
def test_durations_on_a_clock_of_whole_milliseconds(os_name: str, python: str, rejected: bool) -> None:
    # every duration there is whole milliseconds: a Windows file was refused as rounded by hand (review37 F1);
    # Python 3.13 reads QueryPerformanceCounter there, and Linux a nanosecond clock, so such durations are typed
    assert ("fabrication.too_regular" in _on_a_millisecond_clock(os_name, python)) is rejected
    assert "fabrication.too_regular" in _on_a_millisecond_clock("Ubuntu 22.04.4 LTS", python)


@pytest.mark.parametrize("numpy_from", [3, 10**9])
def test_two_trials_at_one_point_are_no_line_with_a_third(numpy_from: int) -> None:
    # review37 F4: from trial 0, trials 1 and 2 at one (duration, power) point give one direction: "interpolated"
    # with any third; a repeat is the repeated-trial rules' (on a clock of whole milliseconds, with a stuck reading)
    window = [(4.25, 0.0, 301.5), (4.266, 0.0, 305.25), (4.266, 0.0, 305.25), (4.234, 0.0, 299.125)]
    assert madeup.interpolated(window, numpy_from=numpy_from) is None
    made = [*window, (4.258, 0.0, 303.375)]  # the mean of trials 0 and 1 still is found
    assert madeup.interpolated(made, numpy_from=numpy_from) == (0, 1, 4)


def _trials(edit: dict[str, object]) -> list:
    doc = synthetic.submission(seed=2, n_measurements=1, n_trials=6)
    for t in doc["measurements"][0]["trials"]:
        t.update({k: t["power_avg_w"] if v == "avg" else v for k, v in edit.items()})
    return list(domain.parse(doc).measurements[0].trials)


def test_stuck_power_is_an_average_equal_to_its_peak_not_from_the_instant_field() -> None:
    assert madeup.stuck_power(_trials({"power_peak_w": "avg", "power_reading": "nvml_power_usage"}))
    assert madeup.stuck_power(_trials({"power_peak_w": "avg", "power_reading": None}))  # before schema 1.2.0
    assert not madeup.stuck_power(_trials({"power_peak_w": "avg", "power_reading": "nvml_power_instant_field"}))
    assert not madeup.stuck_power(_trials({"power_reading": "nvml_power_usage"}))  # a peak above: readings moved
    assert not madeup.stuck_power([])
