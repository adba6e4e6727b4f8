"""Attack v3: crashes and accepted fabrications found by fuzzing valid files (each test fails on the
code before its fix)."""

from __future__ import annotations

import copy
from typing import Any

from validator.check import check_data


def _codes(doc: dict[str, Any]) -> set[str]:
    return {f.code for f in check_data(doc, "f.json").findings}


def test_a_row_claiming_no_throughput_is_named_not_a_crash(valid_doc: dict[str, Any]) -> None:
    # batch scaling divided by the slowest smaller batch's per-sequence speed: 0 tok/s at batch 1 ended
    # the file's checks with ZeroDivisionError (validator.internal_error)
    doc = copy.deepcopy(valid_doc)
    doc["measurements"][0]["summary"]["throughput_tok_s_mean"] = 0
    codes = _codes(doc)
    assert "validator.internal_error" not in codes
    assert "physics.throughput" in codes
