"""validator.convert: the Python shortcut that skips the gate's per-file Arrow conversion may only say
"converts" where pyarrow really converts; where it says no, the gate converts with Arrow as before."""

from __future__ import annotations

import copy
import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validator import buildable, convert

_CELL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**53 - 1, 2**53, -(2**53), 2**63 - 1, 2**63, -(2**63), -(2**63) - 1]),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "é", "ascii", b"bytes"]),
    st.lists(st.one_of(st.floats(), st.integers(-(2**60), 2**60), st.none()), max_size=3),
    st.tuples(st.floats()),
)
_KINDS = {
    pa.string(): convert._strings,
    pa.int64(): convert._integers,
    pa.float64(): convert._numbers,
    pa.bool_(): convert._booleans,
    pa.list_(pa.float64()): convert._number_lists,
}


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_CELL, max_size=4))
def test_a_column_said_to_convert_converts(values: list[Any]) -> None:
    for kind, says in _KINDS.items():
        if says(values):
            pa.array(values, type=kind)  # must not raise


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (pa.float64(), [2**53 + 1]),  # pyarrow: not exactly representable
        (pa.int64(), [2**63]),
        (pa.int64(), [True]),
        (pa.int64(), [3.0]),
        (pa.string(), ["\ud800"]),
        (pa.list_(pa.float64()), [[2**60]]),
    ],
)
def test_doubtful_cells_are_left_to_arrow(kind: pa.DataType, values: list[Any]) -> None:
    assert not _KINDS[kind](values)


def test_rows_with_a_missing_or_extra_key_are_left_to_arrow() -> None:
    names = [name for name, _ in convert._checkers("SUBMISSIONS")]
    row = dict.fromkeys(names)
    assert convert._rows_convert([row], "SUBMISSIONS")
    assert not convert._rows_convert([{k: v for k, v in row.items() if k != names[0]}], "SUBMISSIONS")
    assert not convert._rows_convert([{**row, "extra": None}], "SUBMISSIONS")


class _Int(int):
    pass


class _Float(float):
    pass


class _Str(str):
    pass


_HOSTILE = st.one_of(
    _CELL,
    st.sampled_from([-0.0, math.nan, math.inf, -math.inf, 2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, 2**63]),
    st.sampled_from([-(2**63), -(2**63) - 1, 2**64, 10**400, True, False, 0, 1, 1.0, 0.0]),
    st.sampled_from(["", "\x00", "\x7f", "é", "\ud800", "\udfff", "😀", "a\u202eb", _Str("x"), _Int(3), _Float(1.5)]),
    st.sampled_from([[1, 2.5], [True], [math.nan], [2**53 + 1], (1.0,), [], [[1.0]], ["1"], {"a": 1}, b"x", 1j]),
    st.text(max_size=6),
)


_EDGES = [
    *[-0.0, math.nan, math.inf, -math.inf, 2**53 - 1, 2**53, 2**53 + 1, -(2**53), -(2**53) - 1, 2**63 - 1, 2**63],
    *[-(2**63), -(2**63) - 1, 2**64, 10**400, True, False, 0, 1, -1, 1.0, 0.0, 1.5, None],
    *["", "\x00", "\x7f", "é", "\ud800", "\udfff", "😀", "a\u202eb", _Str("x"), _Int(3), _Float(1.5)],
    *[[1, 2.5], [True], [math.nan], [2**53 + 1], (1.0,), [], [[1.0]], ["1"], {"a": 1}, b"x", 1j],
]


def _rows(valid_doc: dict) -> tuple[Any, list[str], list[dict], dict[str, list[Any]], dict]:
    from ecocompute import domain, ids, rows

    sub, hashes = domain.parse(valid_doc), ids.measurement_hashes(valid_doc)
    measurements, trials, submission = rows.flatten(sub, "submissions/x/y.json", "0" * 64, hashes)
    return sub, hashes, [dict(r) for r in measurements], {k: list(v) for k, v in trials.items()}, dict(submission)


def _judge(sub: Any, hashes: list[str], tables: tuple[list[dict], dict[str, list[Any]], dict], shortcut: bool) -> Any:
    """buildable.check on these rows, with the shortcut or with every file converted by Arrow."""
    from ecocompute import rows

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rows, "flatten", lambda *_: copy.deepcopy(tables))
        if not shortcut:
            patch.setattr(convert, "converts", lambda *_: False)
        try:
            return buildable.check(sub, hashes, "f.json", "submissions/x/y.json", "0" * 64)
        except Exception as exc:  # noqa: BLE001 - both paths must fail alike
            return type(exc).__name__


def test_the_gate_judges_edge_cells_in_every_kind_of_column_as_arrow_does(valid_doc: dict) -> None:
    """One column of each type in each table (string, int64, double, bool, list of doubles), every
    edge value in turn: the verdict with the shortcut is the verdict with Arrow."""
    sub, hashes, measurements, trials, submission = _rows(valid_doc)
    for schema_name, table in (("MEASUREMENTS", 0), ("TRIALS", 1), ("SUBMISSIONS", 2)):
        firsts: dict[Any, str] = {}
        for name, check in convert._checkers(schema_name):
            firsts.setdefault(check, name)
        for name in firsts.values():
            for value in _EDGES:
                edited = copy.deepcopy((measurements, trials, submission))
                if table == 0:
                    edited[0][-1][name] = value
                elif table == 1:
                    edited[1][name][-1] = value
                else:
                    edited[2][name] = value
                assert _judge(sub, hashes, edited, True) == _judge(sub, hashes, edited, False), (name, value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(0, 2), st.integers(min_value=0), _HOSTILE), min_size=1, max_size=3))
def test_the_gate_judges_hostile_cells_as_arrow_does(valid_doc: dict, picks: list[tuple[int, int, Any]]) -> None:
    """buildable.check with the shortcut gives the findings (or raises the error) that it gives when
    every file is converted with Arrow, whatever cells the rows hold (the fixture is only read): the flattened rows of a valid
    file with one to three cells replaced (strings, ints, doubles, bools, lists; boundaries of int64
    and of exact doubles, NaN and infinities, -0.0, surrogates, subclasses, bytes, complex)."""
    from ecocompute import domain, ids, rows

    sub, hashes = domain.parse(valid_doc), ids.measurement_hashes(valid_doc)
    measurements, trials, submission = rows.flatten(sub, "submissions/x/y.json", "0" * 64, hashes)
    measurements = [dict(r) for r in measurements]
    trials, submission = {k: list(v) for k, v in trials.items()}, dict(submission)
    for table, index, value in picks:
        if table == 0:
            row = measurements[index % len(measurements)]
            row[sorted(row)[index % len(row)]] = value
        elif table == 1:
            column = trials[sorted(trials)[index % len(trials)]]
            column[index % len(column)] = value
        else:
            submission[sorted(submission)[index % len(submission)]] = value

    tables = (measurements, trials, submission)
    assert _judge(sub, hashes, tables, shortcut=True) == _judge(sub, hashes, tables, shortcut=False)
