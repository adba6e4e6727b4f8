"""eco-collect's random weights end to end on the CPU: a checkpoint the disk cannot hold is refused before
writing, an unused one from another device or release is named in the run's log, and weights too large for the
GPU are drawn in host memory. The tiny model, fake board and clock are test_collector_e2e.py's; the random
checkpoint's own rules, test_collector_random_checkpoint.py's."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_collector_e2e as e2e
import torch
from test_collector_e2e import _hooks, _request

from collector.collect import collect
from collector.errors import CollectError
from collector.models import ModelSource
from collector.session import Events

# test_collector_e2e's fixtures, found here by name: the tiny model's config, and CUDA's build faked for every
# test (autouse). Bound by assignment, not imported, so that a test's parameter of the same name redefines nothing.
tiny_config, _cuda_build = e2e.tiny_config, e2e._cuda_build


def _tiny_source(tmp_path: Path, tiny_config: Path) -> ModelSource:
    return ModelSource(
        "tiny-org/tiny-llama", weights="random", revision=None, device="cpu", cache_dir=tmp_path / "models",
        config_path=tiny_config,
    )  # fmt: skip


def test_a_random_checkpoint_the_disk_cannot_hold_is_refused_before_writing(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from collector import models

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(models.shutil, "disk_usage", lambda _p: usage._replace(free=2**30 + 1000))
    source = _tiny_source(tmp_path, tiny_config)
    with pytest.raises(
        CollectError, match=r"random fp16 checkpoint of tiny-org/tiny-llama needs about 1 GB in .*models"
    ):
        source.load("fp32")
    # nothing written but the (empty) lock file: the space is checked under it, when this run saves
    assert [p.name for p in (tmp_path / "models").iterdir()] == [".random-tiny-org_tiny-llama-seed0-fp16-cpu.lock"]


def test_the_note_on_an_unused_random_checkpoint_reaches_the_runs_log(tmp_path: Path, tiny_config: Path) -> None:
    class Notes(Events):
        def __init__(self) -> None:
            self.notes: list[str] = []

        def note(self, text: str) -> None:
            self.notes.append(text)

    request = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,))
    old = request.state_dir / "models" / "random-tiny-org_tiny-llama-seed0"  # as eco-collect 0.6.0 named it
    old.mkdir(parents=True)
    (old / "model.safetensors").write_bytes(b"\0" * 1000)
    events = Notes()
    collect(request, events, hooks=_hooks())
    assert [n for n in events.notes if str(old) in n] == [
        "drawing the random weights of tiny-org/tiny-llama (seed 0) into random-tiny-org_tiny-llama-seed0-fp16-cpu: "
        f"{old} (1,000 bytes) holds this model and seed drawn on another device or by an older eco-collect and is not "
        "used: it can be deleted to free its space"
    ]
    assert (old / "model.safetensors").exists()


def test_random_weights_too_large_for_the_gpu_are_drawn_in_host_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from collector import models

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda _d=None: (10 * 2**30, 80 * 2**30))
    monkeypatch.setattr(models.hostinfo, "ram_available_bytes", lambda: 200 * 2**30)
    assert models.build_device("cuda:0", 145 * 10**9) == "cpu"  # a 72B model, 10 GiB free on the GPU
    assert models.build_device("cuda:0", 1 * 10**9) == "cuda:0"
    models.check_memory("big/model", "cuda:0", "cpu", 145 * 10**9)
    monkeypatch.setattr(models.hostinfo, "ram_available_bytes", lambda: 100 * 2**30)
    with pytest.raises(CollectError, match=r"fit neither on cuda:0 nor in the 107 GB of available host memory"):
        models.check_memory("big/model", "cuda:0", "cpu", 145 * 10**9)
