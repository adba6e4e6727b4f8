"""How estimates read, in the report and in eco-advise's answers: one wording for both."""

from __future__ import annotations

import math

from ecocompute.cli import printable

from .analysis import Curve, per_model
from .estimate import CONFIDENCE, MIN_FIT_POINTS, LogEstimate

METHOD = (
    "Energy per token of a row is the mean of its gate window's trials (the trials config, role "
    "'measured'); intervals are by the delta method on the log scale (se = s / (sqrt(n) x mean), Student "
    "t, Welch-Satterthwaite degrees of freedom for ratios), not by resampling, so they are deterministic. "
    "A ratio is a row's energy per token over that of its fp16 row (the energy_vs_fp16 column's pairing: "
    "same model, revision, weights, GPU board, engine, batch size and workload). Where a configuration's "
    "energy per token or ratio is given once (the energy-per-request figure, eco-advise's answers), its "
    "repeated measurements are pooled by inverse-variance weighting, widened by the scale factor "
    "sqrt(chi2/dof) when they scatter more than their trials allow. Crossover: ln(ratio) = a + b "
    "log10(parameters) per GPU, engine, batch size, workload and precision, fitted as a random-effects "
    "meta-regression (between-model spread tau by DerSimonian-Laird, weights 1/(se^2 + tau^2), "
    "Knapp-Hartung interval with t on n - 2 degrees of freedom), one point per model: its rows' ratios "
    "pooled as above, so that a model measured in several sessions weighs as one; the crossover is where the line crosses "
    "ratio 1, its interval Fieller's (the sizes at which the line's confidence band contains 1). Nothing "
    "is extrapolated beyond the measured sizes."
)


NO_INTERVAL = "no interval: no spread known"


def pct(confidence: float = CONFIDENCE) -> str:
    return f"{100 * confidence:g} %"


def params(count: float) -> str:
    """A parameter count as people say it: 7.24 B, 494 M."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.3g}"


def number(value: float) -> str:
    return f"{value:.4g}"


def interval(estimate: LogEstimate, confidence: float = CONFIDENCE) -> str:
    bounds = estimate.interval(confidence)
    if bounds is None:
        return NO_INTERVAL
    return f"{number(bounds[0])}-{number(bounds[1])}"


def with_interval(estimate: LogEstimate, confidence: float = CONFIDENCE) -> str:
    if estimate.interval(confidence) is None:
        return f"{number(estimate.value)} ({NO_INTERVAL})"
    return f"{number(estimate.value)} [{interval(estimate, confidence)}]"


def change(estimate: LogEstimate, confidence: float = CONFIDENCE) -> str:
    """A ratio as a change: +29 % [+28 %, +31 %]."""
    bounds = estimate.interval(confidence)

    def signed(r: float) -> str:
        return f"{100 * (r - 1):+.1f} %"

    if bounds is None:
        return f"{signed(estimate.value)} ({NO_INTERVAL})"
    return f"{signed(estimate.value)} [{signed(bounds[0])}, {signed(bounds[1])}]"


def verdict(estimate: LogEstimate, confidence: float = CONFIDENCE) -> str:
    """Whether a ratio's interval says it saves energy, costs energy, or cannot tell."""
    bounds = estimate.interval(confidence)
    if bounds is None:
        return ("saves" if estimate.value < 1 else "costs") + f" ({NO_INTERVAL})"
    if bounds[1] < 1:
        return "saves"
    if bounds[0] > 1:
        return "costs"
    return "indistinguishable from fp16"


def _bound(value: float | None, measured: tuple[float, float], side: str) -> str:
    """An interval bound; one the fit puts beyond the measured sizes is only said to lie beyond them
    (a log-scale fit extrapolates to sizes like 1e-85 parameters, which mean nothing)."""
    if value is None:
        return "unbounded"
    if side == "low" and value < measured[0]:
        return f"below {params(measured[0])} (beyond the measured sizes)"
    if side == "high" and value > measured[1]:
        return f"above {params(measured[1])} (beyond the measured sizes)"
    return params(value)


def crossover(curve: Curve, confidence: float = CONFIDENCE) -> str:
    """What a curve's fit says about where its precision starts saving energy."""
    c, label = curve.crossover, printable(curve.precision)
    if c.kind == "too_few_points" or c.measured is None:
        if not curve.used:  # "0 with a known spread" read as if the trials had no spread
            return (
                f"nothing fitted: none of its {len(curve.points)} ratio(s) is used, each having a row or its fp16 "
                "row with a status kept out of the estimates"
            )
        usable = [(size, ratio) for _, size, ratio in per_model(curve.points) if ratio.se is not None]
        sizes = len({size for size, _ in usable})
        return (
            f"too few models to fit a crossover: {len(usable)} with a known spread at {sizes} size(s); a fit needs "
            f"{MIN_FIT_POINTS} at two or more sizes"
        )
    measured = f"measured {params(c.measured[0])}-{params(c.measured[1])}"
    if c.kind == "crossover":
        assert c.params is not None
        return (
            f"crossover at {params(c.params)} ({pct(confidence)} interval {_bound(c.low, c.measured, 'low')} to "
            f"{_bound(c.high, c.measured, 'high')}): {label} saves energy {c.saves} it; {measured}"
        )
    if c.kind == "unresolved":
        assert c.params is not None
        return (
            f"the fitted ratio crosses 1 at {params(c.params)}, but its {pct(confidence)} band contains 1 at sizes "
            f"without bound: no crossover located; {measured}"
        )
    side = "below 1 (saves energy)" if c.saves == "everywhere" else "above 1 (costs energy)"
    sure = (
        f"the {pct(confidence)} band excludes 1 throughout"
        if c.confident
        else f"a crossover is not excluded at {pct(confidence)}"
    )
    return f"no crossover in the measured range ({measured}): the fitted ratio stays {side}; {sure}"


def short_id(row_id: str) -> str:
    return printable(row_id[:12]) if len(row_id) == 64 else printable(row_id)


def finite(value: float | None) -> float | None:
    """JSON has no infinities or NaN."""
    return value if value is not None and math.isfinite(value) else None
