"""Two eco-collect runs at once on one board measure each other's work: CI refuses both files
(duplicate.gpu_time), and each run passed its own check. The second is refused before it measures, while the
first goes on. Two runs on two boards of one model that finish in the same second take ids of the same second:
the second waited for the next second rather than failing at its end. The tiny model, fake board and clock are
test_collector_e2e.py's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import test_collector_e2e as e2e
from fakes import Board, FakeTime, nvml_on, timed
from test_collector_e2e import _hooks, _request

from collector.collect import collect
from collector.errors import CollectError
from collector.nvml import Nvml
from validator.run import exit_code, validate

tiny_config, _cuda_build = e2e.tiny_config, e2e._cuda_build

ONE = {"precisions": ("fp32",), "batch_sizes": (1,), "engines": ("generate",), "schedule": "sequential"}


def test_a_second_run_on_a_board_another_run_measures_is_refused_before_it_measures(
    tmp_path: Path, tiny_config: Path
) -> None:
    board, second = Board(FakeTime()), Board(FakeTime())
    refused: list[str] = []
    opened: list[Nvml] = []

    def watched(indices: list[int]) -> Nvml:
        opened.append(nvml_on(second)(indices))
        return opened[-1]

    def start_another(_engine: Any) -> None:
        if refused:
            return
        other = _request(tmp_path / "other", tiny_config, precisions=("bf16",), batch_sizes=(1,), engines=("generate",))
        with pytest.raises(CollectError) as caught:
            collect(other, hooks=_hooks(second, nvml=watched))
        refused.append(str(caught.value))

    first = _request(tmp_path, tiny_config, **ONE)
    path, _ = collect(first, hooks=_hooks(board, workload=timed(board, on_request=start_another)))
    assert exit_code(validate([path], accepted_root=None)) == 0  # the first run went on
    (line,) = refused
    assert line.startswith("another eco-collect on this machine is measuring GPU 0 now")
    assert line.endswith("; nothing measured")
    assert second.time.now() < 1003.0 and not list((tmp_path / "other").rglob("checkpoint-*"))
    # refused before it read the board: its counter's probe polled the measured board's NVML for 2 s at 200 Hz
    (nvml,) = opened
    reads = ("nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetFieldValues", "nvmlDeviceGetPowerUsage")
    assert [getattr(nvml._nv, name).call_count for name in reads] == [0, 0, 0]
    collect(_request(tmp_path / "other", tiny_config, **ONE), hooks=_hooks(second))  # once the first has ended


def test_two_runs_that_end_in_the_same_second_both_write_their_file(tmp_path: Path, tiny_config: Path) -> None:
    """Two boards of one model measured by two runs into one folder: the ids are <handle>-<board>-<second>."""
    taken, _ = collect(_request(tmp_path / "a", tiny_config, **ONE), hooks=_hooks())
    mine = tmp_path / "repo" / "submissions" / "tester" / taken.name
    mine.parent.mkdir(parents=True)
    shutil.copyfile(taken, mine)  # the other run's file, written in the very second this run ends
    path, doc = collect(_request(tmp_path, tiny_config, **ONE), hooks=_hooks())
    assert path != mine and path.parent == mine.parent and mine.read_bytes() == taken.read_bytes()
    assert doc["created_at"] > json_created_at(taken)
    assert exit_code(validate([path], accepted_root=None)) == 0


def json_created_at(path: Path) -> str:
    import json

    return str(json.loads(path.read_text(encoding="utf-8"))["created_at"])
