"""A run that fails while it measures (the GPU lost, a sampler gone, the Hub unreachable for the tokenizer)
keeps its checkpoint, and its one line says so: which checkpoint, and that the same command with --resume goes
on once the cause is fixed. The tiny model, fake board and clock are test_collector_e2e.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pynvml
import pytest
import test_collector_e2e as e2e
from fakes import Board, FakeTime, nvml_on, timed
from test_collector_e2e import _hooks, _request

from collector.collect import collect
from collector.errors import CheckpointError, CollectError
from collector.nvml import Nvml
from collector.session import Events

tiny_config, _cuda_build = e2e.tiny_config, e2e._cuda_build

TWO = {"precisions": ("fp32",), "batch_sizes": (1, 2), "engines": ("generate",), "schedule": "sequential"}


def _lost_once(board: Board, lost: list[bool]) -> Any:
    """An NVML factory whose energy counter reads as the GPU lost once ``lost[0]`` is set."""

    def factory(indices: list[int]) -> Nvml:
        nvml = nvml_on(board)(indices)
        read = nvml._nv.nvmlDeviceGetTotalEnergyConsumption.side_effect

        def energy(handle: Any) -> int:
            if lost[0]:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
            return read(handle)

        nvml._nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = energy
        return nvml

    return factory


def test_a_run_that_fails_midway_names_its_checkpoint_and_the_resume_that_goes_on(
    tmp_path: Path, tiny_config: Path
) -> None:
    """The GPU lost after the first configuration: the line said what failed, not that the finished
    configuration was kept, and the next run called the checkpoint an interrupted run's."""
    board, lost = Board(FakeTime()), [False]

    class LostAfterOne(Events):
        def config_done(self, *_: Any) -> None:
            lost[0] = True

    with pytest.raises(CollectError) as failed:
        collect(_request(tmp_path, tiny_config, **TWO), LostAfterOne(), _hooks(board, nvml=_lost_once(board, lost)))
    (checkpoint,) = (tmp_path / "repo" / ".eco-collect").glob("checkpoint-*.jsonl")
    said = str(failed.value)
    assert said.startswith("the NVML energy counter could not be read (nvmlDeviceGetTotalEnergyConsumption: GPU is ")
    assert said.endswith(
        f"; the run's checkpoint {checkpoint} keeps the configurations it finished (1): once that is fixed, rerun "
        "the same command with --resume"
    )
    assert not isinstance(failed.value, CheckpointError)
    resumed = _request(tmp_path, tiny_config, resume=True, **TWO)
    _, doc = collect(resumed, hooks=_hooks(board, workload=timed(board, first_seed=100)))  # new noise
    assert [m["batch_size"] for m in doc["measurements"]] == [1, 2] and not checkpoint.exists()


def test_a_run_that_fails_before_any_configuration_finished_leaves_no_checkpoint(
    tmp_path: Path, tiny_config: Path
) -> None:
    """Nothing finished, nothing to resume: the checkpoint the run made is removed, and the same command runs
    anew (it left a checkpoint that the next run called an interrupted run's)."""
    board, lost = Board(FakeTime()), [False]

    class LostAtTheFirstTrial(Events):
        def trial_done(self, *_: Any) -> None:
            lost[0] = True

    hooks = _hooks(board, nvml=_lost_once(board, lost))
    with pytest.raises(CollectError, match=r"nothing of this window is written$"):
        collect(_request(tmp_path, tiny_config, **TWO), LostAtTheFirstTrial(), hooks)
    assert not list((tmp_path / "repo" / ".eco-collect").glob("checkpoint-*"))
    _, doc = collect(_request(tmp_path, tiny_config, **TWO), hooks=_hooks(board))
    assert len(doc["measurements"]) == 2
