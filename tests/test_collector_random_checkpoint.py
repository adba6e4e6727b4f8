"""The random fp16 checkpoint that runs on one host share (one run per GPU, same model): each saves
into a folder of its own, marked complete last and renamed into place; one waits while another saves;
a folder without a valid marker is never loaded, and nothing the tool did not make is deleted."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import transformers
from fakes import register_test_model
from transformers import LlamaConfig

from collector import randomweights
from collector.errors import CollectError
from collector.models import ModelSource

NAME = "random-tiny-org_tiny-llama-seed0"


@pytest.fixture
def tiny_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tiny-config"
    config = LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        vocab_size=128, max_position_embeddings=256,
    )  # fmt: skip
    config.save_pretrained(folder)
    register_test_model(monkeypatch, tmp_path, "tiny-org/tiny-llama", "llama", config)
    return folder


def _source(cache: Path, config: Path, **kw: Any) -> ModelSource:
    return ModelSource(
        "tiny-org/tiny-llama", weights="random", revision=None, device="cpu", cache_dir=cache, config_path=config, **kw
    )


def _pause_first_save(monkeypatch: pytest.MonkeyPatch, during: Any) -> list[str]:
    """The first save_pretrained calls ``during()`` once its files are written, before it returns (a
    large model still saving); returns the folders saved into."""
    real = transformers.PreTrainedModel.save_pretrained
    saved: list[str] = []

    def save(self: Any, folder: Any, *args: Any, **kwargs: Any) -> None:
        real(self, folder, *args, **kwargs)
        saved.append(str(folder))
        if len(saved) == 1:
            during()

    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", save)
    return saved


def _without_flock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The save's lock as where flock does not exist (it yields False: not held)."""

    @contextlib.contextmanager
    def no_lock(_target: Path) -> Iterator[bool]:
        yield False

    monkeypatch.setattr(randomweights, "_lock", no_lock)


def _other_run(cache: Path, config: Path, second: dict[str, Any]) -> threading.Thread:
    """A second run's thread (not started) asking for the same random checkpoint: ``second["dir"]`` gets
    the folder it returns, or the exception it raised (reported by the caller's assertions)."""

    def run() -> None:
        try:
            second["dir"] = _source(cache, config)._random_checkpoint()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            second["dir"] = exc

    return threading.Thread(target=run)


def test_a_run_starting_while_another_saves_waits_and_loads_the_same_whole_checkpoint(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "models"
    second: dict[str, Any] = {}

    thread = _other_run(cache, tiny_config, second)

    def during() -> None:
        thread.start()
        thread.join(0.3)
        second["waited"] = thread.is_alive()  # the old code deleted this save and made its own meanwhile

    saved = _pause_first_save(monkeypatch, during)
    first = _source(cache, tiny_config)._random_checkpoint()
    thread.join(10)
    assert second["waited"] and second["dir"] == first and len(saved) == 1
    assert randomweights.complete(first)
    assert sorted(p.name for p in cache.iterdir()) == [f".{first.name}.lock", first.name]
    _source(cache, tiny_config).load("fp32")


def test_without_a_lock_the_loser_of_the_rename_keeps_the_winners_checkpoint(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where flock does not exist both runs save; the one renaming second checks the first's folder,
    keeps it, and removes only its own private folder."""

    _without_flock(monkeypatch)
    cache = tmp_path / "models"
    second: dict[str, Any] = {}
    saved = _pause_first_save(monkeypatch, lambda: second.update(dir=_source(cache, tiny_config)._random_checkpoint()))
    first = _source(cache, tiny_config)._random_checkpoint()
    assert second["dir"] == first and len(saved) == 2 and saved[0] != saved[1]
    assert [p.name for p in cache.iterdir()] == [first.name] and randomweights.complete(first)


def test_a_half_written_folder_an_older_run_renamed_into_place_is_never_loaded(
    tmp_path: Path, tiny_config: Path
) -> None:
    """The old shared save let one run rename another's half-written save into place: that folder
    (unmarked, its weights cut short) is neither loaded nor deleted."""
    whole = _source(tmp_path / "elsewhere", tiny_config)._random_checkpoint()
    cache = tmp_path / "models"
    old = cache / NAME
    old.mkdir(parents=True)
    for path in whole.iterdir():
        if path.name != randomweights.MARKER:
            data = path.read_bytes()
            (old / path.name).write_bytes(data[: len(data) // 2] if path.suffix == ".safetensors" else data)
    (cache / f"{NAME}.partial").mkdir()  # another run's save in progress, as the old code named it
    (cache / f"{NAME}.partial" / "config.json").write_text("{}")
    _source(cache, tiny_config).load("fp32")
    assert (old / "model.safetensors").exists() and (cache / f"{NAME}.partial" / "config.json").exists()


@pytest.mark.parametrize(
    "marker",
    [None, "{", {"files": {}}, {"files": {"model.safetensors": 1}}, {"files": {"../model.safetensors": 0}}],
    ids=["none", "torn", "empty", "wrong-size", "outside"],
)
def test_a_folder_at_the_target_without_a_valid_marker_is_refused_and_kept(
    tmp_path: Path, tiny_config: Path, marker: Any
) -> None:
    target = tmp_path / "models" / f"{NAME}-fp16-cpu"
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"\0" * 16)
    (tmp_path / "models" / "model.safetensors").write_bytes(b"")
    if marker is not None:
        (target / randomweights.MARKER).write_text(marker if isinstance(marker, str) else json.dumps(marker))
    with pytest.raises(CollectError, match=r"exists but is not a complete random checkpoint .* remove it"):
        _source(tmp_path / "models", tiny_config).load("fp32")
    assert (target / "model.safetensors").read_bytes() == b"\0" * 16


def test_the_private_folders_of_killed_saves_are_removed_and_nothing_else(tmp_path: Path, tiny_config: Path) -> None:
    cache = tmp_path / "models"
    cache.mkdir()
    killed = cache / f".{NAME}-fp16-cpu.k1ll3d_x.partial"
    killed.mkdir()
    (killed / "model.safetensors").write_bytes(b"half")
    kept = [cache / f".{NAME}-fp16-cpu.notours.partial", cache / f".{NAME}-fp16-cpu.abcdefgh.partial.x"]
    for path in kept:
        path.mkdir()
    link = cache / f".{NAME}-fp16-cpu.l1nk0000.partial"
    link.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep").write_text("x")
    _source(cache, tiny_config)._random_checkpoint()
    assert not killed.exists() and all(p.is_dir() for p in kept) and (tmp_path / "elsewhere" / "keep").exists()


def _returns_within(fn: Any, seconds: float = 5.0) -> list[Any]:
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    worker.start()
    worker.join(seconds)
    return out


def test_a_marker_that_is_a_fifo_a_link_or_huge_is_no_marker(tmp_path: Path) -> None:
    """The marker is read as every small file the tools read (ecocompute.smallfile): a FIFO in its place
    blocked the check for ever (read_text waits for a writer), a link was followed, a huge one read whole."""
    import os

    folder = tmp_path / NAME
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"x" * 10)
    good = json.dumps({"files": {"model.safetensors": 10}})
    os.mkfifo(folder / randomweights.MARKER)
    try:
        assert _returns_within(lambda: randomweights.complete(folder)) == [False]
    finally:
        with contextlib.suppress(OSError):  # unblock a reader still waiting (the old code)
            os.close(os.open(folder / randomweights.MARKER, os.O_WRONLY | os.O_NONBLOCK))
    (folder / randomweights.MARKER).unlink()
    (tmp_path / "elsewhere.json").write_text(good, encoding="utf-8")
    (folder / randomweights.MARKER).symlink_to(tmp_path / "elsewhere.json")
    assert not randomweights.complete(folder)
    (folder / randomweights.MARKER).unlink()
    (folder / randomweights.MARKER).write_text(good + " " * randomweights.MARKER_MAX_BYTES, encoding="utf-8")
    assert not randomweights.complete(folder)
    (folder / randomweights.MARKER).write_text(good, encoding="utf-8")
    assert randomweights.complete(folder)


def test_a_save_without_the_lock_is_never_removed_by_a_run_holding_it(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save that cannot take the lock (its lock file another user's, in a shared state folder) runs
    unlocked; a run that holds the lock meanwhile took its live private folder for a killed save's and
    removed it (the old docstring: "every live save holds the lock")."""
    real_lock = randomweights._lock

    _without_flock(monkeypatch)
    cache = tmp_path / "models"
    second: dict[str, Any] = {}

    def during() -> None:  # the other run's flock works: it removes the private folders of killed saves
        monkeypatch.setattr(randomweights, "_lock", real_lock)
        second["dir"] = _source(cache, tiny_config)._random_checkpoint()

    saved = _pause_first_save(monkeypatch, during)
    first = _source(cache, tiny_config)._random_checkpoint()  # the old code: FileNotFoundError, its folder gone
    assert second["dir"] == first and len(saved) == 2 and saved[0].endswith(".nolock.partial")
    assert sorted(p.name for p in cache.iterdir()) == [f".{first.name}.lock", first.name]
    assert randomweights.complete(first)


def test_a_run_waiting_for_another_runs_save_is_not_refused_for_the_disk_that_save_fills(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The space is checked under the lock, when this run saves: the old code checked it before waiting,
    and refused a run that would only have loaded the checkpoint the other run was writing."""
    from collector import models

    cache = tmp_path / "models"
    usage = shutil.disk_usage(tmp_path)
    second: dict[str, Any] = {}

    thread = _other_run(cache, tiny_config, second)

    def during() -> None:  # the first save has filled the disk
        monkeypatch.setattr(models.shutil, "disk_usage", lambda _p: usage._replace(free=2**30 + 1000))
        thread.start()
        thread.join(0.3)

    saved = _pause_first_save(monkeypatch, during)
    first = _source(cache, tiny_config)._random_checkpoint()
    thread.join(10)
    assert second["dir"] == first and len(saved) == 1


def _cuda(monkeypatch: pytest.MonkeyPatch, free: int, sms: int = 132) -> None:
    """A CUDA board of ``sms`` multiprocessors (2,048 threads each) with ``free`` bytes free."""
    props = SimpleNamespace(multi_processor_count=sms, max_threads_per_multi_processor=2048)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda _d=None: props)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda _d=None: (free, 80 * 2**30))


def test_weights_drawn_on_a_gpu_are_kept_apart_from_those_drawn_on_the_cpu(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One seed draws other weights on a GPU (Philox, its grid set by the board's multiprocessors) than on
    the CPU (mt19937): the old folder name said neither, so a run on a GPU loaded the CPU's draw, or the
    other way round, whichever was saved first."""
    from collector import models

    cache = tmp_path / "models"
    on_cpu = _source(cache, tiny_config)._random_checkpoint()
    gpu = ModelSource(
        "tiny-org/tiny-llama",
        weights="random",
        revision=None,
        device="cuda:0",
        cache_dir=cache,
        config_path=tiny_config,
    )
    saves: list[str] = []
    monkeypatch.setattr(randomweights, "save", lambda target, *_: saves.append(target.name) or target)
    _cuda(monkeypatch, free=10 * 2**30)
    assert gpu._random_checkpoint() != on_cpu  # the old code loaded the CPU's draw
    assert saves == [f"{NAME}-fp16-cuda-132sm-2048threads"]
    assert on_cpu.name == f"{NAME}-fp16-cpu"
    _cuda(monkeypatch, free=10 * 2**30, sms=108)
    assert models.draw_label("cuda:0") == "cuda-108sm-2048threads"  # another board, another grid


def test_a_gpu_short_of_memory_loads_its_kinds_draw_or_draws_on_the_cpu(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "models"
    on_cpu = _source(cache, tiny_config)._random_checkpoint()

    def gpu() -> Path:
        return ModelSource(
            "tiny-org/tiny-llama", weights="random", revision=None, device="cuda:0", cache_dir=cache,
            config_path=tiny_config,
        )._random_checkpoint()  # fmt: skip

    _cuda(monkeypatch, free=0)  # it would be drawn on the CPU: the CPU's draw, saved already
    assert gpu() == on_cpu
    drawn = cache / f"{NAME}-fp16-cuda-132sm-2048threads"
    shutil.copytree(on_cpu, drawn)  # stands for the weights a GPU of this kind drew earlier
    assert gpu() == drawn  # preferred, though this GPU has no room to draw them now


def _unused_beside(cache: Path, whole: Path) -> tuple[list[Path], list[Path]]:
    """Complete random checkpoints of this model and seed under the names an older eco-collect gave them or
    drawn on a GPU, and folders that are not: another seed, another model, a link, a private save folder."""
    unused = [cache / NAME, cache / f"{NAME}-fp16", cache / f"{NAME}-fp16-cuda-132sm-2048threads"]
    others = [
        cache / "random-tiny-org_tiny-llama-seed01-fp16-cpu",
        cache / "random-tiny-org_tiny-llama-seed1",
        cache / "random-tiny-org_tiny-llama2-seed0-fp16-cpu",
        cache / f"{NAME}-fp16-cpu-copy",
        cache / f".{NAME}-fp16-cpu.abcdefgh.nolock.partial",
    ]
    for folder in unused + others:
        shutil.copytree(whole, folder)
    (cache / f"{NAME}-fp16-cuda-108sm-2048threads").symlink_to(whole, target_is_directory=True)
    return unused, others


def test_a_run_drawing_the_weights_again_names_the_unused_checkpoints_of_the_model_and_seed(
    tmp_path: Path, tiny_config: Path
) -> None:
    """A complete checkpoint under an older name (random-MODEL-seedN, ...-fp16) or drawn on another device
    was passed over without a word while the run drew and saved another beside it (66 GB for a 32B model)."""
    whole = _source(tmp_path / "elsewhere", tiny_config)._random_checkpoint()
    size = sum(p.stat().st_size for p in whole.iterdir())
    assert size < 10**6  # shown in bytes
    cache = tmp_path / "models"
    unused, others = _unused_beside(cache, whole)
    notes: list[str] = []
    target = _source(cache, tiny_config, note=notes.append)._random_checkpoint()
    assert target.name == f"{NAME}-fp16-cpu" and randomweights.complete(target)
    assert len(notes) == 3, notes
    for note, folder in zip(notes, unused, strict=True):
        assert f": {folder} ({size:,} bytes) holds this model and seed drawn on another device" in note
        assert note.endswith("it can be deleted to free its space") and f"into {target.name}:" in note
    assert all(randomweights.complete(folder) for folder in unused + others)  # nothing deleted
    notes.clear()
    _source(cache, tiny_config, note=notes.append)._random_checkpoint()
    assert notes == []  # loaded, not drawn: nothing said


def test_the_disk_space_refusal_names_the_unused_checkpoints_of_the_model_and_seed(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector import models

    whole = _source(tmp_path / "elsewhere", tiny_config)._random_checkpoint()
    size = sum(p.stat().st_size for p in whole.iterdir())
    cache = tmp_path / "models"
    unused, _ = _unused_beside(cache, whole)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(models.shutil, "disk_usage", lambda _p: usage._replace(free=2**30 + 1000))
    notes: list[str] = []
    with pytest.raises(CollectError, match=r"free disk space there \(such as the random checkpoints") as raised:
        _source(cache, tiny_config, note=notes.append)._random_checkpoint()
    named = ", ".join(f"{folder} ({size:,} bytes)" for folder in unused)
    assert f"drawn on another device or by an older eco-collect: {named}), or measure" in str(raised.value)
    assert notes == [] and all(randomweights.complete(folder) for folder in unused)


def test_an_unused_checkpoint_over_a_deep_tree_is_sized_without_recursion(tmp_path: Path) -> None:
    """os.walk recurses before Python 3.12 (the project's floor is 3.10): a folder of this model and seed
    holding a tree 1,200 folders deep raised RecursionError, a traceback where the run's save began.
    folders.contents walks with a stack for this reason (attack s17c)."""
    cache = tmp_path / "models"
    old = cache / NAME  # as an older eco-collect named it
    deep = old
    deep.mkdir(parents=True)
    (old / "model.safetensors").write_bytes(b"\0" * 1000)
    for _ in range(1_200):  # one level at a time: Path.mkdir(parents=True) recurses too
        deep = deep / "d"
        deep.mkdir()
    (deep / "shard").write_bytes(b"\0" * 24)
    try:
        found = randomweights.unused(cache / f"{NAME}-fp16-cpu", "tiny-org/tiny-llama", 0)
        assert found == [(old, 1024)]
    finally:  # pytest's clean-up (shutil.rmtree) recurses as deep as the tree: remove it bottom up
        (deep / "shard").unlink()
        while deep != old:
            deep.rmdir()
            deep = deep.parent
