from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecocompute import gates, stats
from ecocompute.domain import GateOutcome, Idle, Summary, Trial


def test_mean_std_cv_known_values() -> None:
    values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    assert stats.mean(values) == 5.0
    assert stats.sample_std(values) == pytest.approx(2.138089935)
    assert stats.cv_pct(values) == pytest.approx(42.76179871)
    assert stats.sample_std([3.0]) == 0.0
    assert math.isinf(stats.cv_pct([0.0, 0.0]))


def _trial(role: str, duration: float, tokens: int, energy: float, power: float) -> Trial:
    return Trial(
        index=0,
        role=role,
        requests=1,
        duration_s=duration,
        generated_tokens=tokens,
        energy_j=energy,
        energy_per_gpu_j=(energy,),
        power_avg_w=power,
        power_peak_w=power,
        power_samples=20,
        sample_rate_hz=20.0,
        sampler_energy_j=energy * 1.01,
        temperature_max_c=50.0,
        sm_clock_mhz_mean=1980.0,
        mem_clock_mhz_mean=2619.0,
        throttle_reasons=(),
        cpu_load_1m=None,
        cpu_steal_pct=None,
    )


def test_summary_uses_only_the_measured_window() -> None:
    trials = [_trial("warmup", 100.0, 10, 1.0, 1.0)] + [_trial("measured", 2.0, 100, 400.0, 200.0)] * 5
    s = stats.summarize(trials, idle_w=50.0)
    assert s is not None and s.trials == 5
    assert s.throughput_tok_s_mean == 50.0 and s.throughput_tok_s_cv_pct == 0.0
    assert s.energy_per_token_j_mean == 4.0
    assert s.net_energy_j_mean == 300.0 and s.net_energy_per_token_j_mean == 3.0
    assert s.counter_sampler_disagreement_pct_max == pytest.approx(1.0)
    assert stats.summarize([_trial("warmup", 1, 1, 1, 1)], 0.0) is None


def test_idle_baseline() -> None:
    assert Idle(60.0, 70.0).power_w == 65.0
    assert Idle(60.0, None).power_w == 60.0
    # the energy floor's baseline: the window that leaves a trial the most energy above idle
    assert Idle(60.0, 70.0).lower_power_w == Idle(70.0, 60.0).lower_power_w == 60.0
    assert Idle(60.0, None).lower_power_w == 60.0
    per_gpu = Idle(130.0, 140.0, (60.0, 70.0), (65.0, 75.0))
    assert per_gpu.lower_power_per_gpu_w(2) == (60.0, 70.0)
    assert Idle(120.0, 110.0).lower_power_per_gpu_w(2) == (55.0, 55.0)  # before 1.2.0: the sum's share


def test_gates_are_strict_inequalities() -> None:
    window = [_trial("measured", 2.0, 100, 400.0, 200.0)] * 5
    base = stats.summarize(window, 0.0)
    assert base is not None
    base = dataclasses.replace(base, throughput_tok_s_cv_pct=1.99, power_w_cv_pct=4.9, energy_per_token_j_cv_pct=4.9)
    assert gates.evaluate(base, gates.DEFAULT_GATES) == GateOutcome(True, ())
    worse = dataclasses.replace(base, trials=4, throughput_tok_s_cv_pct=2.0)
    assert gates.evaluate(worse, gates.DEFAULT_GATES).failed == ("min_trials", "throughput_cv")
    assert gates.status_for(gates.evaluate(worse, gates.DEFAULT_GATES)) == "gate_failed"
    assert gates.status_for(gates.evaluate(base, gates.DEFAULT_GATES)) == "ok"
    assert isinstance(base, Summary)
    assert gates.Gates(throughput_cv_max_pct=3.0).looser_than(gates.DEFAULT_GATES) == ["throughput_cv_max_pct"]


def test_energy_vs_power_allows_the_counter_step_on_short_windows_only() -> None:
    import synthetic

    from ecocompute.domain import parse
    from validator import physics

    def flagged(duration_s: float) -> bool:
        doc = synthetic.submission(seed=1, n_measurements=1)
        doc["protocol"]["sample_period_s"] = 0.05
        t = next(t for t in doc["measurements"][0]["trials"] if t["role"] == "measured")
        t["duration_s"] = duration_s
        t["energy_j"] = round(1.08 * t["power_avg_w"] * duration_s, 3)  # 8 % above power x time, in whole mJ
        t["energy_per_gpu_j"] = [t["energy_j"]]
        t["sampler_energy_j"] = t["power_avg_w"] * duration_s  # the sampler's: its average x the window
        t["power_samples"] = int(duration_s * 20)
        t["sample_rate_hz"] = t["power_samples"] / duration_s
        return any(f.code == "physics.energy_power" for f in physics.check(parse(doc), "f.json"))

    assert not flagged(0.5)  # 0.2 s of slack (one counter step, two sampler edges) is 40 % of 0.5 s
    assert flagged(20.0)  # on a real trial only the 5 % tolerance is left (plus 1 %)


def test_t_quantiles_by_newton_agree_with_bisection() -> None:
    for dof in (0.6, 1.0, 2.0, 3.7, 4.0, 9.5, 30.0, 1e6):
        for p in (0.501, 0.6, 0.9, 0.975, 0.995, 0.9999):
            bisected = stats._quantile(lambda t, dof=dof: stats.t_cdf(t, dof), p, 1.0, 1e-12)
            assert stats.t_ppf(p, dof) == pytest.approx(bisected, rel=1e-10), (p, dof)


def test_t_quantiles_match_tables() -> None:
    for dof, expected in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (30, 2.0423), (1e6, 1.9600)):
        assert stats.t_ppf(0.975, dof) == pytest.approx(expected, abs=1e-4)
    assert stats.t_ppf(0.5, 3) == pytest.approx(0.0, abs=1e-9)
    assert stats.t_cdf(-2.0, 4) == pytest.approx(0.05805826, abs=1e-7)
    with pytest.raises(ValueError):
        stats.t_ppf(1.0, 3)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=30))
def test_spread_is_mean_std_and_cv_to_the_bit(values: list[float]) -> None:
    """summarize takes all three from one spread(); a summary written before must recompute equal."""
    m = math.fsum(values) / len(values)
    std = 0.0 if len(values) < 2 else math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))
    cv = math.inf if m == 0 else 100.0 * std / m
    assert stats.spread(values) == (m, std, cv)
    assert (stats.mean(values), stats.sample_std(values), stats.cv_pct(values)) == (m, std, cv)
