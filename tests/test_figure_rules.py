"""One rule for the figures a row quotes beside its energy per token (ecocompute.columns
POWER_OVER_THROUGHPUT_FACTOR, PER_REQUEST_REL_TOLERANCE): the build refuses to write a row that eco-advise
would refuse to read as altered (attackadv F4 left the rule on the reader's side only)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from advisor import data
from advisor.reading import DatasetError
from dataset_card import checks

HONEST = {
    "measurement_id": "0" * 64,
    "status": "ok",
    "batch_size": 8,
    "output_tokens": 128,
    "energy_per_token_j": 0.2,
    "energy_per_request_j": 0.2 * 8 * 128,
    "power_w": 400.0,
    "throughput_tok_s": 2000.0,
}
CASES = [
    ({}, True),
    ({"energy_per_request_j": 0.2 * 8 * 128 * 1.001}, False),  # not per token x batch x output tokens
    ({"power_w": 1200.0}, False),  # 0.6 J/token implied by power over throughput, 0.2 by the trials
    ({"throughput_tok_s": 2_000_000.0, "power_w": 0.4}, False),  # a thousand times faster at a thousandth
    ({"power_w": 780.0}, True),  # 1.95 x: within the factor
    ({"power_w": 1200.0, "status": "gate_failed"}, True),  # a failed gate's spread is not judged so
]


@pytest.mark.parametrize(("change", "agrees"), CASES)
def test_the_build_and_the_reader_judge_a_rows_figures_alike(change: dict[str, Any], agrees: bool) -> None:
    row = {**HONEST, **change}
    built = bool(checks.Measurements.figures_agree(pd.DataFrame([row])).iloc[0])
    try:
        data._check_figures("dataset", row)
        read = True
    except DatasetError:
        read = False
    assert (built, read) == (agrees, agrees)


def test_a_skipped_row_without_figures_is_the_builds_to_write() -> None:
    row = {**HONEST, "status": "skipped", **dict.fromkeys(("energy_per_token_j", "energy_per_request_j"), None)}
    row |= {"power_w": None, "throughput_tok_s": None}
    figures = ("energy_per_token_j", "energy_per_request_j", "power_w", "throughput_tok_s")
    frame = pd.DataFrame([row]).astype(dict.fromkeys(figures, float))  # nulls as the Parquet reads them: NaN
    assert bool(checks.Measurements.figures_agree(frame).iloc[0])


def test_the_builds_refusal_states_the_factor_not_the_constants_name() -> None:
    """The rule's words are the build's error message: they read 'a factor of 2', not a Python name."""
    (error,) = [c.error for c in checks.Measurements.to_schema().checks if "power over" in c.error]
    assert error.endswith("within a factor of 2") and "POWER_OVER" not in error
