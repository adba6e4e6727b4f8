"""Attack v14: relations between the rows of one file that no single row shows."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from conftest import FIXTURES, batch_rows
from hypothesis import given, settings
from hypothesis import strategies as st

from ecocompute import catalogue, domain
from ecocompute.domain import Submission
from validator import architecture, physics, scaling, versions

VALID = FIXTURES / "valid" / "synthetic-two-measurements.json"


def _rows(doc: dict[str, Any], precision: str, rows: list[tuple[int, float]]) -> Submission:
    """The first measurement once per (batch, tok/s in all) of ``rows``, at ``precision``."""
    return batch_rows(doc, rows, precision)


def _flagged(sub: Submission) -> set[int]:
    return {int(f.pointer.split("/")[2]) for f in physics.check(sub, "f.json") if f.code == "physics.batch_throughput"}


@pytest.mark.parametrize(("ratio", "rejected"), [(0.91, False), (0.89, True)])
def test_a_larger_batch_decodes_no_fewer_tokens_a_second_in_all(
    valid_doc: dict[str, Any], ratio: float, rejected: bool
) -> None:
    # batch 8 made 8 x slower per request (147 tok/s against batch 1's 166 on an H100) passed
    assert bool(_flagged(_rows(valid_doc, "fp16", [(1, 100.0), (8, ratio * 100.0)]))) is rejected


def test_the_fastest_smaller_batch_is_the_yardstick(valid_doc: dict[str, Any]) -> None:
    # batch 16 at 0.89 x batch 8's throughput, though 4 x batch 1's
    assert _flagged(_rows(valid_doc, "fp16", [(1, 100.0), (8, 450.0), (16, 400.0)])) == {2}


def test_only_batches_up_to_8_are_yardsticks_in_all(valid_doc: dict[str, Any]) -> None:
    # beyond batch 8 a step may be bound by arithmetic: batch 128 about as fast as 64, noise decides (review 26)
    assert _flagged(_rows(valid_doc, "fp16", [(1, 100.0), (8, 700.0), (64, 2000.0), (128, 1700.0)])) == set()
    # ... but batch 8 stays the yardstick of every larger batch
    assert _flagged(_rows(valid_doc, "fp16", [(1, 100.0), (8, 700.0), (64, 2000.0), (128, 600.0)])) == {3}


@pytest.mark.parametrize("label", ["nf4", "nf4-dq", "fp4"])
def test_a_4_bit_batch_1_is_no_yardstick_in_all(valid_doc: dict[str, Any], label: str) -> None:
    # bitsandbytes decodes one token with gemv_4bit and more by dequantizing first: batch 2 may be slower in all
    assert _flagged(_rows(valid_doc, label, [(1, 100.0), (2, 60.0), (8, 50.0)])) == {2}
    assert _flagged(_rows(valid_doc, "int8", [(1, 100.0), (2, 60.0)])) == {1}  # 8 bits: no such kernel


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(sorted(catalogue.PRECISIONS)),
    st.lists(
        st.tuples(st.sampled_from([1, 2, 4, 8, 16, 32]), st.floats(1e-3, 1e6, allow_nan=False)), min_size=1, max_size=8
    ),
)
def test_batch_throughput_flags_exactly_the_rows_below_a_smaller_batch(
    label: str, rows: list[tuple[int, float]]
) -> None:
    """Against the quadratic definition."""
    valid_doc = json.loads(VALID.read_text(encoding="utf-8"))
    four_bit = catalogue.PRECISIONS[label].four_bit
    expected = {
        i
        for i, (b, t) in enumerate(rows)
        if any(
            b0 < b and b0 <= 8 and t < scaling.BATCH_THROUGHPUT_MIN * t0 and not (four_bit and b0 == 1)
            for b0, t0 in rows
        )
    }
    assert _flagged(_rows(valid_doc, label, rows)) == expected


def _driver_codes(doc: dict[str, Any], capability: str, driver: str, nvml_major: int) -> list[str]:
    sub = domain.parse(doc)
    gpu = replace(sub.environment.gpu, compute_capability=capability)
    recorded = {
        "driver_version": driver,
        "nvml_version": f"{nvml_major}.{driver}",
        "cuda_driver_version": f"{nvml_major}.0",
    }
    env = replace(
        sub.environment, gpu=gpu, driver=recorded, software={**sub.environment.software, "torch_cuda": "11.8"}
    )
    edited = replace(sub, environment=env)
    return [f.code for f in versions.check(edited, "f.json") + architecture.check(edited, "f.json")]


@pytest.mark.parametrize(
    ("capability", "driver", "nvml_major", "rejected"),
    [
        ("9.0", "510.47.03", 11, True),  # passed: driver 510 on an H100
        ("9.0", "515.105.01", 11, True),
        ("9.0", "520.61.05", 11, False),  # CUDA 11.8's first driver, the first to know Hopper
        ("8.9", "515.105.01", 11, True),  # Ada Lovelace, from CUDA 11.8 too
        ("8.6", "450.51.05", 11, True),  # GA10x from CUDA 11.1 (455.23)
        ("8.6", "455.23.05", 11, False),
        ("8.0", "450.36.06", 11, False),  # the A100 from CUDA 11.0
        ("7.5", "410.48", 10, False),
        ("12.0", "565.57.01", 12, True),  # Blackwell from CUDA 12.8 (570.26)
        ("12.0", "570.86.16", 12, False),
        ("8.7", "450.36.06", 11, False),  # a capability the table does not list is not judged
    ],
)
def test_no_driver_older_than_the_boards_architecture(
    valid_doc: dict[str, Any], capability: str, driver: str, nvml_major: int, rejected: bool
) -> None:
    assert ("provenance.driver_cuda" in _driver_codes(valid_doc, capability, driver, nvml_major)) is rejected


def test_a_windows_driver_under_wsl2_passes_the_boards_floor(valid_doc: dict[str, Any]) -> None:
    # NVML not naming the recorded driver: provenance.driver_versions' warning says so; a Windows driver's
    # number (537.13 of branch 535) is at or above its branch, so an H100's floor holds for it too (attack v15)
    sub = domain.parse(valid_doc)
    recorded = {"driver_version": "537.13", "nvml_version": "12.535.104.05", "cuda_driver_version": "12.2"}
    env = replace(sub.environment, driver=recorded)
    assert "provenance.driver_cuda" not in [f.code for f in architecture.check(replace(sub, environment=env), "f.json")]
