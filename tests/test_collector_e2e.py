"""eco-collect end to end on the CPU: a tiny random-initialised transformers model through the real
engines (generate() and the own decode loop, its CUDA graph replaced by a plain call), a fake board
and clock standing for the GPU and time, out of memory, and the validator's verdict. Interrupted and
resumed runs are test_collector_e2e_resume.py's, random weights test_collector_e2e_random_weights.py's:
both use this module's fixtures."""

from __future__ import annotations

import atexit
import itertools
import json
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import pytest
import torch
from fakes import (
    Board,
    FakeSampler,
    FakeTime,
    PlainGraphs,
    fake_cuda_build,
    noisy,
    nvml_on,
    register_test_model,
    timed,
)
from transformers import LlamaConfig

from collector.collect import collect
from collector.errors import CollectError, OutputExistsError
from collector.models import ModelSource
from collector.request import RunRequest, TrialPlan
from collector.runner import Clock
from collector.session import Events, Hooks
from ecocompute import catalogue
from ecocompute.gates import Gates
from validator.run import exit_code, validate

# Each test process's own folder for the boards' locks (collector.locks.boards): every fake board has one UUID,
# and two runs of parallel test processes would hold it against each other in the machine's temporary folder.
LOCKS = Path(tempfile.mkdtemp(prefix="eco-collect-test-locks-"))
atexit.register(shutil.rmtree, LOCKS, True)
EPOCH = datetime(
    2026, 11, 23, tzinfo=timezone.utc
)  # fake time 0: eco-collect 0.6.0 released the next day (a day of grace), not in the future


@pytest.fixture
def tiny_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tiny-config"
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=128,
        max_position_embeddings=256,
    )
    config.save_pretrained(folder)
    register_test_model(monkeypatch, tmp_path, "tiny-org/tiny-llama", "llama", config)
    return folder


@pytest.fixture(autouse=True)
def _cuda_build(monkeypatch: pytest.MonkeyPatch, cpu_protocol: None) -> None:
    fake_cuda_build(monkeypatch)


def _request(tmp_path: Path, config: Path, **kw: Any) -> RunRequest:
    base: dict[str, Any] = dict(
        model_id="tiny-org/tiny-llama",
        precisions=("fp32", "bf16"),
        batch_sizes=(1, 2),
        handle="tester",
        weights="random",
        config_path=config,
        output_tokens=8,
        prompt_tokens=16,
        plan=TrialPlan(trial_min_s=1.0, idle_window_s=1.0, max_config_s=60.0, gates=Gates(max_trials=10)),
        out_dir=tmp_path / "repo" / "submissions",
        state_dir=tmp_path / "repo" / ".eco-collect",
    )
    return RunRequest(**{**base, **kw})


def _hooks(board: Board | None = None, **kw: Any) -> Hooks:
    board = board or Board(FakeTime())
    base: dict[str, Any] = dict(
        nvml=nvml_on(board),
        sampler=FakeSampler(board),
        graphs=PlainGraphs(),
        clock=Clock(board.time.now, board.time.sleep),
        wall_clock=lambda: EPOCH + timedelta(seconds=board.time.now()),
        workload=timed(board),
        device="cpu",
        lock_dir=LOCKS,
    )
    return Hooks(**{**base, **kw})


def test_run_on_cpu_writes_a_file_the_validator_accepts(tmp_path: Path, tiny_config: Path, monkeypatch) -> None:
    path, doc = collect(_request(tmp_path, tiny_config), hooks=_hooks())
    assert path == tmp_path / "repo" / "submissions" / "tester" / f"{doc['submission_id']}.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and json.loads(text) == doc
    assert list(json.loads(text)) == sorted(doc)  # sorted keys
    monkeypatch.chdir(tmp_path / "repo")
    report = validate([Path("submissions")])
    assert exit_code(report) == 0, report.findings
    got = [(m["precision"], m["engine"]["name"], m["batch_size"]) for m in doc["measurements"]]
    assert got == [
        ("fp32", "cuda-graph", 1),
        ("fp32", "cuda-graph", 2),
        ("bf16", "cuda-graph", 1),
        ("bf16", "cuda-graph", 2),
    ]
    for m in doc["measurements"]:
        assert m["status"] == "ok" and m["stopped_by"] == "gates_passed"
        assert m["engine"]["token_check"]["equal"] is True and m["engine"]["cuda_graph"] is True
        assert m["model"]["weights"] == "random_init" and m["model"]["revision"] == "config-only"
        assert all(t["generated_tokens"] == m["batch_size"] * 8 * t["requests"] for t in m["trials"])
        assert sum(t["role"] == "measured" for t in m["trials"]) == 5
        assert m["placement"] == {"strategy": "single_gpu", "device_map": {"": 0}}
        starts = [t["started_at_s"] for t in m["trials"]]
        assert starts == sorted(starts) and starts[-1] + m["trials"][-1]["duration_s"] <= doc["session"]["wall_s"]
        # 2 requests of 0.5 s at 250 W in a 1-s trial; idle 70 W
        assert all(t["energy_j"] == pytest.approx(250.0 * t["duration_s"], rel=0.01) for t in m["trials"])
        assert m["idle"]["power_per_gpu_before_w"] == [pytest.approx(70.0)]
    assert doc["schema_version"] == catalogue.SCHEMA_VERSION
    assert doc["protocol"]["energy_method"] == "nvml_energy_counter"
    assert doc["protocol"]["interleaved"] is True  # auto: both precisions fit in the fake GPU's free memory
    assert doc["protocol"]["prompt"]["source"] == "seeded-token-ids:0:16"
    assert not list((tmp_path / "repo" / ".eco-collect").glob("checkpoint-*"))  # removed on success


def test_auto_falls_back_to_generate_where_capture_fails_and_measures_the_fp16_reference(
    tmp_path: Path, tiny_config: Path
) -> None:
    def refuse(fn: Any) -> str | None:  # as LLM.int8() refuses: data-dependent shapes, host syncs
        d = fn.__self__.decoding
        if d.model.dtype == torch.bfloat16 or d.batch_size == 2:
            return "operation not permitted when stream is capturing"
        return None

    request = _request(tmp_path, tiny_config, precisions=("fp16", "bf16"))
    said: list[str] = []

    class Notes(Events):
        def note(self, text: str) -> None:
            said.append(text)

    path, doc = collect(request, Notes(), hooks=_hooks(graphs=PlainGraphs(refuse)))
    assert [n for n in said if "measured with generate instead" in n] == [
        f"{p} cuda-graph bs={b}: CUDA graph capture failed (RuntimeError: operation not permitted when stream is "
        "capturing) (after 0.0 s); measured with generate instead"
        for p, b in (("fp16", 2), ("bf16", 1), ("bf16", 2))
    ]
    got = [(m["precision"], m["engine"]["name"], m["batch_size"]) for m in doc["measurements"]]
    assert got == [  # fp16 at batch 2 fell back to generate: it is its own reference, measured once
        ("fp16", "generate", 1),
        ("fp16", "generate", 2),
        ("fp16", "cuda-graph", 1),
        ("bf16", "generate", 1),
        ("bf16", "generate", 2),
    ]
    bf16 = doc["measurements"][3]
    assert any("CUDA-graph engine cannot run bf16" in n and "stream is capturing" in n for n in bf16["notes"])
    assert any("fp16 reference on generate for bf16" in n for n in doc["measurements"][0]["notes"])
    assert exit_code(validate([path], accepted_root=None)) == 0


def test_an_engine_asked_for_by_name_that_cannot_run_is_skipped(tmp_path: Path, tiny_config: Path) -> None:
    request = _request(tmp_path, tiny_config, precisions=("fp32",), engines=("cuda-graph", "generate"))
    path, doc = collect(request, hooks=_hooks(graphs=PlainGraphs(lambda fn: "capture refused")))
    by_engine = {m["engine"]["name"]: m for m in doc["measurements"] if m["batch_size"] == 1}
    assert by_engine["cuda-graph"]["status"] == "skipped"
    assert "capture refused" in by_engine["cuda-graph"]["skip_reason"]
    assert by_engine["generate"]["status"] == "ok"
    assert exit_code(validate([path], accepted_root=None)) == 0


def test_parameter_count_comes_from_the_architecture(tmp_path: Path, tiny_config: Path) -> None:
    source = ModelSource(
        "tiny-org/tiny-llama",
        weights="random",
        revision=None,
        device="cpu",
        cache_dir=tmp_path,
        config_path=tiny_config,
    )
    loaded = source.load("fp32")
    assert loaded.info.parameter_count == loaded.model.num_parameters()
    assert loaded.quantization == {"method": "none", "torch_dtype": "float32"}


def test_without_energy_counter_power_is_integrated(tmp_path: Path, tiny_config: Path) -> None:
    board = Board(FakeTime())
    request = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,))
    _, doc = collect(request, hooks=_hooks(board, nvml=nvml_on(board, energy_supported=False)))
    assert doc["protocol"]["energy_method"] == "power_integration"
    trials = doc["measurements"][0]["trials"]
    assert all(t["sampler_energy_j"] is None for t in trials)
    assert all(t["energy_j"] == pytest.approx(250.0 * t["duration_s"], rel=0.01) for t in trials)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("sequential", "CUDA out of memory. Tried to allocate 20.00 GiB"),
        ("interleaved", "CUDA out of memory. Tried to allocate 20.00 GiB"),
        ("sequential", "\n\x1b[31mCUDA out of memory.\x1b[0m Tried to allocate 20.00 GiB\nof which 3 MiB is free"),
    ],
)
def test_out_of_memory_is_recorded_as_skipped(tmp_path: Path, tiny_config: Path, schedule: str, message: str) -> None:
    class OomSource(ModelSource):
        def load(self, precision: str):  # type: ignore[override]
            if precision == "bf16":
                raise torch.cuda.OutOfMemoryError(message)
            return super().load(precision)

    said: list[str] = []

    class Notes(Events):
        def note(self, text: str) -> None:
            said.append(text)

    request = _request(tmp_path, tiny_config, schedule=schedule)
    path, doc = collect(request, Notes(), hooks=_hooks(source=OomSource))
    # said in the log too, once per precision (its rows showed only "skipped" in the summary table)
    assert [n for n in said if "skipped" in n] == [f"bf16: skipped: {doc['measurements'][2]['skip_reason']}"]
    assert doc["protocol"]["interleaved"] is (schedule == "interleaved")
    skipped = [m for m in doc["measurements"] if m["status"] == "skipped"]
    assert [(m["precision"], m["batch_size"]) for m in skipped] == [("bf16", 1), ("bf16", 2)]
    assert "out of memory" in skipped[0]["skip_reason"] and "Tried to allocate 20.00 GiB" in skipped[0]["skip_reason"]
    assert exit_code(validate([path], accepted_root=None)) == 0


def test_trials_too_short_after_warm_up_skip_that_configuration_alone(tmp_path: Path, tiny_config: Path) -> None:
    """A GPU that runs more than twice as fast after warm-up sized its trials leaves trials that
    eco-validate refuses: that configuration is written skipped with the reason, the run goes on
    (both schedules step configurations through Schedule._guarded)."""
    engines = itertools.count()

    def durations(engine: Any) -> Iterator[float]:
        if next(engines) == 0:  # the first configuration prepared: fp32 at batch 1
            return chain([0.25], repeat(0.05, 4), repeat(0.01))
        return noisy(0.002, seed=7)

    said: list[str] = []

    class Notes(Events):
        def note(self, text: str) -> None:
            said.append(text)

    board = Board(FakeTime())
    request = _request(tmp_path, tiny_config, precisions=("fp32",), schedule="interleaved")
    path, doc = collect(request, Notes(), hooks=_hooks(board, workload=timed(board, durations)))
    status = {m["batch_size"]: (m["status"], m.get("skip_reason")) for m in doc["measurements"]}
    assert status[2] == ("ok", None)
    assert status[1][0] == "skipped" and "GPU then ran more than twice as fast" in status[1][1]
    assert said == [f"fp32 cuda-graph bs=1: skipped: {status[1][1]}"]  # the log says so too
    assert exit_code(validate([path], accepted_root=None)) == 0


def test_existing_file_is_never_overwritten(tmp_path: Path, tiny_config: Path) -> None:
    from collector import submission

    request = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,))
    path, doc = collect(request, hooks=_hooks())
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        submission.write(doc, request.out_dir, request.state_dir)
    assert path.read_bytes() == before


def test_a_model_sharded_over_two_gpus_records_its_placement_and_each_boards_energy(
    tmp_path: Path, tiny_config: Path
) -> None:
    """Two fake boards: the model's layers on both (as accelerate's balanced device map puts them), an
    idle baseline and an energy figure per board, in --gpu order."""
    from collector.models import LoadedModel
    from ecocompute.domain import Placement

    class ShardedSource(ModelSource):
        def load(self, precision: str) -> LoadedModel:  # type: ignore[override]
            loaded = super().load(precision)
            layers = {"model.embed_tokens": 0, "model.layers.0": 0, "model.layers.1": 1, "model.norm": 1, "lm_head": 1}
            loaded.placement = Placement("device_map", layers)
            return loaded

    board = Board(FakeTime())
    # idle windows of a whole second of fake time over whole-mJ counters give baselines on a grid eco-validate
    # takes for typed ones (fabrication.too_regular): a real window is timed to the nanosecond
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0001234, max_config_s=60.0, gates=Gates(max_trials=10))
    request = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,), gpus=(1, 0), plan=plan)
    hooks = _hooks(board, nvml=nvml_on(board, gpus=2), sampler=FakeSampler(board, gpus=2), source=ShardedSource)
    path, doc = collect(request, hooks=hooks)
    (m,) = doc["measurements"]
    assert m["placement"]["strategy"] == "device_map" and set(m["placement"]["device_map"].values()) == {0, 1}
    assert doc["environment"]["gpu"]["count"] == 2
    assert all(len(t["energy_per_gpu_j"]) == 2 for t in m["trials"])
    assert len(m["idle"]["power_per_gpu_before_w"]) == 2
    assert any("sharded over GPUs 1, 0" in n for n in m["notes"])
    assert exit_code(validate([path], accepted_root=None)) == 0


@pytest.mark.parametrize("out_dir", ["notes.txt/submissions", "/dev/null"])
def test_an_out_dir_no_file_can_be_written_into_is_refused_before_measuring(
    tmp_path: Path, tiny_config: Path, out_dir: str
) -> None:
    """Found only when the finished file was written: hours of GPU time, then 'Not a directory' (attack d2)."""
    (tmp_path / "notes.txt").write_text("a file")
    board = Board(FakeTime())
    with pytest.raises(CollectError, match=r"^--out-dir .* not a folder; nothing measured"):
        collect(_request(tmp_path, tiny_config, out_dir=tmp_path / out_dir), hooks=_hooks(board))
    assert board.time.now() == 1000.0 and not (tmp_path / "repo" / ".eco-collect").exists()  # not a second spent


def test_a_package_not_installed_is_refused_before_measuring(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fp16 run on the lent H100 without bitsandbytes installed measured for 7 minutes, then its file was
    refused (provenance.unpinned_version: 'not installed' is not an exact version)."""
    from collector import hostinfo

    found = hostinfo.package_versions()
    monkeypatch.setattr(hostinfo, "package_versions", lambda: found | {"bitsandbytes": "not installed"})
    board = Board(FakeTime())
    with pytest.raises(CollectError, match=r"refuses bitsandbytes: .*not installed.*nothing measured: install them"):
        collect(_request(tmp_path, tiny_config), hooks=_hooks(board))
    assert board.time.now() == 1000.0 and not (tmp_path / "repo" / ".eco-collect").exists()  # not a second spent


def test_one_after_another_a_measured_model_is_freed_before_the_next_loads(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured one after another (the precisions do not fit the board together), a precision's model is
    gone when the next one loads: the runners of its measured rows held it through their engines, so on
    an H100 the 32B's int8-pure found the fp16 weights still there and was skipped, out of memory while
    loading (session 24)."""
    held: list[weakref.ref[Any]] = []
    alive_when_loading: list[int] = []
    real_load = ModelSource.load

    def load(self: ModelSource, precision: str) -> Any:
        alive_when_loading.append(sum(ref() is not None for ref in held))
        loaded = real_load(self, precision)
        held.append(weakref.ref(loaded.model))
        return loaded

    monkeypatch.setattr(ModelSource, "load", load)
    _, doc = collect(_request(tmp_path, tiny_config, schedule="sequential"), hooks=_hooks())
    assert [m["status"] for m in doc["measurements"]] == ["ok"] * 4
    assert alive_when_loading == [0, 0]


def test_a_wall_clock_set_by_ntp_during_the_run_anchors_the_session_at_its_end(
    tmp_path: Path, tiny_config: Path
) -> None:
    """A fresh cloud VM's clock 15 min ahead at the start, set right by NTP during the run: the file's times come
    from the clock's reading at the end (created_at 15 min in the future was refused as provenance.future_time
    by eco-collect's own final validation, the whole run lost; attackmeas F9)."""
    board = Board(FakeTime())
    reads = itertools.count()
    notes: list[str] = []

    def wall() -> datetime:
        ahead = 900.0 if next(reads) == 0 else 0.0  # the start's reading only
        return EPOCH + timedelta(seconds=board.time.now() + ahead)

    class Noting(Events):
        def note(self, text: str) -> None:
            notes.append(text)

    path, doc = collect(_request(tmp_path, tiny_config), hooks=_hooks(board, wall_clock=wall), events=Noting())
    end = EPOCH + timedelta(seconds=board.time.now())
    started = datetime.fromisoformat(doc["session"]["started_at"].replace("Z", "+00:00"))
    created = datetime.fromisoformat(doc["created_at"].replace("Z", "+00:00"))
    assert abs((created - end).total_seconds()) <= 1.0
    assert abs((started + timedelta(seconds=doc["session"]["wall_s"]) - end).total_seconds()) <= 1.0
    assert any("the wall clock moved -900 s against the monotonic clock" in n for n in notes), notes
    assert exit_code(validate([path], accepted_root=None)) == 0
