"""Attack v26: downgrade and version relabels. A file eco-collect 0.6.0 wrote, relabelled as an older
release of the same schema (0.4.0 and 0.5.0 write 1.5.0 too), must still be a file that older release
could have written: the leniencies kept for 0.1.0-0.5.0 files do not extend to shapes only 0.6.0 writes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import test_collector_power_integration as pi
from fakes import Board, FakeTime

from collector.collect import collect

tiny_config, _cuda_build = pi.tiny_config, pi._cuda_build  # the end-to-end tests' fixtures


def test_a_0_6_0_power_integration_file_relabelled_0_5_0_keeps_no_per_board_energies(
    tmp_path: Path, tiny_config: Path
) -> None:
    """eco-collect 0.1.0-0.5.0 without an energy counter wrote the trial's energy as the one per-GPU energy
    (collector/runner.py ``(window.energy_j,)`` in every release before 9bcf342), so a 0.5.0 label on
    0.6.0's per-board energies names a file no release wrote, and took 0.5.0's leniency of per-GPU idles that
    need not sum to the total: idles made up here (10 % below what the boards drew) were accepted."""
    board = Board(FakeTime())
    sampled = pi.NvmlSampler(board, gpus=2, other_w=60.0)
    request = pi._request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,), gpus=(0, 1))
    _, doc = collect(request, hooks=pi._hooks(board, nvml=sampled.nvml, sampler=sampled))
    doc = json.loads(json.dumps(doc))
    assert pi._codes(doc) == set() and len(doc["measurements"][0]["trials"][0]["energy_per_gpu_j"]) == 2
    relabelled = copy.deepcopy(doc)
    relabelled["collector"]["version"] = "0.5.0"
    idle = relabelled["measurements"][0]["idle"]
    for name in ("power_per_gpu_before_w", "power_per_gpu_after_w"):
        idle[name] = [w * 0.9 for w in idle[name]]
    assert "physics.per_gpu_sum" in pi._codes(relabelled)
    as_written = copy.deepcopy(relabelled)  # under its own label the made-up idles are refused
    as_written["collector"]["version"] = "0.6.0"
    assert "protocol.placement" in pi._codes(as_written)
    # the file 0.5.0 wrote from the same readings stays valid (test_collector_power_integration's own)
    assert pi._codes(json.loads(json.dumps(pi._as_written_by_0_5_0(doc, sampled)))) == set()
