"""End to end on CPU: a tiny random-initialised transformers model through the real generate()
path, the fake NVML energy source, checkpoint/resume, OOM, and the validator's verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from fake_nvml import BusyGenerator, make, make_without_counter
from transformers import LlamaConfig

from collector.errors import CheckpointError, OutputExistsError
from collector.models import ModelSource
from collector.sweep import Hooks, SweepConfig, run_sweep
from collector.trials import TrialPlan
from ecocompute.gates import Gates
from validator.run import exit_code, validate


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-config"
    LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=128,
        max_position_embeddings=256,
    ).save_pretrained(folder)
    return folder


def _cfg(tmp_path: Path, config: Path, **kw: Any) -> SweepConfig:
    base = dict(
        model_id="tiny-org/tiny-llama",
        precisions=["fp32", "bf16"],
        batch_sizes=[1, 2],
        handle="tester",
        weights="random",
        config_path=config,
        output_tokens=8,
        prompt_tokens=16,
        sample_period_s=0.004,
        plan=TrialPlan(trial_min_s=0.3, idle_window_s=0.1, max_config_s=3.0, gates=Gates(max_trials=10)),
        out_dir=tmp_path / "repo" / "submissions",
        state_dir=tmp_path / "repo" / ".eco-collect",
    )
    return SweepConfig(**{**base, **kw})


@pytest.fixture(autouse=True)
def _cuda_build(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CPU torch of the test machine reports no CUDA version; the fake GPU stands for a CUDA build.
    monkeypatch.setattr(torch.version, "cuda", "13.0")


def _hooks(**kw: Any) -> Hooks:
    return Hooks(**{"nvml": make, "sampler_mode": "thread", "device": "cpu", "generator": BusyGenerator, **kw})


def test_sweep_on_cpu_writes_a_file_the_validator_accepts(tmp_path: Path, tiny_config: Path, monkeypatch) -> None:
    path, doc = run_sweep(_cfg(tmp_path, tiny_config), hooks=_hooks())
    assert path == tmp_path / "repo" / "submissions" / "tester" / f"{doc['submission_id']}.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and json.loads(text) == doc
    assert list(json.loads(text)) == sorted(doc)  # sorted keys
    monkeypatch.chdir(tmp_path / "repo")
    report = validate([Path("submissions")])
    assert exit_code(report) == 0, report.findings
    assert [(m["precision"], m["batch_size"]) for m in doc["measurements"]] == [
        ("fp32", 1),
        ("fp32", 2),
        ("bf16", 1),
        ("bf16", 2),
    ]
    for m in doc["measurements"]:
        assert m["status"] in ("ok", "gate_failed")
        assert m["model"]["weights"] == "random_init" and m["model"]["revision"] == "config-only"
        assert all(t["generated_tokens"] == m["batch_size"] * 8 * t["requests"] for t in m["trials"])
        assert sum(t["role"] == "measured" for t in m["trials"]) == 5
        assert all(t["power_nvml_avg_1s_w"] > 0 for t in m["trials"])  # the driver's 1-s average field
    assert doc["schema_version"] == "1.1.0"
    assert doc["protocol"]["energy_method"] == "nvml_energy_counter"
    assert doc["protocol"]["interleaved"] is True  # auto: both precisions fit in the fake GPU's free memory
    assert doc["protocol"]["prompt"]["source"] == "seeded-token-ids:0:16"
    assert not list((tmp_path / "repo" / ".eco-collect").glob("checkpoint-*"))  # removed on success


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
    assert loaded.info["parameter_count"] == loaded.model.num_parameters()
    assert loaded.quantization == {"method": "none", "torch_dtype": "float32"}


def test_without_energy_counter_power_is_integrated(tmp_path: Path, tiny_config: Path) -> None:
    cfg = _cfg(tmp_path, tiny_config, precisions=["fp32"], batch_sizes=[1])
    _, doc = run_sweep(cfg, hooks=_hooks(nvml=make_without_counter))
    assert doc["protocol"]["energy_method"] == "power_integration"
    assert all(t["sampler_energy_j"] is None for t in doc["measurements"][0]["trials"])


def test_interrupt_then_resume_measures_only_what_is_missing(tmp_path: Path, tiny_config: Path) -> None:
    calls: list[str] = []

    def interrupting(model: Any, prompt: Any, batch: int, tokens: int, cache: str) -> BusyGenerator:
        dtype = str(next(model.parameters()).dtype)
        calls.append(f"{dtype}/{batch}")
        if dtype == "torch.bfloat16" and batch == 2:
            raise KeyboardInterrupt
        return BusyGenerator(model, prompt, batch, tokens, cache)

    with pytest.raises(KeyboardInterrupt):
        run_sweep(_cfg(tmp_path, tiny_config, schedule="sequential"), hooks=_hooks(generator=interrupting))
    assert not list((tmp_path / "repo" / "submissions").rglob("*.json"))  # nothing looks complete
    (checkpoint,) = (tmp_path / "repo" / ".eco-collect").glob("checkpoint-*.jsonl")
    assert len(checkpoint.read_text().splitlines()) == 1 + 3

    with pytest.raises(CheckpointError, match="--resume"):
        run_sweep(_cfg(tmp_path, tiny_config, schedule="sequential"), hooks=_hooks())

    def recording(model: Any, prompt: Any, batch: int, tokens: int, cache: str) -> BusyGenerator:
        calls.append(f"{next(model.parameters()).dtype}/{batch}")
        return BusyGenerator(model, prompt, batch, tokens, cache)

    calls.clear()
    resumed = _cfg(tmp_path, tiny_config, resume=True, schedule="sequential")
    _, doc = run_sweep(resumed, hooks=_hooks(generator=recording))
    assert calls == ["torch.bfloat16/2"]  # only the configuration that was never finished
    assert len(doc["measurements"]) == 4
    assert not list((tmp_path / "repo" / ".eco-collect").glob("checkpoint-*"))


@pytest.mark.parametrize("schedule", ["sequential", "interleaved"])
def test_out_of_memory_is_recorded_as_skipped(tmp_path: Path, tiny_config: Path, schedule: str) -> None:
    class OomSource(ModelSource):
        def load(self, precision: str):  # type: ignore[override]
            if precision == "bf16":
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            return super().load(precision)

    path, doc = run_sweep(_cfg(tmp_path, tiny_config, schedule=schedule), hooks=_hooks(source=OomSource))
    assert doc["protocol"]["interleaved"] is (schedule == "interleaved")
    skipped = [m for m in doc["measurements"] if m["status"] == "skipped"]
    assert [(m["precision"], m["batch_size"]) for m in skipped] == [("bf16", 1), ("bf16", 2)]
    assert "out of memory" in skipped[0]["skip_reason"]
    assert exit_code(validate([path], accepted_root=None)) == 0


def test_existing_file_is_never_overwritten(tmp_path: Path, tiny_config: Path, monkeypatch) -> None:
    from collector import submission

    cfg = _cfg(tmp_path, tiny_config, precisions=["fp32"], batch_sizes=[1])
    path, doc = run_sweep(cfg, hooks=_hooks())
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        submission.write(doc, cfg.out_dir)
    assert path.read_bytes() == before
