"""Bounds from the attackers' reviews on what a trial's power readings claim, each just inside and just outside:
the fallback reading's (nvmlDeviceGetPowerUsage, a trailing 1-s average) allowance for its lag, and NVML's own
1-s average against the trial's power, its peak, the board's limit and the power before it. The other bounds
of the s17a review are test_validator_attack_bounds.py's."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ecocompute import domain
from validator import lag, physics

# --- the fallback reading's lag ------------------------------------------------------------------------


def _as_fallback_reading(name: str) -> dict[str, Any]:
    """A real file with each trial's own recorded 1-s average in place of its instant power: what
    eco-collect's fallback reading (nvmlDeviceGetPowerUsage) would have recorded."""
    from synthetic import resummarize

    real = Path(__file__).parents[1] / "submissions" / "ecocompute-bot" / name
    doc = json.loads(real.read_text(encoding="utf-8"))
    for m in doc["measurements"]:
        for t in m["trials"]:
            t["power_avg_w"] = t["power_nvml_avg_1s_w"]
            t["sampler_energy_j"] = t["power_avg_w"] * t["duration_s"]
            t["power_peak_w"] = max(t["power_peak_w"], t["power_avg_w"])
            t["power_nvml_avg_1s_w"] = None
            t["power_reading"] = "nvml_power_usage"
        starts = [t["started_at_s"] for t in m["trials"]]
        resummarize(m)
        for t, start in zip(m["trials"], starts, strict=True):  # keep the interleaved timeline
            t["started_at_s"] = start
    doc["protocol"]["power_reading"] = "nvml_power_usage"
    return doc


@pytest.mark.parametrize("factor", [0.7, 1.4])
def test_the_fallback_readings_allowance_does_not_hide_energy(factor: float) -> None:
    """Claiming the fallback reading switched the window's bias off and gave every trial 1 s of its
    own energy as slack (attack s17d): 30 % of the energy cut, or 40 % added, passed on 4-s trials,
    and a 0.8-s trial could claim any energy. The allowance is now 1 s of the difference from the
    power before each trial, and never past the board's limit."""
    from synthetic import resummarize

    from validator.check import check_document

    doc = _as_fallback_reading("ecocompute-bot-h200-20261124-000621.json")
    for m in doc["measurements"]:
        for t in m["trials"]:
            t["energy_j"] *= factor
            t["energy_per_gpu_j"] = [e * factor for e in t["energy_per_gpu_j"]]
        starts = [t["started_at_s"] for t in m["trials"]]
        resummarize(m)
        for t, start in zip(m["trials"], starts, strict=True):
            t["started_at_s"] = start
    codes = {f.code for f in check_document(doc, "f.json")}
    assert "physics.energy_bias" in codes
    short = _as_fallback_reading("ecocompute-bot-h200-20261124-000621.json")
    t = short["measurements"][0]["trials"][-1]
    t["energy_j"], t["energy_per_gpu_j"] = 192_000.0, [192_000.0]
    found = [f for f in check_document(short, "f.json") if f.code == "physics.energy_power"]
    assert found and "/trials/" in found[0].pointer


def test_the_fallback_power_readings_lag_is_allowed_for() -> None:
    """eco-collect falls back to nvmlDeviceGetPowerUsage, a trailing 1-s average, where the driver has
    no instant field. The real H200 file below with each trial's own recorded 1-s average in place of
    the instant power (what that fallback would have read) is honest, but its window sat 8.6 % off
    (interleaved: each configuration's start reads the one before) and its first warm-ups read idle
    (attack s17c, finding 1); with the instant field the window bias stays judged."""
    from validator.check import check_document

    doc = _as_fallback_reading("ecocompute-bot-h200-20261124-000621.json")
    errors = [f for f in check_document(doc, "f.json") if f.severity.value == "error"]
    assert errors == []
    for m in doc["measurements"]:  # the same numbers claimed as instant readings: judged, and off
        for t in m["trials"]:
            t["power_reading"] = "nvml_power_instant_field"
    doc["protocol"]["power_reading"] = "nvml_power_instant_field"
    codes = {f.code for f in check_document(doc, "f.json")}
    assert "physics.energy_bias" in codes


# --- NVML's 1-s average against the trial's power and the power before it ----------------------------


@pytest.mark.parametrize(
    ("factor", "of", "rejected"),
    [(0.501, "least", False), (0.499, "least", True), (1.499, "most", False), (1.501, "most", True)],
)
def test_nvml_1s_average_follows_the_trial_and_the_power_before_it(
    valid_doc: dict[str, Any], factor: float, of: str, rejected: bool
) -> None:
    """A published column: 1 W beside a 250-W trial passed (attack s18 v). The real files' averages
    lie within 0.97-1.053 x the range of the two powers; the bound is half to 1.5 x it."""
    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    j = next(j for j, t in enumerate(m.trials) if t.role == "measured" and t.duration_s >= lag.AVERAGE_JUDGED_MIN_S)
    before = lag.powers_before(sub)[0][j]
    own = m.trials[j].power_avg_w
    value = factor * (min(own, before) if of == "least" else max(own, before))
    n = m.trials[j].power_samples * 1000  # a mean of whole-mW readings over the window's samples
    trials = list(m.trials)
    trials[j] = replace(trials[j], power_nvml_avg_1s_w=round(value * n) / n)
    one = replace(sub, measurements=(replace(m, trials=tuple(trials)), *sub.measurements[1:]))
    found = [f.pointer for f in physics.check(one, "f.json") if f.code == "physics.power_range"]
    assert (f"/measurements/0/trials/{j}/power_nvml_avg_1s_w" in found) is rejected


@pytest.mark.parametrize(("factor", "rejected"), [(0.99, False), (1.01, True)])
def test_nvml_1s_average_at_most_the_peak_and_the_limit_over_its_reach(
    valid_doc: dict[str, Any], factor: float, rejected: bool
) -> None:
    """A mean of 1-s averages over a window of d seconds holds at most 1/d of the power before it (at
    most the limit) and the rest of the window's own, which its peak bounds (plus 5 %). A 1-s average
    raised by half passed the range of the trial's power and a hotter power before it."""
    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    j = next(j for j, t in enumerate(m.trials) if t.role == "measured" and t.duration_s >= lag.AVERAGE_JUDGED_MIN_S)
    t = m.trials[j]
    limit_w = physics.POWER_LIMIT_FACTOR * sub.environment.gpu.power_limit_enforced_w
    reach = lag.AVERAGE_REACH_S / t.duration_s
    ceiling = (1 - reach) * lag.AVERAGE_PEAK_SLACK * t.power_peak_w + reach * limit_w
    high = replace(t, power_nvml_avg_1s_w=factor * ceiling)
    found = lag.averaged_power(
        high, 10 * limit_w, "/t", "f.json", limit_w
    )  # a power before it that lets the range pass
    assert bool(found) is rejected
    assert lag.averaged_power(high, 10 * limit_w, "/t", "f.json") == []  # no limit given: the range alone
    assert lag.averaged_power(replace(high, duration_s=1.9), None, "/t", "f.json", limit_w) == []


def test_nvml_1s_average_of_a_short_or_untimed_trial_is_not_judged(valid_doc: dict[str, Any]) -> None:
    """Under 2 s a trial's first second (the power before it, or an idle gap) may be most of its
    window; a trial whose start is not recorded (schemas before 1.2) has no power before it."""
    t = domain.parse(valid_doc).measurements[0].trials[4]
    low = replace(t, power_nvml_avg_1s_w=0.1 * t.power_avg_w)
    assert lag.averaged_power(low, t.power_avg_w, "/t", "f.json")
    assert lag.averaged_power(replace(low, duration_s=1.9), t.power_avg_w, "/t", "f.json") == []
    assert lag.averaged_power(low, None, "/t", "f.json") == []
