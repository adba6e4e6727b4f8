"""Versions nobody could have installed by the file's date (validator/unreleased.py): refused beyond
every release that could have come since the table's date, never merely newer than the table."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from ecocompute import domain
from validator import unreleased
from validator.check import check_data

ROOT = Path(__file__).resolve().parents[1]
BASE = synthetic.submission(seed=11, n_measurements=1, n_trials=7)
CODE = "provenance.unreleased_version"


def _found(doc: dict[str, Any]) -> list[str]:
    return [f.pointer for f in check_data(doc, "x.json").findings if f.code == CODE]


def _with(section: str, key: str, value: str, created_at: str | None = None) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["environment"][section][key] = value
    if created_at is not None:
        doc["created_at"] = created_at
    return doc


def _judged(doc: dict[str, Any]) -> list[str]:
    """The rule alone (a file from the future is also provenance.created_at's)."""
    return [f.pointer for f in unreleased.check(domain.parse(doc), "x.json")]


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("software", "python", "3.99.0"),
        ("software", "python", "4.0.0"),
        ("software", "transformers", "99.0.0"),
        ("software", "transformers", "7.0.0"),
        ("software", "torch", "4.0.0"),
        ("software", "tokenizers", "2.0.0"),
        ("software", "nvidia_ml_py", "99.0.0"),
        ("software", "huggingface_hub", "4.0.0"),
        ("software", "torch_cuda", "99.0"),
        ("driver", "cuda_driver_version", "99.0"),
    ],
)
def test_a_version_beyond_every_release_is_refused(section: str, key: str, value: str) -> None:
    assert _judged(_with(section, key, value)) == [f"/environment/{section}/{key}"]


def test_a_driver_and_nvml_of_a_branch_no_one_released_are_refused() -> None:
    doc = copy.deepcopy(BASE)
    doc["environment"]["driver"].update(driver_version="999.10", nvml_version="13.999.10", cuda_driver_version="13.0")
    assert _judged(doc) == ["/environment/driver/driver_version", "/environment/driver/nvml_version"]
    doc["environment"]["driver"].update(nvml_version="99.580.159.04")
    assert "/environment/driver/nvml_version" in _judged(doc)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("software", "python", "3.17.0a1"),  # the alphas of the minor after next: one more than the schedule
        ("software", "transformers", "6.0.0"),  # the next major may be out any day
        ("software", "torch", "3.0.0"),
        ("software", "huggingface_hub", "3.2.0"),
        ("software", "torch_cuda", "14.0"),
        ("driver", "cuda_driver_version", "14.1"),
    ],
)
def test_the_next_release_is_never_refused(section: str, key: str, value: str) -> None:
    assert _judged(_with(section, key, value)) == []


def test_a_later_file_may_name_later_releases() -> None:
    """Three years after the table's date, three more majors may be out; by December 2029 Python 3.18 (October
    2029), 3.19's alphas, and one more."""
    later = "2029-12-01T00:00:00Z"
    assert _judged(_with("software", "transformers", "9.0.0", later)) == []
    assert _judged(_with("software", "transformers", "10.0.0", later)) == ["/environment/software/transformers"]
    assert _judged(_with("software", "python", "3.20.0a1", later)) == []
    assert _judged(_with("software", "python", "3.18.1", later)) == []
    assert _judged(_with("software", "python", "3.21.0a1", later)) == ["/environment/software/python"]
    doc = _with("driver", "driver_version", "980.1", later)
    doc["environment"]["driver"].update(nvml_version="13.980.1")
    assert _judged(doc) == []


def test_the_message_says_why_and_the_whole_check_refuses() -> None:
    [finding] = [f for f in check_data(_with("software", "python", "3.99.0"), "x.json").findings if f.code == CODE]
    assert finding.severity.value == "error"
    assert "PEP 602" in finding.message and "3.99.0" in finding.message


def test_every_real_file_and_valid_fixture_is_inside() -> None:
    files = sorted((ROOT / "submissions").rglob("*.json")) + sorted(
        (ROOT / "tests/fixtures/submissions/valid").glob("*.json")
    )
    assert files
    for path in files:
        assert _judged(json.loads(path.read_text(encoding="utf-8"))) == [], path


def test_years_are_whole_and_never_negative() -> None:
    assert unreleased._years_since(date(2026, 11, 24), date(2020, 1, 1)) == 0
    assert unreleased._years_since(date(2026, 11, 24), date(2027, 11, 23)) == 0
    assert unreleased._years_since(date(2026, 11, 24), date(2027, 11, 24)) == 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_reads_as_a_number_or_none(value: str) -> None:
    found = unreleased._leading(value)
    assert found is None or (isinstance(found, int) and found >= 0)


@pytest.mark.parametrize(
    ("key", "value"),
    [("torch", "9999999999.0"), ("transformers", "1" + "0" * 5000 + ".0"), ("python", "3.99999999999")],
)
def test_ten_digits_and_more_are_no_way_past(key: str, value: str) -> None:
    """A major of ten digits read as no number passed (review 28: torch '9999999999.0')."""
    assert _judged(_with("software", key, value)) == [f"/environment/software/{key}"]


def test_an_nvml_without_its_cuda_major_is_judged_as_the_driver_it_names() -> None:
    """'535.104.05' names driver 535 (versions.nvml_driver, review 27), not CUDA 535 (review 28)."""
    doc = copy.deepcopy(BASE)
    doc["environment"]["driver"].update(driver_version="580.159.04", nvml_version="580.159.04")
    assert _judged(doc) == []
    doc["environment"]["driver"].update(nvml_version="999.1.1")
    [finding] = unreleased.check(domain.parse(doc), "x.json")
    assert finding.pointer == "/environment/driver/nvml_version" and "driver branch 999" in finding.message


@pytest.mark.parametrize(
    ("python", "codes"),
    [
        ("3.12.3+", set()),  # CPython built past its release tag (a distribution's development series)
        ("3.99.0+", {CODE}),
        ("3.8.10+", {"provenance.software_versions"}),
        ("3.12.3++", {"provenance.unpinned_version"}),
        ("3.12.+", {"provenance.unpinned_version"}),
        ("+", {"provenance.unpinned_version"}),
    ],
)
def test_a_python_built_past_its_release_tag_is_judged_as_that_release(python: str, codes: set[str]) -> None:
    # review 28: eco-collect records platform.python_version() as it is, and '3.12.3+' was refused as unpinned
    found = {f.code for f in check_data(_with("software", "python", python), "x.json").findings}
    assert found == codes


@pytest.mark.parametrize(
    ("python", "created_at", "judged"),
    [
        ("3.16.5", "2026-11-25T01:07:14Z", True),  # attack v29 V1: a final of a minor due in October 2027
        ("3.16.0", "2026-11-25T01:07:14Z", True),
        ("3.19.0", "2029-12-01T00:00:00Z", True),  # 3.19.0 is due in October 2030: only its alphas by then
        ("3.16.0a1", "2026-11-25T01:07:14Z", False),  # 3.16's alphas begin with 3.15.0
        ("3.16.0a1+", "2026-11-25T01:07:14Z", False),
        ("3.15.0", "2026-11-25T01:07:14Z", False),
        ("3.15.0", "2026-08-10T00:00:00Z", False),  # two months before its October: a schedule moved earlier
        ("3.15.0rc1", "2026-07-10T00:00:00Z", False),
        ("3.14.2", "2026-11-25T01:07:14Z", False),
    ],
)
def test_a_final_python_release_only_from_its_minor_s_october(python: str, created_at: str, judged: bool) -> None:
    found = _judged(_with("software", "python", python, created_at))
    assert found == (["/environment/software/python"] if judged else [])
