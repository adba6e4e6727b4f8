"""Attack v6: the sampler's means of NVML's whole readings and the host's load average
(validator/readings.py)."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.nvml import Sample
from collector.sampler import summarize_window
from ecocompute import domain
from validator import readings
from validator.check import check_data

ROOT = Path(__file__).resolve().parents[1]


def _codes(doc: dict) -> set[str]:
    return {f.code for f in check_data(doc, "attack-v6.json").findings}


def _trial(doc: dict, i: int = 4) -> dict:
    return doc["measurements"][0]["trials"][i]


def test_every_real_trial_averages_whole_readings() -> None:
    files = sorted((ROOT / "submissions").rglob("*.json"))
    assert files
    for f in files:
        sub = domain.parse(json.loads(f.read_text(encoding="utf-8")))
        assert readings.check(sub, f.name) == [], f.name


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("sm_clock_mhz_mean", 1953.47, "physics.clocks"),
        ("mem_clock_mhz_mean", 2619.3, "physics.clocks"),
        ("cpu_load_1m", 1.2345678, "physics.host_load"),
    ],
)
def test_readings_the_sampler_cannot_average_are_named(field: str, value: float, code: str) -> None:
    doc = synthetic.submission(seed=7, n_measurements=1, n_trials=7)
    assert _codes(doc) == set()
    t = _trial(doc)
    (t["host"] if field == "cpu_load_1m" else t)[field] = value
    assert _codes(doc) == {code}


def test_a_one_second_average_off_whole_milliwatts_is_named() -> None:
    doc = synthetic.submission(seed=8, n_measurements=1, n_trials=7)
    t = _trial(doc)
    t["power_nvml_avg_1s_w"] += 1.234e-4
    assert _codes(doc) == {"physics.power_range"}


@pytest.mark.parametrize("averaged", [11, 17, 23, 37])
def test_a_one_second_average_missing_any_number_of_samples_passes(averaged: int) -> None:
    """The sampler leaves a sample whose average field failed out of the mean (0.1.0 switched the field
    off for the rest of the run at the first failure): a mean over any number of the window's samples."""
    doc = synthetic.submission(seed=9, n_measurements=1, n_trials=7)
    t = _trial(doc)
    n = t["power_samples"]
    assert n == 42 and averaged < n - 3  # primes, none dividing 39-42: no count the old rule tried fits
    samples = [
        Sample(i * 0.01, 300.0, 50.0, 1980.0, 2619.0, 0, (299_000 + (i * 7919) % 997) / 1000 if i < averaged else None)
        for i in range(n)
    ]
    window = summarize_window(
        [*samples, Sample(9.0, 300.0, 50.0, 1980.0, 2619.0, 0)], 0.0, (n - 1) * 0.01, lambda _: []
    )
    assert window.samples == n
    t["power_nvml_avg_1s_w"] = window.power_avg_1s_w
    assert _codes(doc) == set()


def test_clocks_of_several_boards_without_an_energy_counter_are_their_samples_mean() -> None:
    """Without the counter the trial has one energy for all boards: the clocks are still the boards' mean."""
    doc = synthetic.submission(seed=12, n_measurements=1, n_trials=7)
    doc["environment"]["gpu"]["count"] = 2
    for t in doc["measurements"][0]["trials"]:
        t["sm_clock_mhz_mean"] = (1980 * t["power_samples"] * 2 - 1) / (t["power_samples"] * 2)
        t["energy_per_gpu_j"] = [t["energy_j"]]
    assert readings.check(domain.parse(doc), "f.json") == []


def test_hundredths_of_proc_loadavg_and_the_kernels_steps_pass() -> None:
    doc = synthetic.submission(seed=10, n_measurements=1, n_trials=7)
    _trial(doc, 3)["host"]["cpu_load_1m"] = 0.88  # a libc that parses /proc/loadavg
    _trial(doc, 4)["host"]["cpu_load_1m"] = 1807 / 2048  # sysinfo(): the kernel's fixed point
    assert _codes(doc) == set()


def test_clocks_of_several_boards_are_their_samples_mean() -> None:
    """Each sample's clock is the boards' mean, so the window's mean times samples and boards is whole."""
    doc = synthetic.submission(seed=11, n_measurements=1, n_trials=7)
    for t in doc["measurements"][0]["trials"]:
        n = t["power_samples"]
        t["sm_clock_mhz_mean"] = (1980 * n * 3 - 1) / (n * 3)  # one board read a megahertz lower once
        assert readings._means(domain.Trial.from_dict(t), 3) is None
        assert readings._means(domain.Trial.from_dict(t), 1) is not None  # on one board: not whole


@settings(max_examples=300, deadline=None)
@given(
    readings_mw=st.lists(st.integers(min_value=0, max_value=2_000_000), min_size=1, max_size=60),
    extra=st.integers(min_value=0, max_value=5_000),
    made_up=st.floats(min_value=1.0, max_value=2e6, allow_nan=False),
)
def test_the_usual_case_shortcut_of_the_1s_average_rule_decides_as_the_fraction_does(
    readings_mw: list[int], extra: int, made_up: float
) -> None:
    """readings._mean_of_some first tries the window's own count (every sample read the field): a
    shortcut, never a different verdict from the nearest fraction of at most that many readings."""

    def by_fraction(mean: float, most: int) -> bool:
        nearest = Fraction(mean).limit_denominator(most)
        return abs(mean - nearest.numerator / nearest.denominator) <= readings.MEAN_SLACK * abs(mean)

    most = len(readings_mw) + extra
    for mean in (math.fsum(readings_mw) / len(readings_mw), made_up):
        if mean > 0:
            assert readings._mean_of_some(mean, most) == by_fraction(mean, most)
