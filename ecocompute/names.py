"""The column names code writes, one namespace per config: ``M.gpu_name`` is the string ``"gpu_name"``.

Made from ecocompute.columns (the one declaration of every column), so a name is here exactly when its
config declares it: a column renamed or dropped there fails where code names it (an AttributeError, and
tests/test_column_names.py reads every use in advisor/, dataset_card/, ecocompute/ and validator/buildable.py),
never as a string that quietly reads None or skips a check. Each value is the plain ``str``: Arrow, pandas, row
dicts and f-strings see nothing else.

    from ecocompute.names import M
    ok = table.filter(pc.equal(table[M.status], "ok"))
    per_token = row[M.energy_per_token_j]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from .columns import LEGACY, MEASUREMENTS, SUBMISSIONS, TRIALS


class Names:
    """The columns of one config as attributes, each its own name, held in slots: a slot is read as fast as
    a module's global, where an instance ``__dict__`` of more than 30 names is not specialised by CPython
    (13 ns more a read, 2.5 us more per measurement row of ecocompute.rows); a ``__getattr__`` is slower still."""

    __slots__ = ()

    def __init__(self, schema: pa.Schema) -> None:
        for name in schema.names:
            setattr(self, name, name)

    if TYPE_CHECKING:  # for type checkers only: any attribute is a str

        def __getattr__(self, name: str) -> str: ...


def _names(config: str, schema: pa.Schema) -> Names:
    """A namespace whose class is named after its config: a name it lacks reads "'LegacyColumns' object
    has no attribute 'gpu_name'"."""
    return type(f"{config.title()}Columns", (Names,), {"__slots__": tuple(schema.names)})(schema)


M = _names("measurements", MEASUREMENTS)
T = _names("trials", TRIALS)
S = _names("submissions", SUBMISSIONS)
L = _names("legacy", LEGACY)
