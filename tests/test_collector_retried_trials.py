"""A host whose power windows fail often: eco-collect measures each failed trial again (one note each), and the file
it writes passes eco-validate, though most of a row's trials then follow their failed attempt (review42)."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest
from fakes import Board, FakeSampler, FakeTime
from test_collector_e2e import _cuda_build, _hooks, _request, tiny_config  # noqa: F401 - fixtures

from collector.collect import collect
from collector.request import TrialPlan
from collector.sampler import WindowStats
from ecocompute.gates import Gates
from validator.run import exit_code, validate

IDLE_S = 1.0001234  # no trial lasts this long to the tenth of a microsecond: a window this long is an idle one


class EveryOtherTrialFails(FakeSampler):
    """The fake board's sampler, but every other trial window (a window measured again counted too) has no reading
    in it: a sampler the host starves now and then. Each trial's first attempt fails and its second passes."""

    def __init__(self, board: Board) -> None:
        super().__init__(board)
        self.trials = itertools.count()

    def window(self, t0: float, t1: float) -> WindowStats:
        stats = super().window(t0, t1)
        if abs(t1 - t0 - IDLE_S) > 1e-9 and next(self.trials) % 2 == 0:
            return dataclasses.replace(stats, samples=0)
        return stats


@pytest.mark.parametrize("schedule", ["sequential", "interleaved"])
def test_a_run_that_measured_most_trials_again_writes_a_file_eco_validate_accepts(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    schedule: str,
) -> None:
    """Each trial's failed attempt ran its requests, so the gap before the trial measured again is about a trial long:
    in a sequential run eco-validate judged every such gap and refused the file (protocol.trial_gap), eco-collect
    keeping it, refused, at its end."""
    board = Board(FakeTime())
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=IDLE_S, max_config_s=60.0, gates=Gates(max_trials=10))
    request = _request(tmp_path, tiny_config, plan=plan, schedule=schedule, precisions=("fp32",))
    path, doc = collect(request, hooks=_hooks(board, sampler=EveryOtherTrialFails(board)))
    for m in doc["measurements"]:
        again = [n for n in m["notes"] if n.endswith("; measured again")]
        assert len(again) == len(m["trials"])  # every trial measured again
    assert exit_code(validate([path], accepted_root=None)) == 0
