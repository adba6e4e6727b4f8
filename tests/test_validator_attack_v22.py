"""Attack v22: a trial's mean SM clock far below what its arithmetic needs.

physics.compute_roofline held a trial's counted arithmetic to the board's dense peak at the clock allowance
(1.05 x boost on a data-centre board) whatever SM clock the trial claimed, and physics.clocks only to
100-4,000 MHz: the real batch-512 file (fp16 Qwen2.5-7B on an H100, 136 TFLOP/s at 1,928 MHz) passed with
every trial at 100-200 MHz, where the board's arithmetic peaks at 50-100 TFLOP/s. The peak scales with the
clock, so a trial of at least 10 samples is now held to the peak at its own mean clock too (x 1.2, the
data-centre rating's margin). The real files' busiest trials reach 0.141 of it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ecocompute import domain, reference
from validator import capacity
from validator.check import check_data

REAL = Path(__file__).resolve().parents[1] / "submissions" / "ecocompute-bot"
FILE = "ecocompute-bot-h100-80gb-hbm3-20261124-195304.json"  # fp16 and nf4 Qwen2.5-7B at batch 512


@cache
def _real() -> str:
    return (REAL / FILE).read_text(encoding="utf-8")


def _errors(clock_mhz: float | None, row: int = 0) -> set[tuple[str, str]]:
    doc: dict[str, Any] = json.loads(_real())
    if clock_mhz is not None:
        for t in doc["measurements"][row]["trials"]:
            t["sm_clock_mhz_mean"] = clock_mhz
    found = check_data(copy.deepcopy(doc), FILE).findings
    return {(f.code, f.pointer) for f in found if f.severity == "error"}


@pytest.mark.parametrize("clock_mhz", [100.0, 150.0, 200.0])
def test_a_batch_512_row_at_a_clock_too_slow_for_its_arithmetic_is_refused(clock_mhz: float) -> None:
    assert ("physics.compute_roofline", "/measurements/0/trials/0/sm_clock_mhz_mean") in _errors(clock_mhz)


@pytest.mark.parametrize("clock_mhz", [None, 300.0, 1000.0, 1980.0])
def test_the_real_row_and_clocks_its_arithmetic_fits_pass(clock_mhz: float | None) -> None:
    assert _errors(clock_mhz) == set()


def test_the_nf4_row_is_held_to_the_same_clock() -> None:
    assert ("physics.compute_roofline", "/measurements/1/trials/0/sm_clock_mhz_mean") in _errors(150.0, row=1)


def test_a_window_of_few_samples_is_not_judged_by_its_clock() -> None:
    # a short warm-up's mean may be a reading taken while the clocks ramped up from idle
    sub = domain.parse(json.loads(_real()))
    m = sub.measurements[0]
    board = reference.default().gpus[sub.environment.gpu.name]
    spec = reference.default().models[m.model.id]

    def codes(samples: int) -> list[str]:
        trials = tuple(replace(t, sm_clock_mhz_mean=150.0, power_samples=samples) for t in m.trials)
        row = replace(m, trials=trials)
        return [f.code for f in capacity.check(sub, row, board, spec, "/measurements/0", FILE)]

    assert "physics.compute_roofline" in codes(capacity.CLOCK_JUDGED_MIN_SAMPLES)
    assert "physics.compute_roofline" not in codes(capacity.CLOCK_JUDGED_MIN_SAMPLES - 1)
