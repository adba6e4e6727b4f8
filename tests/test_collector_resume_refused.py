"""A run whose finished file eco-validate refuses keeps its measurements (the checkpoint) and the refused file
(in the state folder); a --resume builds that file again from the same measurements only where eco-validate
now accepts it (a reference row corrected, an eco-validate rule fixed), and otherwise says why in one
line, before anything is loaded. The tiny model, fake board and clock are test_collector_e2e.py's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import test_collector_e2e as e2e
from fakes import Board, FakeTime
from test_collector_e2e import _hooks, _request

from collector.collect import collect
from collector.errors import CheckpointError, CollectError
from collector.models import ModelSource
from validator.run import exit_code, validate

tiny_config, _cuda_build = e2e.tiny_config, e2e._cuda_build

BOARD = "NVIDIA H100 80GB HBM3"  # the fake NVML's board
ONE = {"precisions": ("fp32",), "batch_sizes": (1,), "engines": ("generate",), "schedule": "sequential"}


def _idle_range(tmp_path: Path, watts: list[int]) -> tuple[Path, str]:
    """Set the fake board's idle range in the test's reference tables (the fake board idles at 70 W); (the
    table, its text before) to put it back. Idle ranges are estimates, widened on evidence: a maintainer
    widens one that refuses an honest board."""
    table = tmp_path / "reference-tables" / "gpus.json"
    before = table.read_text(encoding="utf-8")
    gpus = json.loads(before)
    (row,) = [g for g in gpus["gpus"] if g["name"] == BOARD]
    row["idle_w"] = watts
    table.write_text(json.dumps(gpus), encoding="utf-8")
    return table, before


def _refused_run(tmp_path: Path, config: Path, board: Board) -> tuple[Path, Path]:
    with pytest.raises(CollectError, match=r"does not pass eco-validate .*physics\.idle_range") as refused:
        collect(_request(tmp_path, config, **ONE), hooks=_hooks(board))
    state = tmp_path / "repo" / ".eco-collect"
    (kept,) = state.glob("*.rejected.json")
    (checkpoint,) = state.glob("checkpoint-*.jsonl")
    said = str(refused.value)
    assert f"kept for inspection at {kept}" in said and str(checkpoint) in said and "--resume" in said
    return kept, checkpoint


def test_a_resume_of_a_refused_run_says_why_it_builds_nothing_until_eco_validate_accepts_the_file(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused file kept the checkpoint, and a --resume loaded the models, built the same file from the same
    measurements, was refused again and kept a second copy: the contributor learnt nothing new."""
    table, before = _idle_range(tmp_path, [80, 170])  # the board idles at 70 W
    board = Board(FakeTime())
    kept, checkpoint = _refused_run(tmp_path, tiny_config, board)
    loads: list[str] = []
    real_load = ModelSource.load

    def load(self: ModelSource, precision: str) -> Any:
        loads.append(precision)
        return real_load(self, precision)

    monkeypatch.setattr(ModelSource, "load", load)
    resumed = _request(tmp_path, tiny_config, resume=True, **ONE)
    with pytest.raises(CheckpointError) as again:
        collect(resumed, hooks=_hooks(board))
    said = str(again.value)
    assert said.startswith("--resume: this run's measurements made a file eco-validate refuses")
    assert "physics.idle_range" in said and str(kept) in said and f"delete {checkpoint}" in said
    assert loads == [] and list(kept.parent.glob("*.rejected*.json")) == [kept]  # nothing built again
    with pytest.raises(CheckpointError, match=r"^a run whose file eco-validate refused left .*: delete it"):
        collect(_request(tmp_path, tiny_config, **ONE), hooks=_hooks(board))  # not "an interrupted run"

    table.write_text(before, encoding="utf-8")  # the range widened, as a maintainer's pull request does
    notes: list[str] = []

    class Noting(e2e.Events):
        def note(self, text: str) -> None:
            notes.append(text)

    path, _ = collect(resumed, Noting(), hooks=_hooks(board))
    assert loads == []  # every configuration was measured: none is loaded again
    assert any(f"eco-validate now accepts the file it refused, kept at {kept}" in n for n in notes), notes
    assert exit_code(validate([path], accepted_root=None)) == 0 and not checkpoint.exists()
    assert kept.exists()  # the refused copy is the contributor's to delete
