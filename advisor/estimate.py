"""Estimates with confidence intervals, by the delta method on the log scale, and the crossover fit.

Every estimate is of a positive quantity (energy per token, a ratio of two), carried as its natural
log with a standard error and degrees of freedom, so intervals are exp(log +/- t x se): asymmetric,
never negative, and ratios are differences of logs. No resampling: the results are deterministic
without a seed.

- One measurement: the mean energy per token of its gate window (n trials, standard deviation s);
  se of the log mean = s / (sqrt(n) x mean) (delta method), n - 1 degrees of freedom.
- A ratio (a precision over its fp16 row): se = sqrt(se1^2 + se2^2), Welch-Satterthwaite degrees of
  freedom.
- Several estimates of one quantity (several sessions or boards): inverse-variance weighted mean of
  the logs. When they scatter more than their own errors allow (chi^2 / (k - 1) > 1) the se is
  multiplied by sqrt(chi^2 / (k - 1)) and k - 1 degrees of freedom are used (the Particle Data
  Group's scale factor); otherwise the smallest of their degrees of freedom.
- Ratio vs size: ln(ratio) = a + b log10(parameters) by weighted least squares, as a random-effects
  meta-regression (``fit_line``: models differ beyond their trial noise). The crossover is where the
  line crosses ratio 1; its interval is Fieller's: the parameter counts at which the line's
  confidence band contains ratio 1.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ecocompute import stats

CONFIDENCE = 0.95
MIN_FIT_POINTS = 3  # a line and one degree of freedom left to check it
MIN_SE = 1e-12  # a window of identical trials would get an infinite weight


# Not frozen: a 100,000-row report builds about 300,000 of these, and a frozen dataclass's __init__ (object.__setattr__
# per field) costs 0.40 us against 0.12 us. Nothing assigns to one after construction; hashable by value
# as before (unsafe_hash costs construction nothing), as ecocompute.measurement.Trial.
@dataclass(slots=True, unsafe_hash=True)
class LogEstimate:
    """A positive quantity as ln(value), its standard error and degrees of freedom; ``se`` is None
    where no spread is known (a legacy aggregate published without one)."""

    log: float
    se: float | None
    dof: float | None

    @property
    def value(self) -> float:
        return math.exp(self.log)

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
        if self.se is None or self.dof is None:
            return None
        half = stats.t_ppf(0.5 + confidence / 2, self.dof) * self.se
        return math.exp(self.log - half), math.exp(self.log + half)


def of_mean(mean: float, std: float | None, n: int | None) -> LogEstimate:
    """The mean of n positive values with sample standard deviation ``std`` (delta method)."""
    if mean <= 0:
        raise ValueError(f"a mean energy must be positive, not {mean}")
    if std is None or n is None or n < 2:
        return LogEstimate(math.log(mean), None, None)
    return LogEstimate(math.log(mean), max(std / (math.sqrt(n) * mean), MIN_SE), n - 1.0)


def ratio(numerator: LogEstimate, denominator: LogEstimate) -> LogEstimate:
    log = numerator.log - denominator.log
    if None in (numerator.se, denominator.se, numerator.dof, denominator.dof):
        return LogEstimate(log, None, None)
    v1, v2 = numerator.se**2, denominator.se**2  # type: ignore[operator]
    dof = (v1 + v2) ** 2 / (v1**2 / numerator.dof + v2**2 / denominator.dof)  # type: ignore[operator]
    return LogEstimate(log, math.sqrt(v1 + v2), dof)


def pooled(estimates: Sequence[LogEstimate]) -> LogEstimate:
    """Inverse-variance weighted mean of estimates of one quantity (see the module docstring); the
    plain mean, without an interval, when any lacks a spread."""
    if not estimates:
        raise ValueError("nothing to pool")
    if len(estimates) == 1:
        return estimates[0]
    # lists, not generators (fsum's sum is exact, the same whichever way it is fed): a large build's
    # configurations pool up to 100,000 estimates each, and a generator costs a frame switch an item
    logs = [e.log for e in estimates]
    if any(e.se is None or e.dof is None for e in estimates):
        return LogEstimate(math.fsum(logs) / len(estimates), None, None)
    weights = [1 / e.se**2 for e in estimates]  # type: ignore[operator]
    total = math.fsum(weights)
    log = math.fsum([w * x for w, x in zip(weights, logs, strict=True)]) / total
    chi2 = math.fsum([w * (x - log) ** 2 for w, x in zip(weights, logs, strict=True)])
    factor = chi2 / (len(estimates) - 1)
    if factor > 1:
        return LogEstimate(log, math.sqrt(factor / total), len(estimates) - 1.0)
    return LogEstimate(log, math.sqrt(1 / total), min(e.dof for e in estimates))  # type: ignore[type-var]


@dataclass(frozen=True)
class Line:
    """ln(ratio) = level + slope x (log10(parameters) - center), fitted by weighted least squares;
    level and slope are uncorrelated in this centred form."""

    center: float
    level: float
    slope: float
    var_level: float
    var_slope: float
    dof: float
    tau: float  # spread of the points about the line beyond their trial noise (ln units)
    n: int
    log10_range: tuple[float, float]  # the measured sizes

    def at(self, log10_params: float) -> LogEstimate:
        u = log10_params - self.center
        return LogEstimate(self.level + self.slope * u, math.sqrt(self.var_level + u * u * self.var_slope), self.dof)


@dataclass(frozen=True)
class _Weighted:
    center: float
    total: float
    sxx: float
    level: float
    slope: float
    q: float  # weighted residual sum of squares


def _weighted(xs: Sequence[float], ys: Sequence[float], ws: Sequence[float]) -> _Weighted:
    total = math.fsum(ws)
    center = math.fsum(w * x for w, x in zip(ws, xs, strict=True)) / total
    us = [x - center for x in xs]
    sxx = math.fsum(w * u * u for w, u in zip(ws, us, strict=True))
    level = math.fsum(w * y for w, y in zip(ws, ys, strict=True)) / total
    slope = math.fsum(w * u * y for w, u, y in zip(ws, us, ys, strict=True)) / sxx
    q = math.fsum(w * (y - level - slope * u) ** 2 for w, u, y in zip(ws, us, ys, strict=True))
    return _Weighted(center, total, sxx, level, slope, q)


def fit_line(points: Sequence[tuple[float, LogEstimate]]) -> Line | None:
    """The fit of (log10 parameters, ln ratio) points; None when fewer than MIN_FIT_POINTS points
    have a spread or they sit at one size.

    Models of one size class differ beyond their trial noise (architecture, kernels), so this is a
    random-effects meta-regression: the between-model variance tau^2 by DerSimonian-Laird's moment
    estimator, weights 1/(se^2 + tau^2), and the Knapp-Hartung covariance (scaled by the weighted
    residual variance, never below 1) with Student t on n - 2 degrees of freedom. Simulated five-
    and ten-size sweeps with five-trial windows cover the true crossover in 94-100 % of cases at 95 %
    (tests/test_advisor_estimate.py)."""
    usable = [(x, e.log, e.se**2) for x, e in points if e.se is not None and e.dof is not None]
    xs, ys = [x for x, _, _ in usable], [y for _, y, _ in usable]
    if len(usable) < MIN_FIT_POINTS or max(xs) - min(xs) <= 0:
        return None
    df = len(usable) - 2
    ws = [1 / v for _, _, v in usable]
    fixed = _weighted(xs, ys, ws)
    us = [x - fixed.center for x in xs]
    trace = fixed.total - math.fsum(w * w for w in ws) / fixed.total
    trace -= math.fsum(w * w * u * u for w, u in zip(ws, us, strict=True)) / fixed.sxx
    tau2 = max(0.0, (fixed.q - df) / trace) if trace > 0 else 0.0
    fit = _weighted(xs, ys, [1 / (v + tau2) for _, _, v in usable])
    factor = max(1.0, fit.q / df)
    return Line(
        fit.center,
        fit.level,
        fit.slope,
        factor / fit.total,
        factor / fit.sxx,
        float(df),
        math.sqrt(tau2),
        len(usable),
        (min(xs), max(xs)),
    )


@dataclass(frozen=True)
class Crossover:
    """Where a precision's ratio to fp16 crosses 1, in parameters.

    kind:
    - ``crossover``: the fitted line crosses 1 inside the measured sizes; [low, high] is its interval
      (None: unbounded on that side); ``saves`` says on which side the precision saves energy.
    - ``unresolved``: the line crosses 1 inside the measured sizes, but its confidence band contains
      ratio 1 at arbitrarily large or small sizes: the data do not locate a crossover.
    - ``none_in_range``: the line stays on one side of 1 over the measured sizes (``saves`` is
      ``everywhere`` or ``nowhere``); ``confident`` when its band excludes 1 over the whole range.
    - ``too_few_points``: fewer than MIN_FIT_POINTS points with a spread, or a single size.
    """

    kind: str
    params: float | None = None
    low: float | None = None
    high: float | None = None
    saves: str | None = None
    confident: bool = False
    measured: tuple[float, float] | None = None  # smallest and largest measured parameter count


def crossover(line: Line | None, confidence: float = CONFIDENCE) -> Crossover:
    if line is None:
        return Crossover("too_few_points")
    lo_x, hi_x = line.log10_range
    measured = (10**lo_x, 10**hi_x)
    t = stats.t_ppf(0.5 + confidence / 2, line.dof)
    # Fieller: u such that (level + slope u)^2 <= t^2 (var_level + u^2 var_slope), u = log10 P - center.
    a = line.slope**2 - t * t * line.var_slope
    b = 2 * line.level * line.slope
    c = line.level**2 - t * t * line.var_level
    disc = b * b - 4 * a * c
    roots = sorted(((-b - math.sqrt(disc)) / (2 * a), (-b + math.sqrt(disc)) / (2 * a))) if disc >= 0 and a else None
    at_point = -line.level / line.slope if line.slope else None
    if at_point is not None and lo_x <= at_point + line.center <= hi_x:
        point = 10 ** (at_point + line.center)
        saves = "above" if line.slope < 0 else "below"
        if a > 0 and roots is not None:
            return Crossover(
                "crossover", point, _size(roots[0] + line.center), _size(roots[1] + line.center), saves, True, measured
            )
        return Crossover("unresolved", point, None, None, saves, False, measured)
    low_end, high_end = line.at(lo_x).log, line.at(hi_x).log
    saves = "everywhere" if low_end < 0 and high_end < 0 else "nowhere"
    return Crossover(
        "none_in_range", None, None, None, saves, _band_excludes_one(a, b, c, roots, line, lo_x, hi_x), measured
    )


def _size(log10_params: float) -> float | None:
    """A Fieller end in parameters; None (unbounded) where it passes what a float holds: a slope only
    just significant puts the end at sizes like 10^1000 (the OverflowError stopped the build)."""
    return 10**log10_params if log10_params < _LOG10_FLOAT_MAX else None


_LOG10_FLOAT_MAX = math.log10(sys.float_info.max)


def _band_excludes_one(
    a: float, b: float, c: float, roots: list[float] | None, line: Line, lo_x: float, hi_x: float
) -> bool:
    """Whether Fieller's set (where the band contains ratio 1) misses the measured range."""
    lo_u, hi_u = lo_x - line.center, hi_x - line.center
    if a > 0:
        return roots is None or roots[1] < lo_u or roots[0] > hi_u
    if roots is None:  # a <= 0 without real roots: the band contains 1 everywhere
        return False
    return roots[0] <= lo_u and hi_u <= roots[1]  # the set is outside (r0, r1): the range must lie inside
