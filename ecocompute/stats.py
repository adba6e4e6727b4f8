"""Statistics over raw trials. Pure functions, no I/O.

The collector writes summaries with these functions and the validator recomputes them with the
same ones, so a file can only pass if its numbers follow from its trials.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .domain import Summary, Trial


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1); 0.0 for a single value."""
    if len(values) < 2:
        return 0.0
    m = mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def cv_pct(values: Sequence[float]) -> float:
    """Coefficient of variation in percent; infinite when the mean is zero."""
    m = mean(values)
    return math.inf if m == 0 else 100.0 * sample_std(values) / m


def measured(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if t.role == "measured"]


def disagreement_pct(trial: Trial) -> float | None:
    """|sampler - counter| / counter in percent, None when there is no sampler energy."""
    if trial.sampler_energy_j is None or trial.energy_j == 0:
        return None
    return 100.0 * abs(trial.sampler_energy_j - trial.energy_j) / trial.energy_j


def summarize(trials: Sequence[Trial], idle_w: float) -> Summary | None:
    """Summary of the measured trials (the gate window); None when there are none."""
    window = measured(trials)
    if not window:
        return None
    tput = [t.throughput_tok_s for t in window]
    power = [t.power_avg_w for t in window]
    ept = [t.energy_per_token_j for t in window]
    energy = [t.energy_j for t in window]
    net = [t.energy_j - idle_w * t.duration_s for t in window]
    net_ept = [n / t.generated_tokens for n, t in zip(net, window, strict=True)]
    disagreements = [d for d in map(disagreement_pct, window) if d is not None]
    return Summary(
        trials=len(window),
        idle_power_w=idle_w,
        throughput_tok_s_mean=mean(tput),
        throughput_tok_s_std=sample_std(tput),
        throughput_tok_s_cv_pct=cv_pct(tput),
        power_w_mean=mean(power),
        power_w_std=sample_std(power),
        power_w_cv_pct=cv_pct(power),
        energy_per_token_j_mean=mean(ept),
        energy_per_token_j_std=sample_std(ept),
        energy_per_token_j_cv_pct=cv_pct(ept),
        energy_j_mean=mean(energy),
        net_energy_j_mean=mean(net),
        net_energy_per_token_j_mean=mean(net_ept),
        counter_sampler_disagreement_pct_max=max(disagreements) if disagreements else None,
    )


def close(a: float | None, b: float | None, rel: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)
