"""A measurement's status and a trial's role are compared through their catalogue names (``catalogue.STATUS_OK``,
``catalogue.ROLE_WARMUP``, ...) or the domain's properties (``Trial.is_warmup``, ``Measurement.is_skipped``), never
as spelled strings: a typo such as ``t.role != "warmpu"`` is always true, and nothing else would notice it."""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

import pytest

from ecocompute import catalogue
from ecocompute.domain import Measurement, Trial

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("collector", "validator", "ecocompute", "dataset_card", "advisor", "benchmarks")
KEYS = {"status", "role"}
# Values distinctive enough to refuse whatever they are compared with ("ok" alone is also a doctor check's).
VALUES = {*catalogue.ROLES, *catalogue.STATUSES} - {catalogue.STATUS_OK}
# Other things called status, by module and the name they are read from: eco-collect doctor's checks (ok, warn,
# fail) and git's change letters (A, C, D, R) in the history check.
OTHER_STATUSES = {"collector/cli.py": {"c"}, "validator/history.py": {"change"}}
MATCHING_CALLS = {"isin", "equal", "not_equal"}  # comparisons spelled as calls: pandas, pyarrow.compute


def _keyed(node: ast.expr, others: Collection[str]) -> bool:
    """``x.status``, ``x.role``, ``x["status"]`` or ``x["role"]``, ``x`` not one of ``others``."""
    if isinstance(node, ast.Attribute):
        return node.attr in KEYS and not (isinstance(node.value, ast.Name) and node.value.id in others)
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and key.value in KEYS
    return False


def _strings(node: ast.expr) -> set[str]:
    """The string constants ``node`` spells: itself, or the items of a tuple, list or set display."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}


def spelled_comparisons(source: str, others: Collection[str] = ()) -> list[int]:
    """Lines where a status or role (not read from a name in ``others``) is compared with a string literal."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MATCHING_CALLS:
            # pandas' isin, pyarrow.compute's equal: comparisons written as calls
            operands = [node.func.value, *node.args]
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        else:
            continue
        literals = set().union(*map(_strings, operands))
        if (literals and any(_keyed(o, others) for o in operands)) or literals & VALUES:
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    "source",
    [
        't.role != "warmup"',
        'm.status == "ok"',
        'df["status"] != "ok"',
        'r["role"] in ("measured", "discarded")',
        'r == "gate_failed"',
        '"skipped" in statuses',
        '"warmpu" == t.role',
        'df["status"].isin(["ok"])',
        'df.role.isin(("measured",))',
        'pc.equal(table["status"], "skipped")',
        'pc.not_equal(col, "warmup")',
    ],
)
def test_the_guard_finds_a_spelled_value(source: str) -> None:
    assert spelled_comparisons(source) == [1]


@pytest.mark.parametrize(
    "source",
    [
        "t.role != catalogue.ROLE_WARMUP",
        "not m.is_skipped",
        'check.name == "ok"',
        'status = "ok"',
        'df["status"].isin(list(catalogue.STATUSES))',
    ],
)
def test_the_guard_passes_a_named_value(source: str) -> None:
    assert spelled_comparisons(source) == []


def test_no_package_spells_a_status_or_a_role() -> None:
    files = [f for package in PACKAGES for f in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 100  # the packages were found
    spelled = [
        f"{name}:{line}"
        for f in files
        if (name := f.relative_to(ROOT).as_posix()) != "ecocompute/catalogue.py"
        for line in spelled_comparisons(f.read_text(encoding="utf-8"), OTHER_STATUSES.get(name, ()))
    ]
    assert spelled == []


def test_other_statuses_are_exempt_by_name_only() -> None:
    assert spelled_comparisons('c.status == "fail"', {"c"}) == []
    assert spelled_comparisons('m.status == "skiped"', {"c"}) == [1]


def test_the_domain_properties_read_the_catalogue() -> None:
    assert catalogue.STATUSES == (catalogue.STATUS_OK, catalogue.STATUS_GATE_FAILED, catalogue.STATUS_SKIPPED)
    assert catalogue.ROLES == (catalogue.ROLE_WARMUP, catalogue.ROLE_DISCARDED, catalogue.ROLE_MEASURED)
    trial = Trial.__new__(Trial)
    for role in catalogue.ROLES:
        trial.role = role
        assert trial.is_warmup is (role == catalogue.ROLE_WARMUP)
    for status in catalogue.STATUSES:
        m = Measurement.__new__(Measurement)
        object.__setattr__(m, "status", status)
        assert m.is_skipped is (status == catalogue.STATUS_SKIPPED)
