"""The interleaved schedule's shared idle windows: measured by no configuration's runner, so that a configuration
skipped for out of memory lets its engine go; each window's notes and time go to every configuration it serves
(collrev39 O1, O3)."""

from __future__ import annotations

import dataclasses
import gc
import itertools
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fakes import Board, FakeSampler, FakeTime, noisy, timed
from test_collector_e2e import _cuda_build, _hooks, _request, tiny_config  # noqa: F401 - fixtures

from collector.collect import collect
from collector.engines import Workload
from collector.request import TrialPlan
from collector.sampler import WindowStats
from collector.session import Events
from ecocompute.domain import Measurement
from ecocompute.gates import Gates
from validator.run import exit_code, validate

IDLE_S = 1.0001234  # no trial lasts this long to the tenth of a microsecond: a window this long is an idle one
PLAN = TrialPlan(trial_min_s=1.0, idle_window_s=IDLE_S, max_config_s=60.0, gates=Gates(max_trials=10))
AGAIN = "the power sampler took no reading in 1.0 s during an idle window; measured again"


class IdleFaults(FakeSampler):
    """The fake board's sampler, but the idle windows numbered in ``faulty`` (from 0, a window measured again
    counted too) have no reading in them."""

    def __init__(self, board: Board, faulty: set[int]) -> None:
        super().__init__(board)
        self.faulty, self.idle = faulty, itertools.count()

    def window(self, t0: float, t1: float) -> WindowStats:
        stats = super().window(t0, t1)
        if abs(t1 - t0 - IDLE_S) < 1e-9 and next(self.idle) in self.faulty:
            return dataclasses.replace(stats, samples=0)
        return stats


class Done(Events):
    def __init__(self) -> None:
        self.elapsed: dict[int, float] = {}

    def config_done(self, label: str, measurement: Measurement, elapsed_s: float) -> None:
        self.elapsed[measurement.batch_size] = elapsed_s


def _second_one_round_later() -> Callable[[Any], Iterator[float]]:
    """Requests of about 0.5 s; the second configuration's first measured trial (its 4th request: 1 + 2 in
    warm-up) a tenth slower, so that its gate passes a round after the first's."""
    engines = itertools.count()

    def durations(engine: Any) -> Iterator[float]:
        if next(engines) == 0:
            return noisy(0.002, seed=1)
        return itertools.chain(itertools.islice(noisy(0.002, seed=2), 3), [0.6], noisy(0.002, seed=3))

    return durations


@pytest.mark.parametrize(
    ("faulty", "again"),
    [
        ({0, 2}, {1: 2, 2: 1}),  # before (both rows) and bs=1's idle-after (closed first) measured again
        ({0, 3}, {1: 1, 2: 2}),  # before and bs=2's idle-after, a round after bs=1 closed: its note was lost
    ],
)
def test_a_shared_idle_window_measured_again_is_noted_and_charged_on_every_row_it_serves(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    faulty: set[int],
    again: dict[int, int],
) -> None:
    """The group's idle windows were measured through the first configuration's runner: their "measured again"
    notes landed on its row alone, or nowhere once it was closed, and its time budget paid every window of the
    group while the others paid none."""
    board, done = Board(FakeTime()), Done()
    request = _request(tmp_path, tiny_config, precisions=("fp32",), schedule="interleaved", plan=PLAN)
    hooks = _hooks(board, sampler=IdleFaults(board, faulty), workload=timed(board, _second_one_round_later()))
    path, doc = collect(request, done, hooks=hooks)
    rows = {m["batch_size"]: m for m in doc["measurements"]}
    assert [len(m["trials"]) for m in rows.values()] == [7, 8]  # bs=2 one round later
    for batch, m in rows.items():
        assert m["status"] == "ok" and m["notes"].count(AGAIN) == again[batch], m["notes"]
        # its time: its trials, and its idle windows (before and after, each window measured again too)
        idle_s = done.elapsed[batch] - sum(t["duration_s"] for t in m["trials"])
        assert idle_s == pytest.approx((2 + again[batch]) * IDLE_S, abs=1e-6)
    assert exit_code(validate([path], accepted_root=None)) == 0


def test_a_configuration_skipped_for_out_of_memory_lets_its_engine_go_while_the_others_go_on(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
) -> None:
    """The group's idle windows were measured through the first configuration's runner, kept for the whole group:
    skipped for out of memory, that configuration's engine stayed alive until the group ended."""
    board = Board(FakeTime())
    workloads: list[weakref.ref[Workload]] = []
    alive: list[bool] = []  # whether the first configuration's engine lives, at each request of the second after
    requests = itertools.count()

    def on_request(engine: Any) -> None:
        first = workloads[0]()
        if first is not None and engine is first.engine:  # type: ignore[attr-defined]
            if next(requests) == 5:  # its 6th request: its first measured trial
                alive.append(True)  # from now on, it should be gone
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        elif alive:
            del first
            gc.collect()
            alive.append(workloads[0]() is not None)

    made = timed(board, on_request=on_request)

    def workload(engine: Any) -> Workload:
        wrapped = made(engine)
        workloads.append(weakref.ref(wrapped))
        return wrapped

    request = _request(tmp_path, tiny_config, precisions=("fp32",), schedule="interleaved", plan=PLAN)
    path, doc = collect(request, hooks=_hooks(board, workload=workload))
    rows = {m["batch_size"]: m for m in doc["measurements"]}
    assert rows[1]["status"] == "skipped" and "out of memory" in rows[1]["skip_reason"]
    assert rows[2]["status"] == "ok"
    assert len(alive) > 5 and not any(alive[1:])  # freed once skipped, while the second went on
    assert exit_code(validate([path], accepted_root=None)) == 0
