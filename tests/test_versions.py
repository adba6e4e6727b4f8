"""What the recorded versions imply about each other (validator/versions.py): NVML's CUDA major is the
one the driver's branch ships, the CUDA driver is never older than it, eco-collect's Python floor, and a
torch wheel's CUDA label agrees with torch_cuda. Every real file passes (test_real_submissions)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from ecocompute import domain
from validator import architecture, versions

ROOT = Path(__file__).resolve().parents[1]


# A compute capability that architecture.FIRST_BRANCH_OF_CAPABILITY does not list (Jetson Orin's): the branch's CUDA
# major alone decides, whatever the branch (on the synthetic H100, any branch before 520 is refused as well).
UNJUDGED_CAPABILITY = "8.7"


def _codes(
    doc: dict[str, Any],
    *,
    driver: dict[str, str] | None = None,
    software: dict[str, str] | None = None,
    capability: str | None = None,
) -> list[str]:
    sub = domain.parse(doc)
    gpu = sub.environment.gpu if capability is None else replace(sub.environment.gpu, compute_capability=capability)
    env = replace(
        sub.environment,
        gpu=gpu,
        driver={**sub.environment.driver, **(driver or {})},
        software={**sub.environment.software, **(software or {})},
    )
    edited = replace(sub, environment=env)
    # Both halves, as provenance.py asks them: a board's floor (architecture.py) refuses old branches too.
    return [f.code for f in versions.check(edited, "f.json") + architecture.check(edited, "f.json")]


def _driver(version: str, nvml_major: int, cuda: str) -> dict[str, str]:
    return {"driver_version": version, "nvml_version": f"{nvml_major}.{version}", "cuda_driver_version": cuda}


@pytest.mark.parametrize(
    ("driver", "rejected"),
    [
        (_driver("580.159.04", 13, "13.0"), False),  # every real file
        (_driver("535.104.05", 12, "12.2"), False),
        (_driver("535.104.05", 12, "12.8"), False),  # a forward-compatibility package's newer CUDA driver
        (_driver("470.57.02", 11, "11.4"), False),
        (_driver("610.43.02", 14, "14.1"), False),  # a branch newer than the table: any later major
        (_driver("610.43.02", 13, "13.2"), False),
        (_driver("470.57.02", 13, "13.0"), True),  # branch 470 ships CUDA 11
        (_driver("580.159.04", 12, "12.9"), True),  # branch 580 ships CUDA 13
        (_driver("525.60.13", 11, "11.8"), True),
        (_driver("610.43.02", 12, "12.9"), True),  # a new branch never goes back to an older major
        (_driver("580.159.04", 13, "12.9"), True),  # the CUDA driver older than the kernel driver's
    ],
)
def test_the_branch_fixes_the_cuda_major(valid_doc: dict[str, Any], driver: dict[str, str], rejected: bool) -> None:
    assert ("provenance.driver_cuda" in _codes(valid_doc, driver=driver, capability=UNJUDGED_CAPABILITY)) is rejected


def test_a_windows_driver_under_wsl2_is_left_to_the_warning(valid_doc: dict[str, Any]) -> None:
    """Under WSL2 NVML is Linux's and the driver Windows's: NVML does not end with the driver's version
    (provenance.driver_versions, a warning), and the branch table says nothing."""
    driver = {"driver_version": "560.94", "nvml_version": "12.560.35.02", "cuda_driver_version": "12.6"}
    assert _codes(valid_doc, driver=driver, software={"torch": "2.5.1+cu124", "torch_cuda": "12.4"}) == [
        "provenance.driver_versions"
    ]


@pytest.mark.parametrize(
    ("software", "rejected"),
    [
        ({"python": "3.12.3"}, False),
        ({"python": "3.10.0"}, False),
        ({"python": "3.9.18"}, True),
        ({"python": "2.7.18"}, True),
        ({"torch": "2.11.0", "torch_cuda": "13.0"}, False),  # every real file: no label
        ({"torch": "2.11.0+cu130", "torch_cuda": "13.0"}, False),
        ({"torch": "2.5.1+cu118", "torch_cuda": "11.8"}, False),
        ({"torch": "2.6.0a0+ecf3bae40a.nv25.01", "torch_cuda": "12.8"}, False),  # an NGC container's build
        ({"torch": "2.11.0+cu118", "torch_cuda": "13.0"}, True),
        ({"torch": "2.11.0+cpu", "torch_cuda": "13.0"}, True),
        ({"torch": "2.5.1+rocm6.2", "torch_cuda": "12.4"}, True),
        ({"python": "3.10.0rc2"}, False),  # a pre-release of 3.10 is a 3.10
        ({"torch": "2.11.0+cpu", "torch_cuda": "none"}, False),  # consistent (eco-collect writes 'none')
        ({"torch": "2.5.1+cu124", "torch_cuda": "none"}, True),  # a CUDA build that reports no CUDA
        # eco-collect's floors (attack v10): pip installs nothing older beside it
        ({"transformers": "4.30.0"}, True),
        ({"transformers": "4.45.0"}, False),
        ({"torch": "2.2.0a0+81ea7a4", "torch_cuda": "12.3"}, False),  # an NGC pre-release of the floor
        ({"torch": "2.1.0+cu121", "torch_cuda": "12.1"}, True),
        ({"torch": "1.13.1+cu117", "torch_cuda": "11.7"}, True),
        ({"bitsandbytes": "0.41.1"}, True),
        ({"accelerate": "0.20.3"}, True),
        ({"huggingface_hub": "0.16.4"}, True),
        ({"nvidia_ml_py": "11.450.51"}, True),
        ({"nvidia_ml_py": "12.535.77"}, False),
        # CUDA 13's first torch: PyTorch's cu130 wheels at 2.9.0, NVIDIA's 25.08 container at a 2.8 pre-release
        ({"torch": "2.4.1", "torch_cuda": "13.0"}, True),
        ({"torch": "2.7.1+cu130", "torch_cuda": "13.0"}, True),
        ({"torch": "2.8.0a0+34c6371d24.nv25.08", "torch_cuda": "13.0"}, False),
        ({"torch": "2.9.0+cu130", "torch_cuda": "13.0"}, False),
        ({"torch": "2.4.1+cu124", "torch_cuda": "12.4"}, False),
    ],
)
def test_python_floor_and_torch_label(valid_doc: dict[str, Any], software: dict[str, str], rejected: bool) -> None:
    assert ("provenance.software_versions" in _codes(valid_doc, software=software)) is rejected


def test_the_package_floors_are_pyprojects() -> None:
    """One set of floors: COLLECT_FLOORS is eco-collect's dependencies and collect extra, as pyproject.toml
    declares them (hostinfo.PACKAGES names the keys)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = dict(re.findall(r'^\s*"([a-z-]+)>=([0-9.]+)"', text, re.MULTILINE))
    for key, floor in versions.COLLECT_FLOORS.items():
        assert declared[key.replace("_", "-")] == str(floor), key


def test_the_python_floor_is_pyprojects() -> None:
    """One floor: the validator's MIN_PYTHON is eco-collect's requires-python."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^requires-python\s*=\s*">=\s*([0-9.]+)"', text, re.MULTILINE)
    assert found is not None
    assert str(versions.MIN_PYTHON) == found.group(1)


_VERSIONISH = st.one_of(
    st.text(max_size=24),
    st.from_regex(r"[0-9]{1,8}(\.[0-9]{1,4}){0,3}(\+[a-z0-9.]{0,12})?", fullmatch=True),
    st.sampled_from(["", ".", "13.", ".13", "١٣.0", "+cu", "1+cu", "9" * 60, "2.0+cu٣٠"]),
)


@settings(max_examples=150, deadline=None)
@given(
    driver=_VERSIONISH,
    nvml=_VERSIONISH,
    cuda=_VERSIONISH,
    python=_VERSIONISH,
    torch=_VERSIONISH,
    torch_cuda=_VERSIONISH,
)
def test_any_text_is_judged_without_failing(
    driver: str, nvml: str, cuda: str, python: str, torch: str, torch_cuda: str
) -> None:
    doc = json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))
    codes = _codes(
        doc,
        driver={"driver_version": driver, "nvml_version": nvml, "cuda_driver_version": cuda},
        software={"python": python, "torch": torch, "torch_cuda": torch_cuda},
    )
    assert set(codes) <= {"provenance.driver_versions", "provenance.driver_cuda", "provenance.software_versions"}


@settings(max_examples=80, deadline=None)
@given(branch=st.integers(300, 999), nvml_major=st.integers(9, 20))
def test_the_branch_table_is_monotonic(branch: int, nvml_major: int) -> None:
    """A newer branch never ships an older major; beyond the newest row every later major passes."""
    valid_doc = json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))
    span = versions.cuda_major_of_branch(branch)
    codes = _codes(
        valid_doc, driver=_driver(f"{branch}.10.01", nvml_major, f"{nvml_major}.9"), capability=UNJUDGED_CAPABILITY
    )
    if span is None:
        assert "provenance.driver_cuda" not in codes
    else:
        lowest, highest = span
        fits = lowest <= nvml_major and (highest is None or nvml_major <= highest)
        assert ("provenance.driver_cuda" in codes) is not fits
