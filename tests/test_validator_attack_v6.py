"""Attack v6: the sampler's means of NVML's whole readings and the host's load average
(validator/readings.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import synthetic

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


def test_a_one_second_average_missing_a_few_samples_passes() -> None:
    """A sample whose average field failed on its own is left out of the mean: up to three may be."""
    doc = synthetic.submission(seed=9, n_measurements=1, n_trials=7)
    t = _trial(doc)
    n = t["power_samples"] - 3
    t["power_nvml_avg_1s_w"] = round(t["power_nvml_avg_1s_w"] * 1000 * n + 1) / (1000 * n)
    assert _codes(doc) == set()


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
        assert readings._means(domain.Trial.from_dict({**t, "energy_per_gpu_j": [1.0, 1.0, 1.0]})) is None
        assert readings._means(domain.Trial.from_dict(t)) is not None  # on one board: not whole
