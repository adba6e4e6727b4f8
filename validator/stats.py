"""Statistics over raw trials. Pure functions, no I/O.

The collector writes summaries with these functions and the validator recomputes them with the
same ones, so a file can only pass if its numbers follow from its trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Trial = Mapping[str, object]


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


def idle_power_w(idle: Mapping[str, float | None]) -> float:
    """Idle baseline: the mean of the before and after windows (before alone if after is missing)."""
    after = idle.get("power_after_w")
    before = float(idle["power_before_w"])  # type: ignore[arg-type]
    return before if after is None else (before + float(after)) / 2.0


def measured(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if t["role"] == "measured"]


def throughput_tok_s(trial: Trial) -> float:
    return float(trial["generated_tokens"]) / float(trial["duration_s"])  # type: ignore[arg-type]


def energy_per_token_j(trial: Trial) -> float:
    return float(trial["energy_j"]) / float(trial["generated_tokens"])  # type: ignore[arg-type]


def net_energy_j(trial: Trial, idle_w: float) -> float:
    return float(trial["energy_j"]) - idle_w * float(trial["duration_s"])  # type: ignore[arg-type]


def disagreement_pct(trial: Trial) -> float | None:
    """|sampler - counter| / counter in percent, None when there is no sampler energy."""
    sampled, counter = trial.get("sampler_energy_j"), float(trial["energy_j"])  # type: ignore[arg-type]
    if sampled is None or counter == 0:
        return None
    return 100.0 * abs(float(sampled) - counter) / counter  # type: ignore[arg-type]


def summarize(trials: Sequence[Trial], idle_w: float) -> dict[str, float | int | None] | None:
    """Summary of the measured trials (the gate window); None when there are none."""
    window = measured(trials)
    if not window:
        return None
    tput = [throughput_tok_s(t) for t in window]
    power = [float(t["power_avg_w"]) for t in window]  # type: ignore[arg-type]
    ept = [energy_per_token_j(t) for t in window]
    energy = [float(t["energy_j"]) for t in window]  # type: ignore[arg-type]
    net = [net_energy_j(t, idle_w) for t in window]
    net_ept = [n / float(t["generated_tokens"]) for n, t in zip(net, window, strict=True)]  # type: ignore[arg-type]
    disagreements = [d for d in (disagreement_pct(t) for t in window) if d is not None]
    return {
        "trials": len(window),
        "idle_power_w": idle_w,
        "throughput_tok_s_mean": mean(tput),
        "throughput_tok_s_std": sample_std(tput),
        "throughput_tok_s_cv_pct": cv_pct(tput),
        "power_w_mean": mean(power),
        "power_w_std": sample_std(power),
        "power_w_cv_pct": cv_pct(power),
        "energy_per_token_j_mean": mean(ept),
        "energy_per_token_j_std": sample_std(ept),
        "energy_per_token_j_cv_pct": cv_pct(ept),
        "energy_j_mean": mean(energy),
        "net_energy_j_mean": mean(net),
        "net_energy_per_token_j_mean": mean(net_ept),
        "counter_sampler_disagreement_pct_max": max(disagreements) if disagreements else None,
    }


def close(a: float | None, b: float | None, rel: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)
