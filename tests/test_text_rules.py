"""One definition of the values a build writes in its text columns (ecocompute.columns.TEXT_RULES),
held by the build before writing and by eco-advise on every table it reads."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from pandera.errors import SchemaError

from advisor import data
from dataset_card import checks
from ecocompute.columns import TEXT_RULES

CASES = [(config, column) for config, rules in TEXT_RULES.items() for column in rules]


def _good(config: str, column: str) -> str:
    rule = TEXT_RULES[config][column]
    return rule.one_of[0] if rule.one_of else "0" * 64


@pytest.mark.parametrize(("config", "column"), CASES)
@pytest.mark.parametrize("bad", ["int2-magic", "OK", "0" * 64 + "\n", "\x1b[2J"])
def test_the_build_and_the_reader_refuse_the_same_text(config: str, column: str, bad: str) -> None:
    values = pd.Series([_good(config, column), bad], name=column)
    rule = TEXT_RULES[config][column]
    read, _ = data._outside(pa.chunked_array([values.tolist()]), pa.string(), positive=False, text=rule)
    assert _refuses(checks.MODELS[config].to_schema().columns[column], values)
    assert read.to_pylist() == [False, True]


def _refuses(column: object, values: pd.Series) -> bool:
    try:
        column.validate(values.to_frame())  # type: ignore[attr-defined]
    except SchemaError:
        return True
    return False
