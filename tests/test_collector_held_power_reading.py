"""eco-collect end to end on a board whose power reading stands still longer than a trial (review37 F3's board: the
nvmlDeviceGetPowerUsage fallback holding its 1-s average for 1.5 s) and a host that leaves 40-95 ms between trials:
the windows go through the collector's own summarize_window, and the file it writes passes eco-validate (review42)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import fake_nvml
from fakes import Board, FakeSampler, FakeTime, noisy, timed
from test_collector_e2e import _cuda_build, _hooks, _request, tiny_config  # noqa: F401 - fixtures

from collector.collect import collect
from collector.nvml import Nvml, Sample
from collector.request import TrialPlan
from collector.sampler import WindowStats, summarize_window
from ecocompute import domain
from ecocompute.gates import Gates
from validator import madeup
from validator.run import exit_code, validate

HELD_S = 1.5  # the reading changes this often: longer than a trial of --trial-min-s 1, shorter than two
GAP_S = (0.04, 0.095)  # the host's time between one trial's end and the next one's start
PERIOD_S = 0.05  # eco-collect's sampler period


class HeldReading(FakeSampler):
    """The sampler process on such a board: a reading every PERIOD_S and one when a window is asked for (after the
    trial's end, before the next trial starts), each the board's mean power over the second before the reading's
    last update; the window summarised as eco-collect's sampler summarises it. Asking for a trial's window takes the
    host's gap."""

    def __init__(self, board: Board, seed: int) -> None:
        super().__init__(board, reading="nvml_power_usage")
        self.rng = random.Random(seed)
        self.start = self.next_regular = board.time.now()
        self.phase = self.rng.uniform(0.0, HELD_S)
        self.held: dict[float, float] = {}
        self.samples: list[Sample] = []

    def _reading(self, t: float) -> Sample:
        update = self.phase + (t - self.phase) // HELD_S * HELD_S
        if update not in self.held:
            since = max(update, self.start + 1.0)
            self.held[update] = round(self.board.mean_power_w(since - 1.0, since), 3)  # NVML: whole mW
        watts = self.held[update]
        return Sample(t, watts, 45.0, 1980.0, 2619.0, 0, None, (watts,), usage_fallback=True)

    def window(self, t0: float, t1: float) -> WindowStats:
        clock = self.board.time
        gap = self.rng.uniform(*GAP_S)
        asked = self.rng.uniform(0.0005, 0.01)  # the counter and CPU times read, the request sent
        clock.sleep(asked)
        while self.next_regular <= clock.now():
            self.samples.append(self._reading(self.next_regular))
            self.next_regular += PERIOD_S
        self.samples.append(self._reading(clock.now()))  # the reading the request takes
        stats = summarize_window(self.samples, t0, t1, lambda _mask: [])
        if t1 - t0 < 4.0:  # a trial's window (idle ones last 5 s): the rest of the host's gap before the next trial
            clock.sleep(gap - asked)
        return stats


def _without_fields(indices: list[int]) -> Nvml:
    """A driver without NVML's power fields: the sampler reads nvmlDeviceGetPowerUsage; and no energy counter."""
    return Nvml(indices, module=fake_nvml.fake_module(energy_supported=False, fields_supported=False))


def test_a_reading_that_stands_still_longer_than_a_trial_makes_a_file_eco_validate_accepts(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
) -> None:
    """No two trials can share one held value (they span more than HELD_S together), so each update that falls between
    two of a gap's readings gives two back-to-back trials readings that stood still at values of their own: three such
    pairs in this run's 40 trials, and eco-validate refused the file as fabrication.too_regular (typed by hand), as
    eco-collect did at its end. The trials beside each pair moved: the pairs are few of those holding a reading that
    stood still, where a forger's every trial stands still."""
    board = Board(FakeTime(), load_w=90.0, idle_w=70.0)  # a small model: the idle windows' held readings lag little
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=5.0, max_config_s=600.0, gates=Gates(max_trials=40))
    seeds = itertools.count(400)
    request = _request(
        tmp_path, tiny_config, plan=plan, schedule="sequential", precisions=("fp32",), batch_sizes=(1, 2, 3, 4)
    )
    path, doc = collect(
        request,
        hooks=_hooks(
            board,
            sampler=HeldReading(board, seed=40),
            nvml=_without_fields,
            workload=timed(board, lambda _engine: noisy(0.025, seed=next(seeds))),
        ),
    )
    sub = domain.parse(doc)
    spans = sorted(
        (t.started_at_s, t.started_at_s + t.duration_s, madeup._stuck(t), round(t.power_peak_w * 1e3))
        for m in sub.measurements
        for t in m.trials
    )
    apart = [
        (a, b)
        for a, b in itertools.pairwise(spans)
        if a[2] and b[2] and a[3] != b[3] and b[0] - a[1] < madeup.STUCK_GAP_S
    ]
    assert len(apart) >= madeup.MIN_STUCK_APART  # what the rule counted
    assert exit_code(validate([path], accepted_root=None)) == 0
