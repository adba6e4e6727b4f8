"""validator.madeup.interpolated: its numpy screen of long windows finds what its loop over every trial finds."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from validator import madeup

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
