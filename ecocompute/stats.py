"""Statistics over raw trials. Pure functions, no I/O.

The collector writes summaries with these functions and the validator recomputes them with the
same ones, so a file can only pass if its numbers follow from its trials.
"""

from __future__ import annotations

import functools
import itertools
import math
import statistics
from collections.abc import Callable, Sequence

from . import catalogue
from .domain import Summary, Trial


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1); 0.0 for a single value."""
    return 0.0 if len(values) < 2 else spread(values)[1]


def cv_pct(values: Sequence[float]) -> float:
    """Coefficient of variation in percent; infinite when the mean is zero."""
    return spread(values)[2]


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, sample_std, cv_pct) of ``values``, each the same float its own function returns, the
    mean computed once (a summary asks for all three of three series: the validator does so per row)."""
    m = mean(values)
    std = 0.0 if len(values) < 2 else math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))
    return m, std, (math.inf if m == 0 else 100.0 * std / m)


def measured(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if t.role == catalogue.ROLE_MEASURED]


def disagreement_pct(trial: Trial) -> float | None:
    """|sampler - counter| / counter in percent, None when there is no sampler energy."""
    if trial.sampler_energy_j is None or trial.energy_j == 0:
        return None
    return 100.0 * abs(trial.sampler_energy_j - trial.energy_j) / trial.energy_j


def net_energy_j(trial: Trial, idle_w: float) -> float:
    """The trial's energy above the idle baseline (``idle_w``: summed over the measured GPUs)."""
    return trial.energy_j - idle_w * trial.duration_s


def summarize(trials: Sequence[Trial], idle_w: float) -> Summary | None:
    """Summary of the measured trials (the gate window); None when there are none."""
    window = measured(trials)
    if not window:
        return None
    tput = [t.throughput_tok_s for t in window]
    power = [t.power_avg_w for t in window]
    ept = [t.energy_per_token_j for t in window]
    energy = [t.energy_j for t in window]
    net = [net_energy_j(t, idle_w) for t in window]
    net_ept = [n / t.generated_tokens for n, t in zip(net, window, strict=True)]
    disagreements = [d for d in map(disagreement_pct, window) if d is not None]
    tput_mean, tput_std, tput_cv = spread(tput)
    power_mean, power_std, power_cv = spread(power)
    ept_mean, ept_std, ept_cv = spread(ept)
    return Summary(
        trials=len(window),
        idle_power_w=idle_w,
        throughput_tok_s_mean=tput_mean,
        throughput_tok_s_std=tput_std,
        throughput_tok_s_cv_pct=tput_cv,
        power_w_mean=power_mean,
        power_w_std=power_std,
        power_w_cv_pct=power_cv,
        energy_per_token_j_mean=ept_mean,
        energy_per_token_j_std=ept_std,
        energy_per_token_j_cv_pct=ept_cv,
        energy_j_mean=mean(energy),
        net_energy_j_mean=mean(net),
        net_energy_per_token_j_mean=mean(net_ept),
        counter_sampler_disagreement_pct_max=max(disagreements) if disagreements else None,
    )


# How far a stated summary value may lie from the same value recomputed from its trials: the writer
# uses these functions, so only float noise separates them. eco-validate accepts a file on this test
# and whatever reads a built dataset checks its rows on it, so that every accepted file builds.
# The largest magnitude a number of the dataset may have: far beyond any quantity it holds, yet far
# below where the estimates' and figures' arithmetic overflows (a legacy value of 1e308 did, in a CV):
# a bound an accepted file cannot reach, even an absurd one whose fp16 ratio spans twenty orders of
# magnitude. The dataset's readers (advisor.data, dataset_card.legacy) refuse what lies beyond it.
MAGNITUDE_MAX = 1e100
SUMMARY_REL_TOLERANCE = 1e-6
SUMMARY_ABS_TOLERANCE = 1e-9


def close(
    a: float | None, b: float | None, rel: float = SUMMARY_REL_TOLERANCE, abs_tol: float = SUMMARY_ABS_TOLERANCE
) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


# -- early stop: is passing the throughput gate still plausible? ---------------------------------


def regularized_gamma_p(a: float, x: float) -> float:
    """P(a, x), the regularized lower incomplete gamma function (series below a + 1, else Lentz's
    continued fraction for Q = 1 - P)."""
    if x <= 0:
        return 0.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(1000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return min(1.0, total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return max(0.0, 1.0 - math.exp(log_prefix) * h)


def chi2_cdf(x: float, dof: float) -> float:
    return regularized_gamma_p(dof / 2.0, x / 2.0)


def _quantile(cdf: Callable[[float], float], p: float, hi: float, rel: float) -> float:
    """The x >= 0 where a monotone ``cdf`` reaches p, by bisection to ``rel`` relative."""
    lo = 0.0
    while cdf(hi) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if cdf(mid) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= rel * hi:
            break
    return (lo + hi) / 2


@functools.lru_cache(maxsize=4096)  # a pure function of (p, dof); the early-stop replay asks for few pairs
def chi2_ppf(p: float, dof: float) -> float:
    """The p-quantile of the chi-square distribution (bisection: monotone, to 1e-10 relative)."""
    return _quantile(lambda x: chi2_cdf(x, dof), p, max(1.0, dof), 1e-10)


_NORMAL = statistics.NormalDist()

# Median |x[i+1] - x[i]| of normal noise with standard deviation sigma is sqrt(2) * 0.6745 * sigma.
_MEDIAN_ABS_DIFF_PER_SIGMA = math.sqrt(2.0) * 0.6744897501960817
# Degrees of freedom of that estimator's square, matched to its variance for normal noise by
# simulation (20,000 runs each, m = 10..40: 0.31-0.35 (m-1)); the lower end, to err towards going on.
_ROBUST_DOF_PER_DIFFERENCE = 0.3


def short_term_cv(values: Sequence[float]) -> tuple[float, float]:
    """Trial-to-trial relative spread, robustly: the median absolute difference of consecutive values
    (slow drift hardly enters it, and a slow phase covering fewer than half of the trials does not
    move it), scaled to a standard deviation for normal noise; and its effective degrees of freedom.

    Returns (cv as a fraction, dof)."""
    if len(values) < 3:
        raise ValueError("the spread of fewer than three trials says nothing")
    return short_term_cv_of(sorted(abs(b - a) for a, b in itertools.pairwise(values)), values)


def short_term_cv_of(differences: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """``short_term_cv(values)`` given ``differences``, the sorted absolute differences of consecutive
    ``values`` (at least three): kept sorted as values are appended, a caller that asks after every new
    value (the early-stop replay, gates.ImplausibleAfter) pays no sort per question."""
    half = len(differences) // 2
    median = differences[half] if len(differences) % 2 else (differences[half - 1] + differences[half]) / 2
    return median / _MEDIAN_ABS_DIFF_PER_SIGMA / mean(values), _ROBUST_DOF_PER_DIFFERENCE * (len(values) - 1)


def window_pass_probability(values: Sequence[float], window: int, gate_cv_pct: float, confidence: float) -> float:
    """Chance that the next ``window`` trials have a CV below ``gate_cv_pct``, taking the trial-to-trial
    spread at the lower end of its one-sided ``confidence`` interval (the optimistic case), from
    ``values`` (all post-warm-up throughputs so far). For normal trials with spread sigma, the window's
    sample variance is sigma^2 chi2(window - 1) / (window - 1)."""
    return pass_probability(short_term_cv(values), window, gate_cv_pct, confidence)


def pass_probability(spread: tuple[float, float], window: int, gate_cv_pct: float, confidence: float) -> float:
    """``window_pass_probability`` given ``short_term_cv``'s (cv, dof) of the values."""
    cv, dof = spread
    if cv == 0:
        return 1.0
    cv_low = cv * math.sqrt(dof / chi2_ppf(confidence, dof))
    return chi2_cdf((window - 1) * (gate_cv_pct / 100.0 / cv_low) ** 2, window - 1)


# -- Student's t: intervals of estimates from a few trials --------------------------------------


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function (Lentz's continued fraction, on the side
    of x where it converges fast)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_prefix = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1) / (a + b + 2):
        return 1.0 - regularized_beta(b, a, 1.0 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (tiny if abs(d) < tiny else d)
    h = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (tiny if abs(d) < tiny else d)
            c = 1 + numerator / c
            c = tiny if abs(c) < tiny else c
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h / a)


def t_cdf(t: float, dof: float) -> float:
    tail = 0.5 * regularized_beta(dof / 2.0, 0.5, dof / (dof + t * t))
    return 1.0 - tail if t > 0 else tail


def t_pdf(t: float, dof: float) -> float:
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    return math.exp(log_norm - (dof + 1) / 2 * math.log1p(t * t / dof))


# Intervals ask for the same quantile again and again (a report's table row, error bar and fit band).
@functools.lru_cache(maxsize=4096)
def t_ppf(p: float, dof: float) -> float:
    """The p-quantile of Student's t with ``dof`` degrees of freedom, to 1e-12 relative (0 < p < 1).

    Newton's method from the Cornish-Fisher expansion about the normal quantile, kept inside a bracket
    of the root (bisection where a step would leave it): three or four evaluations of the cdf instead
    of bisection's forty, which matters when a report of 100,000 rows asks for an interval per row."""
    if not 0 < p < 1 or not dof > 0:
        raise ValueError(f"t quantile needs 0 < p < 1 and dof > 0, not p={p}, dof={dof}")
    if p < 0.5:
        return -t_ppf(1 - p, dof)
    z = _NORMAL.inv_cdf(p)
    t = z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)
    lo, hi = 0.0, math.inf
    for _ in range(200):
        miss = t_cdf(t, dof) - p
        if miss == 0:
            return t
        lo, hi = (t, hi) if miss < 0 else (lo, t)
        pdf = t_pdf(t, dof)
        step = t - miss / pdf if pdf > 0 else math.nan
        if not lo < step < hi:  # also NaN: a flat tail
            step = (lo + hi) / 2 if hi < math.inf else 2 * t + 1
        if abs(step - t) <= 1e-12 * abs(step):
            return step
        t = step
    return t
