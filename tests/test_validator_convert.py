"""validator.convert: the Python shortcut that skips the gate's per-file Arrow conversion may only say
"converts" where pyarrow really converts; where it says no, the gate converts with Arrow as before."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validator import convert

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
