"""Versions nobody could have installed by the file's date: a Python 3.99, transformers 99.0.0, a driver
999 or CUDA 99.0 in a file of 2026 (attacks v10 and v14) was not measured as stated.

No version merely newer than this table knows is refused: only one beyond every release that could have
come out between the table's date and the file's (created_at, which provenance.created_at keeps from the
future). For each package, the newest major seen on TABLE_DATE, and at most one new major a year after
it, and one more; for Python, PEP 602's yearly release of a minor version (each October, its alphas
from the October before), and one more; for the driver, its branch, which NVIDIA has raised by about
25 a year (410 in September 2018, 580 in August 2025), allowed 100 a year and 100 more.

What was seen on TABLE_DATE: the lent H100 and H200 machines' files (driver 580.159.04, CUDA 13.0,
torch 2.11.0, transformers 5.17.0, accelerate 1.15.0, bitsandbytes 0.50.2), the package index that
.ci/run installed from (torch 2.13.0, transformers 5.24.0, tokenizers 0.23.3, huggingface_hub 2.4.0,
nvidia-ml-py 13.615.71: bindings for a driver branch 615 may exist, inside the branch's yearly margin) and
Python 3.14.0 (released 2025-10-07). A final release (no a, b, rc or dev) only from its minor's October: 3.16.5 in 2026 was
not measured. Risk: CPython changing its numbering (PEP 2026's calendar versions,
3.26 in 2026, were rejected); a patch release (3.12.99) is not judged. tests/test_validator_unreleased.py
keeps every real file inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from packaging.version import InvalidVersion, Version

from ecocompute.domain import Submission

from . import versions
from .contract import parse_utc
from .findings import Finding, make

TABLE_DATE = date(2026, 11, 24)
NEWEST_MAJOR = {
    "torch": 2,
    "transformers": 5,
    "tokenizers": 0,
    "accelerate": 1,
    "bitsandbytes": 0,
    "huggingface_hub": 2,
    "nvidia_ml_py": 13,
}
NEWEST_CUDA_MAJOR = 13  # of torch_cuda, the CUDA driver (libcuda) and NVML's leading number
NEWEST_BRANCH = 580  # the lent machines' 580.159.04
BRANCHES_A_YEAR = 100
# PEP 602: Python 3.14.0 on 2025-10-07, then one minor each October; 3.(N+1)'s alphas begin with 3.N.
PYTHON_MINOR, PYTHON_RELEASED = 14, date(2025, 10, 7)
# A final release of 3.N comes with or after 3.N.0, in its October (3.11.0 on 24 October 2022, 3.12.0 on the 2nd,
# 3.13.0 and 3.14.0 on the 7th): judged from two months before, a schedule moved earlier by weeks stays inside. The
# pre-releases keep one minor more than the schedule; a final has no such margin, as each minor's date is
# published in its release PEP more than a year ahead (a faster cadence would be known before it came).
FINAL_SLACK = timedelta(days=61)
_WHAT = "/environment"


def _years_since(then: date, day: date) -> int:
    """Whole years from ``then`` to ``day`` (0 before it)."""
    if day <= then:
        return 0
    return day.year - then.year - ((day.month, day.day) < (then.month, then.day))


def _leading(value: object) -> int | None:
    """The leading dot-separated number of a version ('580' of '580.159.04'), or None where it is no
    number (provenance.unpinned_version judges the spelling)."""
    if not isinstance(value, str):
        return None
    part = value.split(".", 1)[0]
    if not (part and part.isascii() and part.isdigit()):
        return None
    # ten digits and more are beyond every limit here (int() of thousands would raise): not passed over
    return int(part) if len(part) <= 9 else 10**9


Problem = tuple[str, object, str]  # (pointer below /environment, the value, why it cannot be)


def check(sub: Submission, file: str) -> list[Finding]:
    day = parse_utc(sub.created_at).date()
    software, driver = sub.environment.software, sub.environment.driver
    problems = _packages(software, day) + _cuda_and_driver(software, driver, day) + _python(software.get("python"), day)
    return [
        make(
            "provenance.unreleased_version",
            file,
            f"{_WHAT}/{pointer}",
            f"{pointer.rsplit('/', 1)[-1]} {value!r} on {day:%Y-%m-%d}: {why}",
        )
        for pointer, value, why in problems
    ]


def _beyond(pointer: str, value: object, named: object, limit: int, what: tuple[str, str]) -> list[Problem]:
    """The one rule of every number here: the leading number of ``named`` (the part of ``value`` that
    names it) above ``limit``; ``what``: the number's name, and what was seen on TABLE_DATE."""
    found = _leading(named)
    if found is None or found <= limit:
        return []
    name, newest = what
    return [(pointer, value, f"it names {name} {found}, but {newest}; none after {limit} can be out by then")]


def _packages(software: Mapping[str, str], day: date) -> list[Problem]:
    years = _years_since(TABLE_DATE, day)
    return [
        problem
        for key, newest in NEWEST_MAJOR.items()
        for problem in _beyond(
            f"software/{key}",
            software.get(key),
            software.get(key),
            newest + 1 + years,
            ("major", f"its newest on {TABLE_DATE} was {newest}"),
        )
    ]


def _cuda_and_driver(software: Mapping[str, str], driver: Mapping[str, str], day: date) -> list[Problem]:
    years = _years_since(TABLE_DATE, day)
    nvml = driver.get("nvml_version")
    # an NVML written without its CUDA major names the driver alone (versions.nvml_driver, review 27)
    nvml_cuda = nvml if isinstance(nvml, str) and versions.nvml_cuda_first(nvml) else None
    nvml_branch = versions.nvml_driver(nvml) if isinstance(nvml, str) else None
    cuda = ("CUDA", f"CUDA's newest major on {TABLE_DATE} was {NEWEST_CUDA_MAJOR}")
    branch = ("driver branch", f"the newest seen on {TABLE_DATE} was {NEWEST_BRANCH} (NVIDIA raises it by ~25 a year)")
    cuda_limit, branch_limit = NEWEST_CUDA_MAJOR + 1 + years, NEWEST_BRANCH + BRANCHES_A_YEAR * (1 + years)
    return (
        _beyond("software/torch_cuda", software.get("torch_cuda"), software.get("torch_cuda"), cuda_limit, cuda)
        + _beyond(
            "driver/cuda_driver_version",
            driver.get("cuda_driver_version"),
            driver.get("cuda_driver_version"),
            cuda_limit,
            cuda,
        )
        + _beyond("driver/nvml_version", nvml, nvml_cuda, cuda_limit, cuda)
        + _beyond(
            "driver/driver_version", driver.get("driver_version"), driver.get("driver_version"), branch_limit, branch
        )
        + _beyond("driver/nvml_version", nvml, nvml_branch, branch_limit, branch)
    )


def _python(value: str | None, day: date) -> list[Problem]:
    from .provenance import python_release  # provenance imports this module

    release = python_release(value)
    try:
        python = Version(release) if release and len(release) <= 64 else None
    except InvalidVersion:
        return []  # provenance.unpinned_version judges the spelling
    if python is None:
        return []
    # the alphas of the minor after the newest released, and one more; a final release (3.16.5, 3.16.0) only of a
    # minor whose .0 is out, its October less FINAL_SLACK (attack v29 V1: 3.16.5 in November 2026 passed)
    released = _years_since(PYTHON_RELEASED - FINAL_SLACK, day)
    limit = (3, PYTHON_MINOR + 1 + _years_since(PYTHON_RELEASED, day) + 1)
    final = None if python.pre or python.dev else (3, PYTHON_MINOR + released)
    if python.release[:2] <= limit and (final is None or python.release[:2] <= final):
        return []
    shown = limit if python.release[:2] > limit else final
    kind = "version" if python.release[:2] > limit else "final release of a version"
    why = (
        f"Python releases one minor version a year (PEP 602: 3.{PYTHON_MINOR} in {PYTHON_RELEASED:%B %Y}, its alphas "
        f"from the October before); no {kind} after {shown[0]}.{shown[1]} can be out by then"
    )
    return [("software/python", value, why)]
