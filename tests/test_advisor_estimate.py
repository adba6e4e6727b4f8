"""The advisor's statistics: delta-method estimates, pooling, the weighted line and Fieller's crossover
interval, checked against exact cases and by simulated coverage."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor import estimate
from advisor.estimate import LogEstimate
from ecocompute import stats


def _points(rng: random.Random, sizes: list[float], level: float, slope: float, se: float, scatter: float = 0.0):
    """(log10 size, estimate) points of ln ratio = level + slope (log10 size - 9.5), each observed with
    its trial noise (se, 4 degrees of freedom: five trials) plus an extra scatter the errors do not say."""
    out = []
    for size in sizes:
        x = math.log10(size)
        noise_sd = se * math.sqrt(stats_chi2(rng, 4) / 4)  # the se a window of 5 trials would report
        y = level + slope * (x - 9.5) + rng.gauss(0, se) + rng.gauss(0, scatter)
        out.append((x, LogEstimate(y, noise_sd, 4.0)))
    return out


def stats_chi2(rng: random.Random, dof: int) -> float:
    return sum(rng.gauss(0, 1) ** 2 for _ in range(dof))


def test_of_mean_is_the_delta_method() -> None:
    e = estimate.of_mean(2.0, 0.1, 4)
    assert e.value == pytest.approx(2.0)
    assert e.se == pytest.approx(0.1 / (2 * 2.0)) and e.dof == 3
    lo, hi = e.interval()
    t = stats.t_ppf(0.975, 3)
    assert (lo, hi) == pytest.approx((2.0 * math.exp(-t * e.se), 2.0 * math.exp(t * e.se)))
    assert estimate.of_mean(2.0, None, 10).interval() is None
    assert estimate.of_mean(2.0, 0.1, 1).interval() is None
    with pytest.raises(ValueError):
        estimate.of_mean(0.0, 0.1, 5)


def test_ratio_adds_variances_and_uses_welch_dof() -> None:
    a, b = LogEstimate(math.log(3.0), 0.03, 4.0), LogEstimate(math.log(2.0), 0.04, 9.0)
    r = estimate.ratio(a, b)
    assert r.value == pytest.approx(1.5) and r.se == pytest.approx(0.05)
    assert 4.0 <= r.dof <= 13.0
    assert r.dof == pytest.approx(0.05**4 / (0.03**4 / 4 + 0.04**4 / 9))
    assert estimate.ratio(a, LogEstimate(0.0, None, None)).se is None


def test_pooling_widens_only_when_estimates_disagree() -> None:
    agree = [LogEstimate(0.100, 0.01, 4.0), LogEstimate(0.101, 0.01, 6.0)]
    p = estimate.pooled(agree)
    assert p.log == pytest.approx(0.1005) and p.se == pytest.approx(0.01 / math.sqrt(2)) and p.dof == 4.0
    disagree = [LogEstimate(0.0, 0.01, 4.0), LogEstimate(0.2, 0.01, 4.0)]
    q = estimate.pooled(disagree)
    chi2 = 2 * (0.1 / 0.01) ** 2
    assert q.se == pytest.approx(math.sqrt(chi2 / 1) * 0.01 / math.sqrt(2)) and q.dof == 1.0
    assert estimate.pooled([agree[0]]) is agree[0]
    assert estimate.pooled([agree[0], LogEstimate(0.3, None, None)]).se is None


def test_exact_line_gives_its_crossover() -> None:
    crossing = 4e9
    points = [
        (math.log10(s), LogEstimate(-0.3 * (math.log10(s) - math.log10(crossing)), 1e-4, 8.0))
        for s in (1e9, 2e9, 8e9, 16e9)
    ]
    line = estimate.fit_line(points)
    assert line is not None and line.tau == 0.0
    c = estimate.crossover(line)
    assert c.kind == "crossover" and c.saves == "above"
    assert c.params == pytest.approx(crossing, rel=1e-6)
    assert c.low < crossing < c.high and c.high / c.low < 1.01


def test_a_barely_significant_slope_has_an_unbounded_end_not_an_overflow() -> None:
    """Fieller's end at 10^(2e5) parameters raised OverflowError, failing the build of an accepted file."""
    from advisor import text

    t = stats.t_ppf(0.975, 10.0)
    line = estimate.Line(9.0, 0.0, 1.0, 0.01, (1 - 1e-12) / t**2, 10.0, 0.0, 5, (8.5, 9.5))
    c = estimate.crossover(line)
    assert c.kind == "crossover" and c.params == pytest.approx(1e9) and c.high is None and c.low == 0.0
    assert c.measured is not None
    assert text._bound(c.high, c.measured, "high") == "unbounded"
    assert text._bound(c.low, c.measured, "low").startswith("below ")


def test_crossover_kinds() -> None:
    rng = random.Random(3)
    sizes = [0.5e9, 1e9, 2e9, 4e9, 8e9]
    costs = estimate.crossover(estimate.fit_line(_points(rng, sizes, math.log(1.6), 0.0, 0.01)))
    assert costs.kind == "none_in_range" and costs.saves == "nowhere" and costs.confident
    saves = estimate.crossover(estimate.fit_line(_points(rng, sizes, math.log(0.7), -0.05, 0.01)))
    assert saves.kind == "none_in_range" and saves.saves == "everywhere" and saves.confident
    # a flat ratio within noise of 1: the line may cross 1 inside, but the band contains 1 everywhere
    flat = estimate.crossover(estimate.fit_line(_points(random.Random(5), sizes, 0.0, 0.0, 0.05)))
    assert flat.kind in ("unresolved", "none_in_range")
    assert flat.kind == "unresolved" or not flat.confident
    assert estimate.crossover(estimate.fit_line(_points(rng, sizes[:2], 0.0, -0.3, 0.01))).kind == "too_few_points"
    one_size = [(9.0, LogEstimate(0.1, 0.01, 4.0))] * 3
    assert estimate.fit_line(one_size) is None


@pytest.mark.parametrize("scatter", [0.0, 0.03])
def test_crossover_interval_covers_the_truth_about_95_percent(scatter: float) -> None:
    """400 simulated sweeps of five sizes (ln ratio falling 0.35 per decade through 1 at 3.16 B, trial
    noise 1 % estimated from five trials, plus a per-model scatter in the second case): the interval
    holds the true crossover in about 95 % of them; the random-effects weights keep it so when models
    scatter beyond their trial noise (plain weighted least squares covers about 91 % there)."""
    rng = random.Random(20261122)
    sizes = [0.5e9, 1.1e9, 3e9, 7e9, 14e9]
    truth, hits, located = 10**9.5, 0, 0
    for _ in range(400):
        c = estimate.crossover(estimate.fit_line(_points(rng, sizes, 0.0, -0.35, 0.01, scatter)))
        if c.kind == "crossover":
            located += 1
            hits += c.low <= truth <= c.high
    assert located >= 380
    assert 0.93 <= hits / located <= 0.995


@given(st.floats(0.501, 0.9999), st.floats(0.6, 200.0))
def test_t_quantile_inverts_the_cdf(p: float, dof: float) -> None:
    assert stats.t_cdf(stats.t_ppf(p, dof), dof) == pytest.approx(p, abs=1e-9)
    assert stats.t_ppf(1 - p, dof) == pytest.approx(-stats.t_ppf(p, dof))


def test_interval_bounds_beyond_the_measured_sizes_are_not_given_as_sizes() -> None:
    from advisor import text

    measured = (494e6, 7.24e9)
    assert text._bound(1.41e-85, measured, "low") == "below 494 M (beyond the measured sizes)"
    assert text._bound(38.4e9, measured, "high") == "above 7.24 B (beyond the measured sizes)"
    assert text._bound(2.22e9, measured, "low") == "2.22 B"
    assert text._bound(None, measured, "high") == "unbounded"
