"""Two rows of one file from a clock of whole milliseconds (Windows before Python 3.13) whose trials last alike:
fp16 and bf16 at one batch size run at one speed on a steady board, so their trials read the same few tick counts,
and the sorted ratios of their gate windows' durations (the duration shape, a fingerprint at 9 digits) repeat by
chance, which duplicate.near took for a rescaled copy (fphunt2 F1). On such a clock that shape is no fingerprint;
energy and power, continuous readings, still are."""

from __future__ import annotations

import copy
import math
from typing import Any

import synthetic

from ecocompute import domain
from validator import fabrication
from validator.check import check_document

TRUE_S = 2.0101  # every trial's true length: a steady board, one amount of work, both rows


def _steady_on_ticks(python: str, fine_s: float = 0.0) -> dict[str, Any]:
    """Two rows whose every trial lasts TRUE_S, read by GetTickCount64 (15.625-ms ticks in whole ms): each
    duration 2.000, 2.015 or 2.016 s, so their windows' sorted durations match in pattern (rows 0 and 1: found by seed)."""
    doc = copy.deepcopy(synthetic.submission(seed=3, n_measurements=2, n_trials=7))
    doc["environment"]["host"]["os"], doc["environment"]["software"]["python"] = "Windows 11", python

    def read(t: float) -> float:
        return math.floor(math.floor((t * 1e3 + 271_234_567.0) / 15.625) * 15.625) / 1e3

    clock = 3.0
    for m in doc["measurements"]:
        for t in m["trials"]:
            power = t["energy_j"] / t["duration_s"]
            t0, t1 = read(clock), read(clock + TRUE_S)
            t["started_at_s"], t["duration_s"] = t0 - read(0.0) + 3 * fine_s, t1 - t0 + fine_s
            t["energy_j"] = round(power * TRUE_S, 3)  # the counter reads the true energy, in whole mJ
            t["power_avg_w"] = t["energy_j"] / t["duration_s"] * 0.993
            t["sampler_energy_j"] = t["power_avg_w"] * t["duration_s"]
            t["generated_tokens"] = m["trials"][0]["generated_tokens"]
            clock += TRUE_S + 0.0731
        synthetic.resummarize(m)
    return doc


def _windows(doc: dict[str, Any]) -> list[list[float]]:
    return [sorted(t["duration_s"] for t in m["trials"] if t["role"] == "measured") for m in doc["measurements"]]


def _codes(doc: dict[str, Any]) -> list[str]:
    sub = domain.parse(doc)
    found = fabrication.check(sub, [str(i) for i in range(len(sub.measurements))], "f.json")[0]
    return [f"{f.code}: {f.message}" for f in found]


def test_two_steady_rows_read_in_ticks_are_no_copy() -> None:
    doc = _steady_on_ticks("3.12.7")
    a, b = _windows(doc)
    assert [round(x, 3) for x in a] == [round(x, 3) for x in b] and len({round(x, 3) for x in a}) == 2
    assert _codes(doc) == []
    assert not [f for f in check_document(doc, "f.json") if f.code.startswith(("duplicate.", "fabrication."))]


def test_the_duration_shape_is_still_a_fingerprint_on_a_fine_clock() -> None:
    # the same durations where the clock reads finer (each moved by 13.7 ns, off the millisecond grid): two
    # windows spaced alike to 9 digits are a copy
    doc = _steady_on_ticks("3.13.1", fine_s=1.37e-8)
    assert any(c.startswith("duplicate.near") for c in _codes(doc)), _codes(doc)
