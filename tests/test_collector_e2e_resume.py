"""eco-collect end to end on the CPU, interrupted and resumed: only what is missing is measured, the resumed
trials start after the checkpointed ones when the wall clock stepped back, and a resumed run keeps the first
session's interleaving. The tiny model, fake board and clock are test_collector_e2e.py's."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import test_collector_e2e as e2e
import torch
from fakes import Board, FakeTime, noisy, nvml_on, timed
from test_collector_e2e import EPOCH, _hooks, _request

from collector.collect import collect
from collector.errors import CheckpointError
from collector.request import TrialPlan
from ecocompute.gates import Gates
from validator.check import check_data
from validator.run import exit_code, validate

# test_collector_e2e's fixtures, found here by name: the tiny model's config, and CUDA's build faked for every
# test (autouse). Bound by assignment, not imported, so that a test's parameter of the same name redefines nothing.
tiny_config, _cuda_build = e2e.tiny_config, e2e._cuda_build


def test_resume_after_the_wall_clock_stepped_back(tmp_path: Path, tiny_config: Path) -> None:
    """NTP steps the wall clock back 30 s while the user re-runs at once: the resumed trials still
    start after the checkpointed ones (eco-validate refuses trials of one board that overlap)."""
    board = Board(FakeTime())
    step = [0.0]

    def wall() -> datetime:
        return EPOCH + timedelta(seconds=board.time.now() + step[0])

    def interrupting(engine: Any) -> None:
        if f"{engine.decoding.model.dtype}/{engine.decoding.batch_size}" == "torch.bfloat16/2":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect(
            _request(tmp_path, tiny_config, schedule="sequential"),
            hooks=_hooks(board, workload=timed(board, on_request=interrupting), wall_clock=wall),
        )
    board.time.sleep(2.0)
    step[0] = -30.0
    resumed = _request(tmp_path, tiny_config, resume=True, schedule="sequential")
    path, doc = collect(resumed, hooks=_hooks(board, wall_clock=wall, workload=timed(board, first_seed=100)))
    assert exit_code(validate([path], accepted_root=None)) == 0
    spans = sorted(
        (t["started_at_s"], t["started_at_s"] + t["duration_s"]) for m in doc["measurements"] for t in m["trials"]
    )
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


# The protocol's idle windows (5 s), off the whole second: a window of whole seconds of fake time over whole-mJ
# counters gives baselines on a grid eco-validate takes for typed ones (fabrication.too_regular).
FIVE_S_WINDOWS = TrialPlan(trial_min_s=1.0, idle_window_s=5.0001234, max_config_s=60.0, gates=Gates(max_trials=10))


def test_resumed_after_the_wall_clock_stepped_back_the_next_row_follows_the_idle_window_after(
    tmp_path: Path, tiny_config: Path
) -> None:
    """The clock stepped back 30 s (NTP) between the interrupt and the resume: the resumed configuration's idle
    window and trials came 1 s after the last checkpointed trial, inside the idle window measured after it, and
    eco-validate refused the whole run (protocol.session_time: two idle windows lie between two configurations
    measured one after the other; fphunt3 F2). With 1-s idle windows that rule leaves no gap to judge."""
    board = Board(FakeTime())
    step = [0.0]

    def wall() -> datetime:
        return EPOCH + timedelta(seconds=board.time.now() + step[0])

    def interrupting(engine: Any) -> None:
        if f"{engine.decoding.model.dtype}/{engine.decoding.batch_size}" == "torch.bfloat16/2":
            raise KeyboardInterrupt

    sequential = _request(tmp_path, tiny_config, schedule="sequential", plan=FIVE_S_WINDOWS)
    with pytest.raises(KeyboardInterrupt):
        collect(sequential, hooks=_hooks(board, workload=timed(board, on_request=interrupting), wall_clock=wall))
    board.time.sleep(2.0)
    step[0] = -30.0
    resumed = _request(tmp_path, tiny_config, resume=True, schedule="sequential", plan=FIVE_S_WINDOWS)
    path, doc = collect(resumed, hooks=_hooks(board, wall_clock=wall, workload=timed(board, first_seed=100)))
    assert not validate([path], accepted_root=None).findings
    last_end = max(t["started_at_s"] + t["duration_s"] for m in doc["measurements"][:3] for t in m["trials"])
    first_new = doc["measurements"][3]["trials"][0]["started_at_s"]
    assert first_new >= last_end + 2 * FIVE_S_WINDOWS.idle_window_s  # its idle after, then the new one's before


def test_resumed_before_any_configuration_finished_after_the_clock_stepped_back_no_trial_starts_before_zero(
    tmp_path: Path, tiny_config: Path
) -> None:
    """Interrupted before a configuration finished, and resumed once NTP had set the clock back by more than the
    run had lasted: the session's clock began below zero, and every trial's start was negative, which the schema
    refuses (fphunt3 F3)."""
    board = Board(FakeTime())
    step = [0.0]

    def wall() -> datetime:
        return EPOCH + timedelta(seconds=board.time.now() + step[0])

    requests = itertools.count()

    def interrupting(engine: Any) -> None:
        if next(requests) == 12:  # in the first configuration's trials
            raise KeyboardInterrupt

    sequential = _request(tmp_path, tiny_config, schedule="sequential", plan=FIVE_S_WINDOWS)
    with pytest.raises(KeyboardInterrupt):
        collect(sequential, hooks=_hooks(board, workload=timed(board, on_request=interrupting), wall_clock=wall))
    step[0] = -900.0  # a fresh VM's clock 15 min ahead at the start, set right before the resume
    resumed = _request(tmp_path, tiny_config, resume=True, schedule="sequential", plan=FIVE_S_WINDOWS)
    path, doc = collect(resumed, hooks=_hooks(board, wall_clock=wall, workload=timed(board, first_seed=100)))
    assert exit_code(validate([path], accepted_root=None)) == 0
    assert min(t["started_at_s"] for m in doc["measurements"] for t in m["trials"]) >= FIVE_S_WINDOWS.idle_window_s


def test_interrupt_then_resume_measures_only_what_is_missing(tmp_path: Path, tiny_config: Path) -> None:
    calls: list[str] = []

    def label(engine: Any) -> str:
        return f"{engine.decoding.model.dtype}/{engine.decoding.batch_size}"

    def interrupting(engine: Any) -> None:
        calls.append(label(engine))
        if label(engine) == "torch.bfloat16/2":
            raise KeyboardInterrupt

    board = Board(FakeTime())
    sequential = _request(tmp_path, tiny_config, schedule="sequential")
    with pytest.raises(KeyboardInterrupt):
        collect(sequential, hooks=_hooks(board, workload=timed(board, on_request=interrupting)))
    assert not list((tmp_path / "repo" / "submissions").rglob("*.json"))  # nothing looks complete
    (checkpoint,) = (tmp_path / "repo" / ".eco-collect").glob("checkpoint-*.jsonl")
    assert len(checkpoint.read_text().splitlines()) == 1 + 3

    with pytest.raises(CheckpointError, match="--resume"):
        collect(sequential, hooks=_hooks(board))
    other_batches = _request(tmp_path, tiny_config, resume=True, schedule="sequential", batch_sizes=(1,))
    with pytest.raises(CheckpointError, match=rf"holds other runs' \(1: {checkpoint.name}\): a run resumes on the GPU"):
        collect(other_batches, hooks=_hooks(board))  # another run's key: as on another board, after a move

    calls.clear()
    board.time.sleep(3600.0)  # an hour later
    resumed = _request(tmp_path, tiny_config, resume=True, schedule="sequential")
    resumed_workload = timed(board, on_request=lambda e: calls.append(label(e)), first_seed=100)  # new noise
    path, doc = collect(resumed, hooks=_hooks(board, workload=resumed_workload))
    assert set(calls) == {"torch.bfloat16/2"}  # only the configuration that was never finished
    assert len(doc["measurements"]) == 4
    assert doc["session"]["wall_s"] > 3600.0  # the run's wall time, interruption included
    assert not list((tmp_path / "repo" / ".eco-collect").glob("checkpoint-*"))
    assert exit_code(validate([path], accepted_root=None)) == 0


def test_a_resumed_run_whose_first_session_interleaved_says_so(tmp_path: Path, tiny_config: Path) -> None:
    """--schedule auto decides again in the resumed session: with too little free memory there (another
    process on the board) it measured the rest one after another and wrote interleaved: false over the
    first session's alternating rows, a file eco-validate refuses (review 21)."""
    board = Board(FakeTime())
    seeds = itertools.count(1)

    def durations(engine: Any) -> Iterator[float]:  # bf16 spreads: fp32 finishes first, bf16 is interrupted
        return noisy(0.06 if engine.decoding.model.dtype == torch.bfloat16 else 0.002, seed=next(seeds))

    def interrupting(engine: Any) -> None:
        if (engine.decoding.model.dtype, engine.decoding.batch_size) == (torch.bfloat16, 2) and next(requests) >= 20:
            raise KeyboardInterrupt

    requests = itertools.count()
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=5.0, max_config_s=600.0, gates=Gates(max_trials=12))
    with pytest.raises(KeyboardInterrupt):
        collect(
            _request(tmp_path, tiny_config, plan=plan),
            hooks=_hooks(board, workload=timed(board, durations, interrupting)),
        )

    def crowded(indices: list[int]) -> Any:
        nvml = nvml_on(board)(indices)
        nvml._nv.nvmlDeviceGetMemoryInfo.return_value = SimpleNamespace(total=80 * 2**30, free=1024)
        return nvml

    resumed = _request(tmp_path, tiny_config, plan=plan, resume=True)
    path, doc = collect(resumed, hooks=_hooks(board, nvml=crowded, workload=timed(board, first_seed=100)))
    assert [m["status"] for m in doc["measurements"]] == ["ok"] * 4
    assert any("not interleaved" in n for n in doc["measurements"][2]["notes"])  # this session's choice
    assert doc["protocol"]["interleaved"] is True
    assert exit_code(validate([path], accepted_root=None)) == 0
    # As eco-collect 0.1.0-0.5.0 labelled it: interleaved: false, which the note excuses since the rows that
    # carry it (this session's) do not alternate, and those that alternate (the first session's) lack it.
    assert not any("not interleaved" in n for m in doc["measurements"][:2] for n in m["notes"])
    old = copy.deepcopy(doc)
    old["collector"]["version"], old["protocol"]["interleaved"] = "0.5.0", False
    assert not [f for f in check_data(old, "resumed.json").findings if f.severity == "error"]


def test_a_resumed_run_whose_first_session_finished_one_interleaved_row_is_accepted(
    tmp_path: Path, tiny_config: Path
) -> None:
    """--schedule auto interleaved four configurations; fp32 at batch 1 passed its gates, then the run was
    interrupted. Resumed with too little free memory to interleave, the other three are measured one after another
    and the file says interleaved: false (the first session's one row alternates with none). That row's trials stand
    apart by its round-mates' left out, each gap a trial or more: eco-validate refused the file as
    protocol.trial_gap (review42), and eco-collect kept it, refused, at its end."""
    board = Board(FakeTime())
    seeds = itertools.count(1)
    checkpoints = tmp_path / "repo" / ".eco-collect"

    def durations(engine: Any) -> Iterator[float]:  # the others spread: fp32 at batch 1 finishes first
        steady = (engine.decoding.model.dtype, engine.decoding.batch_size) == (torch.float32, 1)
        return noisy(0.002 if steady else 0.2, seed=next(seeds))

    def interrupting(engine: Any) -> None:
        if sum(len(c.read_text().splitlines()) for c in checkpoints.glob("checkpoint-*.jsonl")) > 1:
            raise KeyboardInterrupt  # a configuration is in the checkpoint: fp32 at batch 1

    plan = TrialPlan(trial_min_s=1.0, idle_window_s=5.0, max_config_s=600.0, gates=Gates(max_trials=12))
    with pytest.raises(KeyboardInterrupt):
        collect(
            _request(tmp_path, tiny_config, plan=plan),
            hooks=_hooks(board, workload=timed(board, durations, interrupting)),
        )

    def crowded(indices: list[int]) -> Any:
        nvml = nvml_on(board)(indices)
        nvml._nv.nvmlDeviceGetMemoryInfo.return_value = SimpleNamespace(total=80 * 2**30, free=1024)
        return nvml

    resumed = _request(tmp_path, tiny_config, plan=plan, resume=True)
    path, doc = collect(resumed, hooks=_hooks(board, nvml=crowded, workload=timed(board, first_seed=100)))
    first, *rest = doc["measurements"]
    assert doc["protocol"]["interleaved"] is False
    assert not any("not interleaved" in n for n in first["notes"])  # the first session's row
    assert all(any("not interleaved" in n for n in m["notes"]) for m in rest)  # the resumed session's
    starts = [t["started_at_s"] for t in first["trials"]]
    ends = [t["started_at_s"] + t["duration_s"] for t in first["trials"]]
    gaps = [b - a for a, b in zip(ends, starts[1:], strict=False)]
    assert sum(gap > 0.9 for gap in gaps) > len(gaps) / 2  # most hold round-mates' trials left out
    assert exit_code(validate([path], accepted_root=None)) == 0
