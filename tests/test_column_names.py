"""The columns advisor/ and dataset_card/ name by a string are columns of the built dataset (review32 F6).

Arrow and pandas code names a column by its string, so ``ecocompute.columns`` (the one declaration of every
column) cannot stop a literal from going stale: a column renamed there leaves ``row.get("old_name")`` reading
None, ``field.name in ("old_name", ...)`` dropping a check and the card's example code naming what is gone, all
without an error. This reads the two packages' source: every string that names a column must be declared, in the
config it is read from where the module says which (the column lists below), and every other key spelled like a
column is listed in NOT_COLUMNS with what it is, so a stale one cannot hide among them.
"""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from advisor import data
from dataset_card import checks, results
from ecocompute import catalogue, smallfile
from ecocompute.columns import CONFIGS
from ecocompute.names import L, M, S, T

PACKAGES = ("advisor", "dataset_card")
DECLARED = {name for schema in CONFIGS.values() for name in schema.names}
# Spelled like a column (snake_case, or a key read by [] / .get()) but not one, by what each is. A key is listed
# by name, never "any key some dict writes": the advice JSON also writes keys named as columns, and such a rule
# let a renamed energy_vs_fp16 pass.
NOT_COLUMNS = {
    # the advice JSON's keys (advisor/render.py, report.py), read back by its text and figures
    "used",
    "row_id",
    "energy_per_sequence_j",
    "fp16_reference_id",
    "value",
    "low",
    "high",
    # the card's YAML front matter (dataset_card/card.py), read back by publish.py
    "dataset_info",
    "config_name",
    "splits",
    "num_examples",
    # the legacy/ CSV and JSON files' own names, read as the author wrote them (dataset_card/legacy.py)
    "total_time_s",
    "total_energy_j",
    "avg_power_w",
    "energy_j_per_1k_tok",
    "output_length",
    "n_runs_per_batch",
    "source",
    # a discrepancy between the author's documents (legacy.discrepancies)
    "topic",
    "a",
    "b",
    # what Arrow and pandera name: pc.value_counts' struct fields, pandera's failure cases
    "counts",
    "values",
    "index",
    # advisor.estimate.Crossover.kind
    "too_few_points",
    "none_in_range",
    # click's parameter names, an attribute read with getattr, the package's own name
    "repo_id",
    "legacy_dir",
    "status_code",
    "dataset_card",
}
# A known non-column set that lives elsewhere: smallfile's reasons and the catalogue's weights are compared.
KNOWN = NOT_COLUMNS | set(typing.get_args(smallfile.Reason)) | set(catalogue.WEIGHTS)
# Arrow's grouped aggregates are named <column>_<function>: the column is what must be declared.
AGGREGATE = re.compile(r"(.+)_(?:count|mean|stddev)")
SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")  # two words or more: a one-word string is mostly prose
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
IN_TEXT = re.compile(r"""\[["']([a-z][a-z0-9_]*)["']\]""")  # row["name"] inside a string: the card's example code


def _strings(node: ast.AST) -> Iterator[ast.Constant]:
    """The string constants ``node`` is, or holds as a tuple, list or set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for element in node.elts:
            yield from _strings(element)


def _keys(tree: ast.AST) -> set[tuple[int, str]]:
    """(line, name) of every string in ``tree`` that names a column or a key like one. A dict display's keys
    are not read: the rows written go through writer.py, which refuses a key its config does not declare,
    and the others are the keys of the advice JSON and the card's YAML."""
    written = {id(key) for node in ast.walk(tree) if isinstance(node, ast.Dict) for key in node.keys}
    return set(_read(tree, written))


def _read(tree: ast.AST, written: set[int]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in written:
            if SNAKE.fullmatch(node.value):
                yield node.lineno, node.value
            for name in IN_TEXT.findall(node.value):
                yield node.lineno, name
        elif isinstance(node, ast.Subscript):
            for key in _strings(node.slice):
                if IDENTIFIER.fullmatch(key.value):
                    yield key.lineno, key.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            for key in _strings(node.args[0]) if node.args else ():
                if IDENTIFIER.fullmatch(key.value):
                    yield key.lineno, key.value


def _sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _known(name: str) -> bool:
    aggregate = AGGREGATE.fullmatch(name)
    return name in DECLARED or name in CONFIGS or name in KNOWN or bool(aggregate and aggregate[1] in DECLARED)


def test_every_key_spelled_like_a_column_is_a_declared_column_or_known() -> None:
    unknown = sorted(
        f"{path.relative_to(ROOT)}:{line}: {name!r}"
        for path in _sources()
        for line, name in _keys(ast.parse(path.read_text(encoding="utf-8")))
        if not _known(name)
    )
    assert not unknown, "name a column ecocompute/columns.py declares, or list the key in NOT_COLUMNS:\n" + "\n".join(
        unknown
    )


def test_the_guard_sees_a_stale_column_in_each_way_one_is_named() -> None:
    """A renamed column left behind as a subscript, a .get, a column list and the card's example code."""
    source = (
        'r["energy_per_tokn_j"]\n'
        'r.get("gpu_nme")\n'
        'COLUMNS = ("measurement_id", "throughput_toks")\n'
        'SNIPPET = f"""print(rows[0]["energy_per_1k_tkens_j"])"""\n'
        'ok = {"row_id": r["measurement_id"]}["row_id"]\n'
    )
    stale = sorted(name for _, name in _keys(ast.parse(source)) if not _known(name))
    assert stale == ["energy_per_1k_tkens_j", "energy_per_tokn_j", "gpu_nme", "throughput_toks"]


def _read_by_advisor() -> dict[str, tuple[str, ...]]:
    return {"measurements": data.MEASUREMENT_COLUMNS, "trials": data.TRIAL_COLUMNS, "legacy": data.LEGACY_COLUMNS}


def test_the_column_lists_name_columns_of_their_own_config() -> None:
    """Where a module says which config it reads, each name is a column of that config (a name declared only in
    another would pass the test above and fail the read, or for a rule's list be skipped)."""
    for config, names in _read_by_advisor().items():
        read = set(names)
        assert read <= set(CONFIGS[config].names), config
        # a rule on a column not read is never applied: positivity and nullability name read columns
        assert set(data._POSITIVE[config]) <= read, config
        assert set(data._NULLABLE[config]) <= read, config
    assert set(data._FIGURES) <= set(data.MEASUREMENT_COLUMNS)
    assert set(results.COLUMNS) <= set(CONFIGS["measurements"].names)
    for config in checks.MODELS:
        assert set(checks.columns(config)) <= set(CONFIGS[config].names), config


def test_each_config_has_a_namespace_of_exactly_its_columns() -> None:
    """``M.gpu_name`` is the plain string "gpu_name", for every column its config declares and no other."""
    spaces = {"measurements": M, "trials": T, "submissions": S, "legacy": L}
    assert spaces.keys() == CONFIGS.keys()
    for config, space in spaces.items():
        assert {n: getattr(space, n) for n in CONFIGS[config].names} == {n: n for n in CONFIGS[config].names}
        assert all(type(getattr(space, n)) is str for n in CONFIGS[config].names)
        assert set(vars(space)) - {"_config"} == set(CONFIGS[config].names), config
    with pytest.raises(AttributeError, match="the legacy config declares no column 'gpu_name'"):
        L.gpu_name  # noqa: B018 - the attribute read is the test
    with pytest.raises(AttributeError, match="the measurements config declares no column 'energy_per_tokn_j'"):
        M.energy_per_tokn_j  # noqa: B018
