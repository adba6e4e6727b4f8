"""What eco-validate would refuse in any file of this machine (the board unknown to the reference tables or
contradicting them, a driver or package it refuses, text a file may not hold) is refused before anything is
measured, in one line: it was found only when the finished file was checked, after the whole run. The tiny
model, fake board and clock are test_collector_e2e.py's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pynvml
import pytest
import test_collector_e2e as e2e
from fakes import Board, FakeTime, nvml_on
from test_collector_e2e import _hooks, _request

from collector import preflight
from collector.collect import collect
from collector.errors import CollectError
from collector.nvml import Nvml

tiny_config, _cuda_build = e2e.tiny_config, e2e._cuda_build

ONE = {"precisions": ("fp32",), "batch_sizes": (1,), "engines": ("generate",), "schedule": "sequential"}


def _board_reads(**reads: Any) -> Any:
    """An NVML factory on a fresh fake board whose named functions return (or raise) as given."""
    board = Board(FakeTime())

    def factory(indices: list[int]) -> Nvml:
        nvml = nvml_on(board)(indices)
        for name, value in reads.items():
            fn = getattr(nvml._nv, name)
            if isinstance(value, BaseException):
                fn.side_effect = value
            else:
                fn.side_effect, fn.return_value = None, value
        return nvml

    return board, factory


CASES = {
    "a board the tables lack": (
        {"nvmlDeviceGetName": "NVIDIA H100 80GB HBM9"},
        "reference.unknown_gpu /environment/gpu/name: 'NVIDIA H100 80GB HBM9' is not in the GPU table",
    ),
    # nvidia-ml-py older than the board's architecture, or a driver refusing the query: the whole run, then this
    "an architecture NVML does not name": (
        {"nvmlDeviceGetArchitecture": pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)},
        "reference.gpu_mismatch /environment/gpu: NVIDIA H100 80GB HBM3: architecture 'unknown-arch--1'",
    ),
    "a driver too old for the board": (
        {"nvmlSystemGetDriverVersion": "450.51.06", "nvmlSystemGetNVMLVersion": "11.450.51.06"},
        "provenance.driver_cuda /environment/driver",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_what_eco_validate_refuses_in_any_file_of_this_machine_is_refused_before_measuring(
    tmp_path: Path, tiny_config: Path, case: str
) -> None:
    reads, said = CASES[case]
    board, factory = _board_reads(**reads)
    with pytest.raises(CollectError) as refused:
        collect(_request(tmp_path, tiny_config, **ONE), hooks=_hooks(board, nvml=factory))
    line = str(refused.value)
    assert line.startswith("eco-validate refuses every file of this machine as it stands (") and said in line, line
    assert line.endswith("; nothing measured")
    assert board.time.now() < 1003.0  # the counter's probe at most: no idle window, no trial
    state = tmp_path / "repo" / ".eco-collect"
    assert not list(state.glob("checkpoint-*")) and not list(state.glob("*.rejected*"))


def test_a_protocol_no_eco_collect_release_writes_is_refused_before_measuring(
    tmp_path: Path, tiny_config: Path
) -> None:
    """The library entry takes a seed for random weights' prompt ids that no command-line option sets: eco-validate
    refuses any other than 0 (the protocol is fixed before the run, as the machine is)."""
    board = Board(FakeTime())
    with pytest.raises(CollectError, match=r"^eco-validate refuses every file .*/protocol/prompt.*; nothing measured$"):
        collect(_request(tmp_path, tiny_config, seed=1, **ONE), hooks=_hooks(board))
    assert board.time.now() < 1003.0 and not list((tmp_path / "repo" / ".eco-collect").glob("checkpoint-*"))


def test_the_provisional_file_of_a_sound_machine_passes_every_check(tmp_path: Path, tiny_config: Path) -> None:
    """The file preflight judges holds each requested configuration as not yet measured: were it refused for
    itself (its schema, say), eco-validate would stop there and judge the machine not at all."""
    from validator.check import check_document

    seen: list[dict[str, Any]] = []
    real = preflight.provisional

    def keep(*args: Any, **kw: Any) -> dict[str, Any]:
        seen.append(real(*args, **kw))
        return seen[-1]

    with pytest.MonkeyPatch.context() as m:
        m.setattr(preflight, "provisional", keep)
        collect(_request(tmp_path, tiny_config, **ONE), hooks=_hooks())
    (doc,) = seen
    assert check_document(json.loads(json.dumps(doc)), f"{doc['submission_id']}.json") == []
