"""The column names code writes, one namespace per config: ``M.gpu_name`` is the string ``"gpu_name"``.

Made from ecocompute.columns (the one declaration of every column), so a name is here exactly when its
config declares it: a column renamed or dropped there fails where code names it (an AttributeError, and
tests/test_column_names.py reads every use in advisor/ and dataset_card/), never as a string that quietly
reads None or skips a check. Each value is the plain ``str``: Arrow, pandas, row dicts and f-strings see
nothing else.

    from ecocompute.names import M
    ok = table.filter(pc.equal(table[M.status], "ok"))
    per_token = row[M.energy_per_token_j]
"""

from __future__ import annotations

import pyarrow as pa

from .columns import LEGACY, MEASUREMENTS, SUBMISSIONS, TRIALS


class Names:
    """The columns of one config as attributes, each its own name."""

    def __init__(self, config: str, schema: pa.Schema) -> None:
        self.__dict__.update({name: name for name in schema.names})  # plain attributes: read as fast as any
        self._config = config

    def __getattr__(self, name: str) -> str:  # only for a name not set above
        config = self.__dict__.get("_config")  # absent only in an instance not made by __init__ (a copy's)
        raise AttributeError(f"the {config} config declares no column {name!r} (ecocompute/columns.py)")

    def __repr__(self) -> str:
        return f"<columns of {self._config}>"


M = Names("measurements", MEASUREMENTS)
T = Names("trials", TRIALS)
S = Names("submissions", SUBMISSIONS)
L = Names("legacy", LEGACY)
