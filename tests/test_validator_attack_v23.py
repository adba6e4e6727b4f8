"""Attack v23: a quadratic path in the trials' overlap check, and labels eco-collect cannot write.

- timeline._overlap compared two whole measurements (dataclass ==) at every trial of one that overlapped the
  other: four copies of a row of 2,000 trials (a 4.9-MB file) took 4.7 s. Each pair of rows is compared once.
- stopped_by: a row stopped as implausible relabelled time_budget (a published column) passed. eco-collect asks
  gates, implausible, the trial budget and the time budget in that order (collector/runner.py ``step``).
- attn_implementation 'not loaded' (what eco-collect writes where the model never loaded) passed on rows that ran.
- A submission named through a link to its folder was also in the accepted pool under its real path, and refused
  as a duplicate of itself (and a file named through two aliases was checked twice, each copy refusing the other).
- A token check's ids hash (sha256 of the batch's new ids) copied from a row of another batch size passed: one hash
  is of one list of ids.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import synthetic

from ecocompute import domain
from ecocompute.gates import Gates
from validator import protocol, timeline
from validator.check import check_data
from validator.run import validate

REAL = Path(__file__).resolve().parents[1] / "submissions" / "ecocompute-bot"
INTERLEAVED = "ecocompute-bot-h100-80gb-hbm3-20261123-173451.json"  # four gate_failed rows stopped as implausible
BATCHES = "ecocompute-bot-h100-80gb-hbm3-20261123-232842.json"  # cuda-graph rows at batch 1 and 8


@cache
def _real(name: str) -> str:
    return (REAL / name).read_text(encoding="utf-8")


def _errors(doc: dict[str, Any], name: str = INTERLEAVED) -> set[tuple[str, str]]:
    found = check_data(copy.deepcopy(doc), name).findings
    return {(f.code, f.pointer) for f in found if f.severity.value == "error"}


def _implausible_row(doc: dict[str, Any]) -> int:
    return next(i for i, m in enumerate(doc["measurements"]) if m["stopped_by"] == "implausible")


class _CountedTrial(domain.Trial):
    """A trial that counts how often it is compared with another."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        _CountedTrial.compared += 1
        return domain.Trial.__eq__(self, other)

    __hash__ = domain.Trial.__hash__


def _copies(n_copies: int, n_trials: int) -> domain.Submission:
    """A file whose one row is there ``n_copies`` times (every copy overlapping the others in time)."""
    sub = domain.parse(synthetic.submission(seed=23, n_measurements=1, n_trials=n_trials))
    row = sub.measurements[0]
    copies = tuple(
        replace(
            row, trials=tuple(_CountedTrial(**{f: getattr(t, f) for f in t.__dataclass_fields__}) for t in row.trials)
        )
        for _ in range(n_copies)
    )
    return replace(sub, measurements=copies)


def test_overlapping_copies_of_a_row_are_compared_once_a_pair() -> None:
    sub = _copies(3, 300)
    _CountedTrial.compared = 0
    assert timeline._overlap(sub, "copies.json", timeline.trial_spans(sub)) == []  # duplicate.measurement's
    assert _CountedTrial.compared <= 3 * 300  # at most one comparison of each pair's trials; was 180,000


def test_the_real_file_passes() -> None:
    assert _errors(json.loads(_real(INTERLEAVED))) == set()


@pytest.mark.parametrize("reason", ["time_budget", "trial_budget"])
def test_a_row_whose_passing_had_become_implausible_is_not_stopped_by_a_budget(reason: str) -> None:
    doc = json.loads(_real(INTERLEAVED))
    i = _implausible_row(doc)
    doc["measurements"][i]["stopped_by"] = reason
    assert ("protocol.stop_reason", f"/measurements/{i}/stopped_by") in _errors(doc)


def test_the_time_budget_does_not_end_a_row_the_trial_budget_ended() -> None:
    doc = json.loads(_real(INTERLEAVED))
    m = domain.parse(doc).measurements[_implausible_row(doc)]
    after_warm_up = sum(t.role != "warmup" for t in m.trials)
    gates = Gates.from_mapping({**doc["protocol"]["gates"], "max_trials": after_warm_up})
    row = replace(m, stopped_by="time_budget")
    found = protocol._stop(row, "/measurements/0", "x.json", gates, None)  # no early-stop rule: budgets decide
    assert [f.code for f in found] == ["protocol.stop_reason"]
    assert protocol._stop(replace(m, stopped_by="trial_budget"), "/measurements/0", "x.json", gates, None) == []


def test_a_row_that_ran_records_the_attention_it_ran() -> None:
    doc = json.loads(_real(INTERLEAVED))
    doc["measurements"][2]["engine"]["attn_implementation"] = "not loaded"
    assert ("protocol.engine_mismatch", "/measurements/2/engine/attn_implementation") in _errors(doc)


def test_a_token_check_hash_belongs_to_one_token_count() -> None:
    doc = json.loads(_real(BATCHES))
    assert _errors(doc, BATCHES) == set()
    rows = doc["measurements"]
    one, eight = (
        next(i for i, m in enumerate(rows) if m["batch_size"] == b and m["engine"]["token_check"]) for b in (1, 8)
    )
    rows[eight]["engine"]["token_check"]["ids_sha256"] = rows[one]["engine"]["token_check"]["ids_sha256"]
    assert ("protocol.token_check", f"/measurements/{eight}/engine/token_check/ids_sha256") in _errors(doc, BATCHES)


def test_a_file_reached_through_a_link_to_its_folder_is_not_its_own_duplicate(tmp_path: Path) -> None:
    real = tmp_path / "data" / "ecocompute-bot"
    real.mkdir(parents=True)
    (real / BATCHES).write_text(_real(BATCHES), encoding="utf-8")
    (tmp_path / "alias").symlink_to(tmp_path / "data", target_is_directory=True)
    through_link = tmp_path / "alias" / "ecocompute-bot" / BATCHES
    report = validate([through_link], accepted_root=tmp_path / "data")
    assert report.errors == []
    report = validate([through_link, real / BATCHES], accepted_root=tmp_path / "data")
    assert len(report.files) == 1
    assert report.errors == []
