"""A window's average power is the sampler's integral with its ends interpolated from the readings just outside it
(collector/sampler.py summarize_window): a trial that follows a hungrier one at once starts from that one's last
reading. physics.peak_power allows for it (fphunt3 F5)."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from collector.nvml import Sample
from collector.sampler import WindowStats, summarize_window
from ecocompute import domain
from validator import lag, physics

PERIOD_S = 0.05


def _window(
    heavy_w: float, light_w: float, t0: float, t1: float, seed: int, noise: float = 0.012, stall_s: float = 0.0
) -> WindowStats:
    """The collector's summary of a light trial [t0, t1] whose readings (every 50 ms, ``noise`` relative, whole mW)
    follow a heavy trial's, which ended 4 ms before t0; ``stall_s``: no reading for that long from t0 on (a host
    under load starving the sampler's process), then one reading after t1 as the collector takes when it asks."""
    rng = random.Random(seed)
    samples = []
    for k in range(int((t1 + 0.2) / PERIOD_S)):
        t = k * PERIOD_S + 0.049
        if t0 <= t < t0 + stall_s:
            continue
        watts = round((heavy_w if t < t0 - 0.004 else light_w) * (1 + rng.gauss(0, noise)), 3)
        samples.append(Sample(t, watts, 50.0, 1980.0, 2619.0, 0, None, (watts,)))
    return summarize_window(samples, t0, t1, lambda mask: [])


def _with_light_warm_up(doc: dict[str, Any], window: WindowStats, heavy_peak_w: float, t0: float, t1: float) -> Any:
    """The valid document with its second row's first warm-up replaced by ``window``, starting 4 ms after the first
    row's last trial (peak ``heavy_peak_w``) ended: a light configuration's one-request sizing warm-up after a heavy
    configuration's in an interleaved run."""
    sub = domain.parse(doc)
    first, second = sub.measurements
    last = first.trials[-1]
    shift = last.started_at_s + last.duration_s + 0.004 - t0
    heavy = replace(last, power_peak_w=heavy_peak_w)
    light = replace(
        second.trials[0],
        started_at_s=t0 + shift,
        duration_s=t1 - t0,
        power_avg_w=window.power_avg_w,
        power_peak_w=window.power_peak_w,
        power_samples=window.samples,
        sample_rate_hz=window.sample_rate_hz,
        energy_j=round(window.energy_j, 3),
        energy_per_gpu_j=(round(window.energy_j, 3),),
        sampler_energy_j=window.energy_j,
    )
    rows = (replace(first, trials=(*first.trials[:-1], heavy)), replace(second, trials=(light, *second.trials[1:])))
    return replace(sub, measurements=rows)


@pytest.mark.parametrize("seed", range(5))
def test_a_short_warm_up_right_after_a_hungrier_trial_is_accepted(valid_doc: dict[str, Any], seed: int) -> None:
    # 470 W then 180 W (2.6 x: batch 256 then batch 1 of a small model), a 0.62-s warm-up of 12 readings
    t0, t1 = 10.004, 10.624
    window = _window(470.0, 180.0, t0, t1, seed)
    assert window.power_avg_w > window.power_peak_w / (1 - physics.PEAK_SLACK)  # the collector's own figures
    sub = _with_light_warm_up(valid_doc, window, 476.0, t0, t1)
    found = [f for f in physics.check(sub, "f.json") if f.code == "physics.peak_power"]
    assert not found, [f.message for f in found]


@pytest.mark.parametrize("seed", range(3))
def test_a_trial_whose_sampler_stalled_as_it_began_after_a_hungrier_one_is_accepted(
    valid_doc: dict[str, Any], seed: int
) -> None:
    # the first reading inside a 2-s trial came 0.65 s late (a stall under 1 s: eco-collect writes the window), so the
    # stretch interpolated from the 470-W trial before spans 0.65 s: the average read 6 % above a steady peak
    t0, t1 = 10.004, 12.004
    window = _window(470.0, 180.0, t0, t1, seed, noise=0.003, stall_s=0.65)
    assert window.power_avg_w > window.power_peak_w / (1 - physics.PEAK_SLACK)
    sub = _with_light_warm_up(valid_doc, window, 472.0, t0, t1)
    assert not [f.message for f in physics.check(sub, "f.json") if f.code == "physics.peak_power"]


def test_a_peak_below_the_average_is_still_refused_after_a_hungrier_trial(valid_doc: dict[str, Any]) -> None:
    # the same window, its peak lowered by 10 %: one period of the difference does not cover that
    t0, t1 = 10.004, 10.624
    window = _window(470.0, 180.0, t0, t1, 0)
    lowered = replace(window, power_peak_w=round(0.9 * window.power_peak_w, 3))
    sub = _with_light_warm_up(valid_doc, lowered, 476.0, t0, t1)
    assert [f.pointer for f in physics.check(sub, "f.json") if f.code == "physics.peak_power"] == [
        "/measurements/1/trials/0/power_peak_w"
    ]


def _warm_up_codes(doc: dict[str, Any], duration_s: float, samples: int) -> list[str]:
    """physics.sample_count's findings on the valid document with its first warm-up ``duration_s`` long, holding
    ``samples`` readings at the requested 20 Hz."""
    sub = domain.parse(doc)
    m = sub.measurements[0]
    warm_up = replace(m.trials[0], duration_s=duration_s, power_samples=samples, sample_rate_hz=samples / duration_s)
    one = replace(sub, measurements=(replace(m, trials=(warm_up, *m.trials[1:])),))
    return [f.code for f in physics.check(one, "f.json") if f.code == "physics.sample_count"]


@pytest.mark.parametrize(("duration_s", "samples"), [(0.9, 5), (0.9, 1), (1.2, 4), (1.5, 9)])
def test_a_warm_up_whose_sampler_stalled_under_a_second_is_accepted(
    valid_doc: dict[str, Any], duration_s: float, samples: int
) -> None:
    # a host under load starved the sampler's process for up to 1 s, which eco-collect lets pass (collector/runner.py
    # GAP_S): a 0.9-s sizing warm-up kept 5 of its 18 readings on schedule, and the run was refused (fphunt3 F6)
    assert _warm_up_codes(valid_doc, duration_s, samples) == []


@pytest.mark.parametrize(("duration_s", "samples"), [(2.0, 4), (1.6, 7), (1.2, 1)])
def test_a_warm_up_slower_than_a_stall_allows_is_refused(
    valid_doc: dict[str, Any], duration_s: float, samples: int
) -> None:
    assert _warm_up_codes(valid_doc, duration_s, samples) == ["physics.sample_count"]


def test_the_stall_allowed_is_the_collectors() -> None:
    from collector import runner

    assert (lag.SAMPLER_STALL_S, lag.SAMPLER_STALL_PERIODS) == (runner.GAP_S, runner.GAP_PERIODS)
