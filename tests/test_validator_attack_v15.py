"""Attack v15: the driver floor of a board's architecture, and batch scaling, against evasions and
rows that crashed the check."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ecocompute import domain
from validator import architecture, scaling, versions


def _driver_codes(doc: dict[str, Any], driver: str, nvml: str) -> list[str]:
    sub = domain.parse(doc)  # the synthetic H100: compute capability 9.0, whose floor is branch 520
    cuda = nvml.split(".")[0] + ".0"  # the CUDA NVML names: libcuda and torch agree with it
    recorded = {"driver_version": driver, "nvml_version": nvml, "cuda_driver_version": cuda}
    env = replace(sub.environment, driver=recorded, software={**sub.environment.software, "torch_cuda": cuda})
    edited = replace(sub, environment=env)
    return [f.code for f in versions.check(edited, "f.json") + architecture.check(edited, "f.json")]


@pytest.mark.parametrize(
    ("driver", "nvml", "rejected"),
    [
        ("510.47.03", "11.510.47.03", True),
        # an NVML that does not name the driver (a warning) hid the floor: accepted with a warning
        ("510.47.03", "11.512.15", True),
        ("510.47.03", "11.999.1", True),
        ("580.159.04", "11.510.47.03", True),  # NVML's own driver is branch 510
        ("581.15", "13.580.76.05", False),  # WSL2: Windows 581.15 of branch 580, NVML its Linux side
        ("537.13", "12.535.104.05", False),
        ("580.159", "13.580.159", False),  # a driver of two fields
        ("580.159.04", "13.0", False),  # an NVML without a driver number: its own warning alone
        # an NVML written without its CUDA major is the driver itself (review 27: read as driver '104.05')
        ("535.104.05", "535.104.05", False),
        ("535.104.05", "510.47.03", True),
    ],
)
def test_the_boards_floor_holds_whatever_nvml_says(
    valid_doc: dict[str, Any], driver: str, nvml: str, rejected: bool
) -> None:
    assert ("provenance.driver_cuda" in _driver_codes(valid_doc, driver, nvml)) is rejected


def test_an_nvml_without_its_cuda_major_is_read_as_the_driver_it_names(valid_doc: dict[str, Any]) -> None:
    sub = domain.parse(valid_doc)
    recorded = {"driver_version": "535.104.05", "nvml_version": "510.47.03", "cuda_driver_version": "12.2"}
    env = replace(sub.environment, driver=recorded)
    [floor] = [
        f for f in architecture.check(replace(sub, environment=env), "f.json") if f.code == "provenance.driver_cuda"
    ]
    assert "(driver '510.47.03')" in floor.message and "'47.03'" not in floor.message


def test_a_tok_s_underflowing_per_sequence_is_no_yardstick(valid_doc: dict[str, Any]) -> None:
    # batch 2 at 5e-324 tok/s: 0.0 a sequence, the slowest yardstick, which batch 4's message divided by
    # (ZeroDivisionError: validator.internal_error instead of the file's findings)
    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    assert m.summary is not None
    rows = tuple(
        replace(m, batch_size=b, summary=replace(m.summary, throughput_tok_s_mean=t))
        for b, t in ((2, 5e-324), (4, 100.0))
    )
    assert scaling.check(replace(sub, measurements=rows), "f.json") == []
