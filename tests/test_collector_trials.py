"""The trial loop's decisions, on a fake clock: warm-up sizing, settling, the gate window, budgets."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, count, repeat

import pytest

from collector.errors import CollectError
from collector.sampler import WindowStats
from collector.trials import Clock, Runner, TrialPlan, finish, settled
from ecocompute import stats
from ecocompute.gates import Gates

POWER_W = 300.0


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


class FakeWorkload:
    """Each request takes the next duration from ``durations`` and yields 128 tokens."""

    def __init__(self, clock: FakeTime, durations: Iterator[float]) -> None:
        self.clock, self.durations = clock, durations

    def synchronize(self) -> None: ...

    def run_request(self) -> int:
        self.clock.t += next(self.durations)
        return 128


class FakeWindows:
    def window(self, t0: float, t1: float) -> WindowStats:
        return WindowStats(POWER_W, POWER_W * 1.05, POWER_W * (t1 - t0), 20, 20.0, 50.0, 1980.0, 2619.0, [])


def _runner(durations: Iterator[float], plan: TrialPlan, counter_backwards_at: int | None = None) -> Runner:
    clock = FakeTime()
    reads = iter(range(10**6))

    def counter() -> list[float]:
        n = next(reads)
        if counter_backwards_at is not None and n == counter_backwards_at:
            return [0.0]
        return [clock.t * POWER_W]

    return Runner(FakeWorkload(clock, durations), FakeWindows(), counter, plan, Clock(clock.now, clock.sleep))


def test_settled_needs_two_agreeing_trials() -> None:
    plan = TrialPlan(settle_pct=2.0)
    assert not settled([10.0], plan)
    assert settled([10.0, 10.1], plan)
    assert not settled([10.0, 10.5], plan)


def test_warmup_resizes_then_window_slides_past_a_slow_phase() -> None:
    # compile-heavy first request, then 0.5 s requests; three noisy measured trials, then steady.
    noisy = [0.5, 0.5, 0.6, 0.6, 0.45, 0.45]
    durations = chain([2.0], repeat(0.5, 5), noisy, repeat(0.5))
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0)
    result = _runner(durations, plan).run()
    roles = [t.role for t in result.trials]
    assert roles[:4] == ["warmup"] * 4
    assert [t.requests for t in result.trials[:4]] == [1, 1, 2, 2]  # resized after the 2nd
    assert roles[4:] == ["discarded"] * 3 + ["measured"] * 5
    m = finish(result, plan)
    assert m["status"] == "ok" and m["summary"]["trials"] == 5
    assert m["summary"]["throughput_tok_s_cv_pct"] == 0.0
    assert m["idle"]["power_before_w"] == pytest.approx(POWER_W)
    assert all(t.energy_j == pytest.approx(POWER_W * t.duration_s) for t in result.trials)


def test_budget_exhausted_is_written_as_gate_failed() -> None:
    wobble = chain([0.5, 0.5, 0.5], *repeat([0.5, 0.5, 0.6, 0.6], 100))
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0, gates=Gates(max_trials=12))
    result = _runner(wobble, plan).run()
    m = finish(result, plan)
    assert m["status"] == "gate_failed" and "throughput_cv" in m["gate"]["failed"]
    assert sum(t.role != "warmup" for t in result.trials) == 12
    assert stats.measured(result.trials) == result.trials[-5:]


def test_counter_going_backwards_is_noted_and_the_trial_repeated() -> None:
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0)
    runner = _runner(repeat(0.5), plan, counter_backwards_at=5)
    result = runner.run()
    assert any("went backwards" in n for n in result.notes)
    assert all(t.energy_j > 0 for t in result.trials)


def test_counter_going_backwards_twice_aborts() -> None:
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0)
    runner = _runner(repeat(0.5), plan)
    falling = count(0, -1)
    runner.counter = lambda: [float(next(falling))]  # every read lower than the one before
    with pytest.raises(CollectError, match="backwards twice"):
        runner.trial(0, "warmup", 1)
