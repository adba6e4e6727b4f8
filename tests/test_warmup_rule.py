"""The warm-up rule is one (ecocompute.warmup): the collector's runner runs it and the validator's
replay judges a file by it, so that moving it moves both (they each spelled 0.9, the resize and the
settle test, held together only by a test reading the runner's source; then each spelled when warm-up
ends, as did the test generator)."""

from __future__ import annotations

from itertools import cycle, repeat

import pytest
import synthetic
from fakes import Board, FakeSampler, FakeTime
from test_collector_runner import Requests

from collector.request import TrialPlan
from collector.runner import Clock, Runner
from ecocompute import warmup
from validator.check import check_data


def test_the_rule_at_its_edges() -> None:
    assert warmup.full_size(0.9, 1.0) and not warmup.full_size(0.8999, 1.0)
    assert warmup.requests_for(4.0, 0.3) == 14 and warmup.requests_for(1.0, 5.0) == 1
    assert warmup.settled(100.0, 101.9, 2.0) and warmup.settled(101.9, 100.0, 2.0)
    assert not warmup.settled(100.0, 102.1, 2.0)


def test_warm_up_ends_at_its_edges() -> None:
    assert warmup.ended(1, 2, 3, True, True) is None  # settled before min_trials
    assert warmup.ended(2, 2, 3, True, True) == "settled"
    assert warmup.ended(2, 2, 3, False, True) is None  # not full size
    assert warmup.ended(2, 2, 3, True, False) is None
    assert warmup.ended(3, 2, 3, False, False) == "budget"
    assert warmup.ended(3, 2, 3, True, True) == "settled"  # settling at the budget is settling


def _warm_up(durations: list[float], plan: TrialPlan) -> Runner:
    board = Board(FakeTime())
    clock = Clock(board.time.now, board.time.sleep)
    runner = Runner(Requests(board, cycle(durations)), FakeSampler(board), lambda: [board.energy_j()], plan, clock)
    runner.warm_up()
    return runner


def test_the_collector_notes_a_warm_up_that_did_not_settle() -> None:
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0, warmup_min=2, warmup_max=4)
    unsettled = _warm_up([1.0, 1.5], plan)  # throughputs a third apart: never settles
    assert len(unsettled.trials) == 4
    assert unsettled.notes == ["warm-up did not settle within 4 trials (settle 2.0 %)"]
    settled = _warm_up([1.0], plan)
    assert len(settled.trials) == 2 and settled.notes == []


def test_the_collector_and_the_validator_end_warm_up_by_the_shared_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0, warmup_min=2, warmup_max=4)
    doc = synthetic.submission(seed=4, n_measurements=1, n_trials=7)
    monkeypatch.setattr(warmup, "ended", lambda n, *_: "budget" if n >= 3 else None)
    runner = _warm_up([1.0], plan)  # would settle at the second
    assert len(runner.trials) == 3 and runner.notes[0].startswith("warm-up did not settle")
    # The synthetic file settles at its second warm-up: under the patched rule it should have run a third.
    assert {f.code for f in check_data(doc, "warmup.json").findings} == {"protocol.warmup"}
    again = synthetic.submission(seed=4, n_measurements=1, n_trials=7)
    assert sum(t["role"] == "warmup" for t in again["measurements"][0]["trials"]) == 3


def _first_sizes(fraction: float, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The requests of the first two warm-ups eco-collect runs when each request takes 0.85 s of a
    1-s trial minimum, with ``fraction`` as the full-size share."""
    monkeypatch.setattr(warmup, "FULL_SIZE_FRACTION", fraction)
    board = Board(FakeTime())
    clock = Clock(board.time.now, board.time.sleep)
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0)
    runner = Runner(Requests(board, repeat(0.85)), FakeSampler(board), lambda: [board.energy_j()], plan, clock)
    return [t.requests for t in runner.run().trials[:2]]


def test_the_collector_sizes_by_the_shared_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _first_sizes(0.9, monkeypatch) == [1, 2]  # 0.85 s is short of 0.9 s: resized
    assert _first_sizes(0.8, monkeypatch) == [1, 1]  # full size at 0.8: kept


def test_the_validator_replays_by_the_shared_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # A file whose warm-ups last 2.13 s of a 2-s minimum: full size at 0.9, ending warm-up at the second;
    # at 1.1 they are short, so warm-up could not have ended there.
    doc = synthetic.submission(seed=4, n_measurements=1, n_trials=7)
    assert {f.code for f in check_data(doc, "warmup.json").findings} == set()
    monkeypatch.setattr(warmup, "FULL_SIZE_FRACTION", 1.1)
    assert {f.code for f in check_data(doc, "warmup.json").findings} == {"protocol.warmup"}
