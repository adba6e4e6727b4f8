"""Will Arrow convert these rows to the dataset's column types? Answered in Python, without Arrow.

``converts`` says yes only when every cell is of a kind that pyarrow converts to its declared type
without fail: ``None`` (every column is nullable); for string columns an ASCII ``str``; for int64 an
``int`` (not a ``bool``) within 64 bits; for double a ``float``, or an ``int`` within 2**53 (larger ones
pyarrow refuses as not exactly representable); for bool a ``bool``; for a list of doubles a ``list``
or ``tuple`` of such numbers. Anything else (non-ASCII text, a float in an integer column, a missing or extra
key) answers no, and the caller converts with Arrow itself, whose error is then the finding: this is
a shortcut that can only skip a conversion that would succeed, never one that would fail.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

from ecocompute import columns, rows

_INT64 = (-(2**63), 2**63 - 1)
_EXACT = 2**53  # pyarrow converts an int to double only when it is exactly representable


def _numbers(values: Iterable[Any]) -> bool:
    """Floats, and ints (not bools) that a double holds exactly; Nones allowed."""
    kinds = set(map(type, values))
    if kinds <= {float, type(None)}:
        return True
    if not kinds <= {float, int, type(None)}:
        return False
    return all(-_EXACT < v < _EXACT for v in values if type(v) is int)


def _integers(values: Sequence[Any]) -> bool:
    if not set(map(type, values)) <= {int, type(None)}:
        return False
    present = [v for v in values if v is not None]
    return not present or (_INT64[0] <= min(present) and max(present) <= _INT64[1])


def _booleans(values: Sequence[Any]) -> bool:
    return set(map(type, values)) <= {bool, type(None)}


def _strings(values: Sequence[Any]) -> bool:
    if not set(map(type, values)) <= {str, type(None)}:
        return False
    return "".join(v for v in values if v is not None).isascii()


def _number_lists(values: Sequence[Any]) -> bool:
    if not set(map(type, values)) <= {list, tuple, type(None)}:
        return False
    # the lists' cells joined: one _numbers call, whose tests are all per cell, instead of one a list
    return _numbers(list(chain.from_iterable(v for v in values if v is not None)))


@functools.lru_cache(maxsize=8)
def _checkers(schema_name: str) -> tuple[tuple[str, Callable[[Sequence[Any]], bool]], ...]:
    import pyarrow as pa

    def checker(kind: Any) -> Callable[[Sequence[Any]], bool]:
        if kind == pa.string():
            return _strings
        if kind == pa.int64():
            return _integers
        if kind == pa.float64():
            return _numbers
        if kind == pa.bool_():
            return _booleans
        if kind == pa.list_(pa.float64()):
            return _number_lists
        return lambda _values: False  # a type this module does not know: let Arrow decide

    schema = getattr(columns, schema_name)
    return tuple((f.name, checker(f.type)) for f in schema)


def _columns_convert(table: dict[str, list[Any]], schema_name: str) -> bool:
    checkers = _checkers(schema_name)
    if table.keys() != {name for name, _ in checkers} or len({len(v) for v in table.values()}) > 1:
        return False
    return all(check(table[name]) for name, check in checkers)


_NONE = type(None)
# The cell types each checker takes (None: every column is nullable); any other type answers no.
_TAKES: dict[Callable[..., bool], frozenset[type]] = {
    _strings: frozenset({str, _NONE}),
    _integers: frozenset({int, _NONE}),
    _numbers: frozenset({float, int, _NONE}),
    _booleans: frozenset({bool, _NONE}),
    _number_lists: frozenset({list, tuple, _NONE}),
}


@functools.lru_cache(maxsize=256)
def _plan(schema_name: str, keys: tuple[str, ...], kinds: tuple[type, ...]) -> tuple[tuple[int, ...], ...] | None:
    """For rows whose keys (in this order) and cell types are these: None when a key is missing or
    extra or a cell's type is one its column never takes; else the positions whose values still need
    a look: (strings: ASCII?, int64 ints: in range?, ints in double columns: exact?, lists of doubles).
    A file's rows share a few such shapes, so the per-column walk of ``_checkers`` runs once a shape."""
    checkers = dict(_checkers(schema_name))
    if len(keys) != len(checkers) or set(keys) != checkers.keys():
        return None
    strings, integers, exact, lists = [], [], [], []
    for at, (name, kind) in enumerate(zip(keys, kinds, strict=True)):
        check = checkers[name]
        if kind not in _TAKES.get(check, ()):
            return None
        if kind is str:
            strings.append(at)
        elif kind is int:
            (integers if check is _integers else exact).append(at)
        elif kind is list or kind is tuple:
            lists.append(at)
    return tuple(strings), tuple(integers), tuple(exact), tuple(lists)


def _rows_convert(table: Sequence[rows.Row], schema_name: str) -> bool:
    """The cells of every column pass its checker (``_checkers``): the types looked up once per shape
    of row (``_plan``), then all strings of the rows joined for one ASCII test and the ints held to
    their bounds at once (a third of the time of the column by column walk)."""
    strings: list[str] = []
    integers: list[int] = []
    exact: list[int] = []
    for row in table:
        values = tuple(row.values())
        plan = _plan(schema_name, tuple(row), tuple(map(type, values)))
        if plan is None:
            return False
        strings += [values[i] for i in plan[0]]
        integers += [values[i] for i in plan[1]]
        exact += [values[i] for i in plan[2]]
        if not all(_numbers(values[i]) for i in plan[3]):
            return False
    return (
        "".join(strings).isascii()
        and (not integers or (_INT64[0] <= min(integers) and max(integers) <= _INT64[1]))
        and all(-_EXACT < v < _EXACT for v in exact)
    )


def converts(measurements: Sequence[rows.Row], trials: rows.Columns, submission: rows.Row) -> bool:
    """True when Arrow is sure to convert a file's rows (``rows.flatten``) to the dataset's columns."""
    return (
        _rows_convert(measurements, "MEASUREMENTS")
        and _rows_convert([submission], "SUBMISSIONS")
        and _columns_convert(trials, "TRIALS")
    )


def finite_columns(table: rows.Columns, schema_name: str) -> bool:
    """Every float64 cell of columns that ``converts`` accepted is finite or null (what a NaN or an
    infinity would break in the builder's checks); lists of doubles are not float64 cells."""
    return all(all(map(math.isfinite, _present(table[name]))) for name in float_columns(schema_name))


def _present(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None] if None in values else values


@functools.lru_cache(maxsize=8)
def float_columns(schema_name: str) -> list[str]:
    """The float64 columns of ``ecocompute.columns``'s schema of that name."""
    import pyarrow as pa

    return [f.name for f in getattr(columns, schema_name) if pa.types.is_float64(f.type)]
