"""Attack v21: a trial's average power or NVML's 1-s average far below any powered board's idle.

The field was held to (0, 1.05 x limit], and to 0.5-1.5 x the range of the trial's power and the power
before it over timed trials of 2 s or more only: a real file's first warm-up (1.98 s, 374 W) reading
0.5 W on an H100 whose lower idle window is 119 W passed, and the value is published in the trials
config. A powered board reads at least its idle, so the average is now held to half the boards' lower
idle window, as each board's energy is (physics.board_below_idle). The real files' lowest is 1.003 x it.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from validator.check import check_data

REAL = Path(__file__).resolve().parents[1] / "submissions" / "ecocompute-bot"
FILE = "ecocompute-bot-h100-80gb-hbm3-20261123-232842.json"  # row 0: lower idle 119.2 W, warm-up 0 1.98 s
POINTER = "/measurements/0/trials/0/power_nvml_avg_1s_w"


@cache
def _real() -> str:
    return (REAL / FILE).read_text(encoding="utf-8")


def _errors(averaged_w: float) -> set[tuple[str, str]]:
    doc: dict[str, Any] = json.loads(_real())
    trial = doc["measurements"][0]["trials"][0]
    assert trial["role"] == "warmup" and trial["duration_s"] < 2.0
    trial["power_nvml_avg_1s_w"] = averaged_w
    found = check_data(copy.deepcopy(doc), FILE).findings
    return {(f.code, f.pointer) for f in found if f.severity == "error"}


@pytest.mark.parametrize("averaged_w", [0.5, 1.0, 45.0, 59.0])
def test_a_1s_average_far_below_the_boards_idle_is_refused(averaged_w: float) -> None:
    assert ("physics.power_range", POINTER) in _errors(averaged_w)


@pytest.mark.parametrize("averaged_w", [60.0, 119.0, 303.4777])
def test_a_1s_average_near_the_idle_or_above_passes(averaged_w: float) -> None:
    assert _errors(averaged_w) == set()


SHORT = "ecocompute-bot-h100-80gb-hbm3-20261123-173451.json"  # row 2: lower idle 131.7 W, warm-up 0 of 8 samples


def _short_warmup_errors(power_w: float) -> set[tuple[str, str]]:
    """A warm-up of fewer than 10 samples is exempt from energy = power x duration: its average power
    (the sampler's energy to match) was held to (0, limit] only."""
    doc: dict[str, Any] = json.loads((REAL / SHORT).read_text(encoding="utf-8"))
    trial = doc["measurements"][2]["trials"][0]
    assert trial["role"] == "warmup" and trial["power_samples"] < 10
    trial["power_avg_w"] = power_w
    trial["sampler_energy_j"] = power_w * trial["duration_s"]
    return {(f.code, f.pointer) for f in check_data(doc, SHORT).findings if f.severity == "error"}


@pytest.mark.parametrize("power_w", [0.5, 5.0, 65.0])
def test_a_short_warm_ups_average_power_far_below_the_idle_is_refused(power_w: float) -> None:
    assert ("physics.power_range", "/measurements/2/trials/0/power_avg_w") in _short_warmup_errors(power_w)


@pytest.mark.parametrize("power_w", [66.0, 179.7121651251831])
def test_a_short_warm_ups_average_power_near_the_idle_or_above_passes(power_w: float) -> None:
    assert _short_warmup_errors(power_w) == set()
