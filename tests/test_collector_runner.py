"""One configuration's trial loop on a fake clock: warm-up sizing, settling, the gate window,
early stop, budgets, stop reasons (as the validator judges them), timing and honest notes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import chain, count, repeat

import pytest
from fakes import Board, FakeSampler, FakeTime, noisy

from collector.errors import CollectError, NvmlError, TrialsTooShort
from collector.request import TrialPlan
from collector.runner import Clock, Runner, settled, window_fault
from ecocompute import gates, stats
from ecocompute.domain import Idle


class Requests:
    """Each request takes the next duration from ``durations`` (fake seconds) and yields 128 tokens."""

    def __init__(self, board: Board, durations: Iterator[float]) -> None:
        self.board, self.durations = board, durations

    def synchronize(self) -> None: ...

    def run_request(self) -> int:
        self.board.set_power(self.board.load_w)
        self.board.time.sleep(next(self.durations))
        self.board.set_power(self.board.idle_w)
        return 128


def _runner(durations: Iterator[float], plan: TrialPlan, counter_backwards_at: int | None = None) -> Runner:
    board = Board(FakeTime())
    reads = count()

    def counter() -> list[float]:
        if next(reads) == counter_backwards_at:
            return [0.0]
        return [board.energy_j()]

    clock = Clock(board.time.now, board.time.sleep)
    return Runner(Requests(board, durations), FakeSampler(board), counter, plan, clock, session_t0=900.0)


# Three warm-ups at most (the default is two): room for a sizing trial, a resized one and one that agrees.
PLAN = TrialPlan(trial_min_s=1.0, idle_window_s=1.0, warmup_max=3, gates=gates.Gates(max_trials=12))


def test_by_default_the_sizing_trial_and_one_full_size_trial_warm_up() -> None:
    # The first request is fast and short (0.3 s for a 1-s trial): the second warm-up runs four 0.25-s
    # requests, at another rate than the sizing trial's; no third warm-up waits for them to agree, the
    # gate window judges what follows.
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0)
    assert (plan.warmup_min, plan.warmup_max) == (2, 2)
    result = _runner(chain([0.3], repeat(0.25)), plan).run()
    assert [t.role for t in result.trials] == ["warmup"] * 2 + ["measured"] * 5
    assert [t.requests for t in result.trials[:3]] == [1, 4, 4]
    assert result.stopped_by == "gates_passed"
    assert "warm-up did not settle within 2 trials (settle 2.0 %)" in result.notes


def test_settled_needs_two_agreeing_trials() -> None:
    plan = TrialPlan(settle_pct=2.0)
    assert not settled([10.0], plan)
    assert settled([10.0, 10.1], plan)
    assert not settled([10.0, 10.5], plan)


def test_warmup_resizes_then_window_slides_past_a_slow_phase() -> None:
    # compile-heavy first request, then 0.5 s requests; three noisy measured trials, then steady. An
    # early stop waiting for two windows of evidence (schema 1.2.0-1.3.0) lets the window slide past.
    noisy_phase = [0.5, 0.5, 0.6, 0.6, 0.45, 0.45]
    plan = replace(PLAN, early_stop=gates.EarlyStop(evidence_min_trials=10))
    result = _runner(chain([2.0], repeat(0.5, 3), noisy_phase, repeat(0.5)), plan).run()
    roles = [t.role for t in result.trials]
    assert roles[:3] == ["warmup"] * 3
    # resized after the 2nd; the 3rd agrees with it (same rate at full size): settled
    assert [t.requests for t in result.trials[:3]] == [1, 1, 2]
    assert roles[3:] == ["discarded"] * 3 + ["measured"] * 5
    assert result.stopped_by == "gates_passed"
    summary, _, status = result.outcome(plan)
    assert status == "ok" and summary is not None and summary.trials == 5 and summary.throughput_tok_s_cv_pct == 0.0
    assert result.idle.power_before_w == pytest.approx(70.0) and result.idle.power_per_gpu_after_w == (
        pytest.approx(70.0),
    )
    assert all(t.energy_j == pytest.approx(250.0 * t.duration_s) for t in result.trials)
    # each trial's start, on the session's clock (which started at 900 s on the runner's)
    assert result.trials[0].started_at_s == pytest.approx(1000.0 + 1.0 - 900.0)  # after the 1-s idle window
    ends = [t.started_at_s + t.duration_s for t in result.trials]
    assert all(b.started_at_s >= a for a, b in zip(ends, result.trials[1:], strict=False))


def test_one_slow_trial_in_the_first_window_does_not_stop_the_configuration() -> None:
    # The default rule may decide on the first window; the spread it uses (median of consecutive
    # differences) ignores one outlier, so the window slides past it and passes.
    result = _runner(chain([2.0], repeat(0.5, 3), [0.5, 0.5, 0.5, 0.65], repeat(0.5)), PLAN).run()
    assert PLAN.early_stop.evidence_needed(PLAN.gates) == PLAN.gates.min_trials + 2
    assert result.stopped_by == "gates_passed"
    assert [t.role for t in result.trials].count("discarded") == 2


def test_a_slow_phase_of_three_trials_in_the_first_window_is_stopped_by_the_default_rule() -> None:
    # The price of deciding on the first window: half its trials disturbed look like a noisy host.
    noisy_phase = [0.5, 0.5, 0.6, 0.6, 0.45, 0.45]
    result = _runner(chain([2.0], repeat(0.5, 3), noisy_phase, repeat(0.5)), PLAN).run()
    assert result.stopped_by == "implausible" and len(result.trials) == 3 + 6


def _drift() -> Iterator[float]:
    """Each 2-request trial 1.3 % slower than the one before: every window's CV is just above 2 %, but
    the trial-to-trial steps are small, so passing never looks implausible."""
    return (0.5 * 1.0065**i for i in count())


def test_trial_budget_is_written_as_gate_failed() -> None:
    result = _runner(_drift(), PLAN).run()
    _, gate, status = result.outcome(PLAN)
    assert status == "gate_failed" and "throughput_cv" in gate.failed and result.stopped_by == "trial_budget"
    assert sum(t.role != "warmup" for t in result.trials) == 12
    assert stats.measured(result.trials) == result.trials[-5:]


def test_time_budget() -> None:
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0, max_config_s=9.0, gates=gates.Gates(max_trials=40))
    result = _runner(_drift(), plan).run()
    assert result.stopped_by == "time_budget"
    assert sum(t.role != "warmup" for t in result.trials) >= 5  # never before a full window


def test_a_hopelessly_noisy_configuration_stops_early_and_says_why() -> None:
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0)  # budget 40 trials
    result = _runner(chain([0.5, 0.5, 0.5], noisy(0.15, seed=3)), plan).run()  # ~11 % per 2-request trial
    assert result.stopped_by == "implausible"
    post = [t.throughput_tok_s for t in result.trials if t.role != "warmup"]
    assert plan.gates.min_trials <= len(post) < 20
    assert gates.implausible(result.trials, plan.gates, plan.early_stop)  # what the validator recomputes
    assert not gates.implausible(result.trials[:-1], plan.gates, plan.early_stop)  # and not a trial sooner
    assert any("stopped early" in n for n in result.notes)


def test_a_borderline_configuration_is_not_stopped_early() -> None:
    for seed in range(5):
        result = _runner(chain([0.5, 0.5, 0.5], noisy(0.025, seed=seed)), PLAN).run()  # ~1.8 % per trial
        assert result.stopped_by in ("gates_passed", "trial_budget"), seed


def test_counter_going_backwards_is_noted_and_the_trial_repeated() -> None:
    result = _runner(repeat(0.5), PLAN, counter_backwards_at=5).run()
    assert any("went backwards" in n for n in result.notes)
    assert all(t.energy_j > 0 for t in result.trials)


def test_counter_going_backwards_twice_aborts() -> None:
    runner = _runner(repeat(0.5), PLAN)
    falling = count(0, -1)
    runner.counter = lambda: [float(next(falling))]  # every read lower than the one before
    with pytest.raises(CollectError, match=r"went backwards.*twice in a row"):
        runner.trial(0, "warmup", 1)


def _faulty_counter(runner: Runner, fault: Callable[[int, float], float]) -> None:
    """The runner's energy counter, read the n-th time, gives ``fault(n, true reading)``."""
    board, reads = runner.sampler.board, count()  # type: ignore[attr-defined]
    runner.counter = lambda: [fault(next(reads), board.energy_j())]


def test_a_counter_reset_during_an_idle_window_measures_the_window_again() -> None:
    # A driver reload in the first idle window: the counter restarts near 0. The idle power was written as
    # the negative difference (-1e6 W), and the file refused at the end of the run (schema.violation).
    runner = _runner(repeat(0.5), PLAN)
    _faulty_counter(runner, lambda n, e: e if n == 0 else e - 999_000.0)
    result = runner.run()
    assert result.idle.power_before_w == pytest.approx(70.0) and result.idle.power_after_w == pytest.approx(70.0)
    assert any("went backwards" in n and "idle window" in n for n in result.notes)


def test_a_counter_that_stands_still_is_refused_in_one_line() -> None:
    # Idle and loaded windows all read 0 J: an idle power of 0 W reached the statistics (ValueError from
    # the checkpoint's JSON, a traceback) before this.
    runner = _runner(repeat(0.5), PLAN)
    _faulty_counter(runner, lambda n, e: 1_000_000.0)
    with pytest.raises(CollectError, match=r"stood still for 1.0 s while the sampler read 70 W.*twice in a row"):
        runner.run()


def test_a_counter_read_failing_in_passing_measures_the_window_again_and_twice_ends_in_one_line() -> None:
    # One NVML_ERROR_TIMEOUT on the energy counter (read by the measuring process, not the sampler) ended the
    # whole run with "nvmlDeviceGetTotalEnergyConsumption: Timeout" (collrev39 F1).
    def timing_out(n: int, e: float) -> float:
        if n in (0, 7):  # the first idle window's start, a trial's end
            raise NvmlError("nvmlDeviceGetTotalEnergyConsumption: Timeout")
        return e

    runner = _runner(repeat(0.5), PLAN)
    _faulty_counter(runner, timing_out)
    result = runner.run()
    assert result.idle.power_before_w == pytest.approx(70.0) and all(t.energy_j > 0 for t in result.trials)
    assert [n for n in result.notes if "could not be read" in n] == [
        "the NVML energy counter could not be read (nvmlDeviceGetTotalEnergyConsumption: Timeout) during an idle "
        "window; measured again",
        "the NVML energy counter could not be read (nvmlDeviceGetTotalEnergyConsumption: Timeout) during trial 1; "
        "measured again",
    ]
    runner = _runner(repeat(0.5), PLAN)
    _faulty_counter(runner, lambda n, e: timing_out(0, e) if n >= 4 else e)  # the GPU lost for good
    with pytest.raises(CollectError, match=r"could not be read \(.*Timeout\), in trial 1 measured twice in a row"):
        runner.run()


def test_a_counter_that_jumps_is_measured_again_and_never_written() -> None:
    # The counter jumps by 1 GJ between the two reads of one trial: 1e9 J was written as that trial's energy
    # (the validator refused the whole file at the end: physics.energy_power).
    runner = _runner(repeat(0.5), PLAN)
    _faulty_counter(runner, lambda n, e: e if n < 7 else e + 1e9)
    result = runner.run()
    assert max(t.energy_j for t in result.trials) < 300.0
    assert [n for n in result.notes if "jumped" in n] == [
        "the NVML energy counter jumped: 1000000250 J in 1.0 s, where the sampler read 250 J (peak 250 W) during "
        "trial 2; measured again"
    ]


def test_a_window_without_a_sampler_reading_is_measured_again_then_refused() -> None:
    # The sampler starved of CPU through a whole trial: its power was drawn from the idle readings on either
    # side (157 W for a 250-W trial) and the file refused at the end of the run (physics.energy_power).
    runner = _runner(repeat(0.5), PLAN)
    fake, asked = runner.sampler, count()

    def starved(t0: float, t1: float, starve: set[int]) -> object:
        window = FakeSampler.window(fake, t0, t1)  # type: ignore[arg-type]
        return replace(window, samples=0, sample_rate_hz=0.0) if next(asked) in starve else window

    runner.sampler.window = lambda t0, t1: starved(t0, t1, {3})  # type: ignore[method-assign]
    result = runner.run()
    assert all(t.power_samples > 0 for t in result.trials)
    assert "the power sampler took no reading in 1.0 s during trial 2; measured again" in result.notes
    runner = _runner(repeat(0.5), PLAN)
    fake, asked = runner.sampler, count()
    runner.sampler.window = lambda t0, t1: starved(t0, t1, {0, 1})  # type: ignore[method-assign]
    with pytest.raises(CollectError, match=r"no reading in 1.0 s, in an idle window measured twice.*starving"):
        runner.run()


def test_a_trial_with_seconds_without_a_sampler_reading_is_measured_again() -> None:
    # The VM suspended for 2 minutes inside a trial, sampler and all: the trial was written, its power
    # interpolated across the 2 minutes (and its duration holding them), with no word of it.
    runner = _runner(repeat(2.0), PLAN)  # 2-s trials
    fake, asked = runner.sampler, count()
    runner.sampler.window = lambda t0, t1: replace(  # type: ignore[method-assign]
        FakeSampler.window(fake, t0, t1),  # type: ignore[arg-type]
        gap_s=1.5 if next(asked) == 5 else 0.05,
    )
    result = runner.run()
    assert "the power sampler took no reading for 1.5 s of 2.0 s during trial 4; measured again" in result.notes


def test_a_window_of_under_four_sampler_periods_may_hold_no_reading() -> None:
    board = Board(FakeTime())
    board.time.sleep(2.0)
    empty = replace(FakeSampler(board).window(1000.0, 1001.0), samples=0, sample_rate_hz=0.0)
    assert window_fault(None, empty, 1.0, period_s=0.5) is None  # a slow sampler asked for (the schema allows 60 s)
    assert window_fault(None, empty, 1.0, period_s=0.05) is not None


def test_nvml_readings_left_out_of_a_trial_are_noted() -> None:
    runner = _runner(repeat(0.5), PLAN)
    fake, asked = runner.sampler, count()
    runner.sampler.window = lambda t0, t1: replace(  # type: ignore[method-assign]
        FakeSampler.window(fake, t0, t1),  # type: ignore[arg-type]
        failed_readings=3 if next(asked) == 4 else 0,  # the idle window, then trials 0, 1, 2
    )
    result = runner.run()
    assert [n for n in result.notes if "readings failed" in n] == [
        "NVML power readings failed and were left out of the sampled power (3 in trial 3): the sampler's figures "
        "of those trials rest on fewer readings (see each trial's power_samples)"
    ]


def test_a_power_field_fallback_is_recorded_per_trial_and_noted() -> None:
    runner = _runner(repeat(0.5), PLAN)
    runner.sampler = FakeSampler(runner.sampler.board, reading="mixed")  # type: ignore[attr-defined]
    result = runner.run()
    assert {t.power_reading for t in result.trials} == {"mixed"}
    assert any("instant power field failed" in n for n in result.notes)


def test_result_before_the_end_is_a_bug() -> None:
    with pytest.raises(CollectError, match="before the configuration finished"):
        _runner(repeat(0.5), PLAN).result(Idle(70.0, 70.0))


def test_trials_that_fall_under_half_the_minimum_after_warm_up_end_the_configuration() -> None:
    # Sizing: 0.25 s (resized to 4 requests), then 4 x 0.05 s (still short: resized to about 20, and
    # the warm-up bound is reached); then the GPU runs 5x faster: about 0.2 s a trial, under half of
    # 1 s. eco-validate refuses such a trial, so the runner stops instead of measuring on.
    runner = _runner(chain([0.25], repeat(0.05, 4), repeat(0.01)), TrialPlan(trial_min_s=1.0, idle_window_s=1.0))
    runner.warm_up()
    assert [t.requests for t in runner.trials] == [1, 4] and runner.requests in (20, 21)
    with pytest.raises(TrialsTooShort, match=r"lasted 0\.2\d\d s, under 0\.5 x the 1-s minimum: its 2\d request"):
        runner.step()


def test_a_trial_above_half_the_minimum_is_kept() -> None:
    runner = _runner(chain([0.25], repeat(0.05, 4), repeat(0.03)), TrialPlan(trial_min_s=1.0, idle_window_s=1.0))
    runner.warm_up()
    assert runner.step() is False and 0.5 < runner.trials[-1].duration_s < 0.7
