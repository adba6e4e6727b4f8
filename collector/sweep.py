"""A sweep: models x precisions x batch sizes on one GPU, checkpointed, written as one submission."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import hostinfo, quality, submission
from .checkpoint import Checkpoint
from .errors import CheckpointError, CollectError
from .models import LoadedModel, ModelSource, unload
from .nvml import Nvml
from .sampler import Sampler
from .trials import Clock, Runner, TrialPlan, finish
from .workload import Generator, Prompt

RANDOM_INT8_NOTE = (
    "random-initialised weights have few activation outliers, so the mixed-precision cost of "
    "LLM.int8() (threshold 6.0) is under-stated compared with trained weights"
)


@dataclass
class SweepConfig:
    model_id: str
    precisions: list[str]
    batch_sizes: list[int]
    handle: str = "anonymous"
    weights: str = "pretrained"
    revision: str | None = None
    config_path: Path | None = None
    cache: str = "dynamic"
    output_tokens: int = 128
    prompt_tokens: int = 64
    seed: int = 0
    sample_period_s: float = 0.05
    gpus: list[int] = field(default_factory=lambda: [0])
    plan: TrialPlan = field(default_factory=TrialPlan)
    out_dir: Path = Path("submissions")
    state_dir: Path = Path(".eco-collect")
    resume: bool = False
    quality: str | None = None  # 'wikitext' or a text file: perplexity per precision, outside energy windows
    pin_cpu: bool = False  # opt-in: on the lent H100 it did not lower the noise (CV 5.5 % unpinned vs 9.5 % pinned)


class Events:
    """Progress hooks; the CLI renders them, tests may record them."""

    def config_started(self, label: str, index: int, total: int) -> None: ...
    def trial_done(self, trial: dict[str, Any]) -> None: ...
    def config_done(self, label: str, measurement: dict[str, Any], elapsed_s: float) -> None: ...
    def note(self, text: str) -> None: ...


@dataclass
class Hooks:
    """Factories for the pieces that touch hardware; tests replace them."""

    nvml: Callable[[list[int]], Nvml] = Nvml
    sampler_mode: str = "process"
    source: Callable[..., ModelSource] = ModelSource
    generator: Callable[..., Any] = Generator
    clock: Clock = field(default_factory=Clock)
    device: str = "cuda"


def _label(precision: str, batch: int) -> str:
    return f"{precision} bs={batch}"


def protocol_record(cfg: SweepConfig, prompt: Prompt, energy_method: str) -> dict[str, Any]:
    plan = cfg.plan
    return {
        "prompt": prompt.record(),
        "output_tokens": cfg.output_tokens,
        "decoding": "greedy",
        "warmup": {"min_trials": plan.warmup_min, "max_trials": plan.warmup_max, "settle_pct": plan.settle_pct},
        "trial_min_duration_s": plan.trial_min_s,
        "idle_window_s": plan.idle_window_s,
        "energy_method": energy_method,
        "sample_period_s": cfg.sample_period_s,
        "interleaved": False,
        "gates": plan.gates.as_dict(),
    }


def _run_key(cfg: SweepConfig, gpu_uuid: str) -> str:
    fields = {k: v for k, v in asdict(cfg).items() if k not in ("resume", "handle", "out_dir", "state_dir", "pin_cpu")}
    payload = json.dumps({"cfg": fields, "gpu": gpu_uuid}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _measurement(
    loaded: LoadedModel | None, source: ModelSource, precision: str, batch: int, cfg: SweepConfig, engine_attn: str
) -> dict[str, Any]:
    notes = [RANDOM_INT8_NOTE] if cfg.weights == "random" and precision == "int8" else []
    return {
        "model": loaded.info if loaded else source.describe(),
        "precision": precision,
        "quantization": loaded.quantization if loaded else source.quantization(precision),
        "engine": {
            "cache_implementation": cfg.cache,
            "compiled": cfg.cache == "static",
            "attn_implementation": engine_attn,
        },
        "batch_size": batch,
        "quality": None,
        "notes": notes,
    }


def _is_oom(exc: BaseException) -> bool:
    try:
        import torch

        return isinstance(exc, torch.cuda.OutOfMemoryError)
    except ImportError:
        return False


def run_sweep(
    cfg: SweepConfig, events: Events | None = None, hooks: Hooks | None = None
) -> tuple[Path, dict[str, Any]]:
    events, hooks = events or Events(), hooks or Hooks()
    if cfg.quality and cfg.weights == "random":
        raise CollectError("--quality needs pretrained weights: the perplexity of random weights means nothing")
    corpus = quality.load_corpus(cfg.quality) if cfg.quality else None
    with hooks.nvml(cfg.gpus) as nvml:
        gpu, driver = nvml.describe()
        counter_ok = nvml.supports_energy_counter()
        session_notes = _preflight_notes(nvml, gpu)
    for text in session_notes:
        events.note(text)
    energy_method = "nvml_energy_counter" if counter_ok else "power_integration"
    environment = {"gpu": gpu, "driver": driver, "host": hostinfo.host(), "software": hostinfo.package_versions()}
    source = hooks.source(
        cfg.model_id,
        weights=cfg.weights,
        revision=cfg.revision,
        device=hooks.device,
        cache_dir=cfg.state_dir / "models",
        seed=cfg.seed,
        config_path=cfg.config_path,
    )
    prompt = source.prompt(cfg.prompt_tokens)
    protocol = protocol_record(cfg, prompt, energy_method)
    run_key = _run_key(cfg, gpu["uuid_sha256"])
    checkpoint = Checkpoint(cfg.state_dir / f"checkpoint-{run_key}.jsonl", run_key)
    done: list[dict[str, Any]] = []
    if cfg.resume:
        header, done = checkpoint.load()
        if header is None:
            raise CheckpointError(f"--resume: no checkpoint for this run at {checkpoint.path}")
    elif checkpoint.path.exists():
        raise CheckpointError(f"an interrupted run left {checkpoint.path}: continue it with --resume, or delete it")
    else:
        checkpoint.start({"model": cfg.model_id})
    completed = {(m["precision"], m["batch_size"]) for m in done}
    measurements = list(done)
    total = len(cfg.precisions) * len(cfg.batch_sizes)
    factory = functools.partial(hooks.nvml, cfg.gpus)
    pin = cfg.pin_cpu and hooks.device != "cpu"
    pinned = hostinfo.pin_to_cpus(1) if pin else None
    if pinned is not None:
        session_notes.append(f"measuring process pinned to CPU {pinned[0]}, sampler to the CPU before it")
    with hooks.nvml(cfg.gpus) as nvml, Sampler(factory, cfg.sample_period_s, hooks.sampler_mode, pin) as sampler:
        counter = nvml.energy_j if counter_ok else None
        for precision in cfg.precisions:
            todo = [b for b in cfg.batch_sizes if (precision, b) not in completed]
            if not todo:
                continue
            loaded: LoadedModel | None = None
            try:
                loaded = source.load(precision)
            except Exception as exc:
                if not _is_oom(exc):
                    raise
                reason = f"out of memory while loading: {str(exc).splitlines()[0][:300]}"
                for batch in todo:
                    m = _measurement(None, source, precision, batch, cfg, "not loaded")
                    m.update(status="skipped", skip_reason=reason, idle=None, trials=[], summary=None, gate=None)
                    checkpoint.add(m)
                    measurements.append(m)
                unload(loaded)
                continue
            measured_quality = quality.perplexity(loaded.model, loaded.tokenizer, corpus) if corpus else None
            for batch in todo:
                label = _label(precision, batch)
                events.config_started(label, len(measurements) + 1, total)
                m = _measurement(loaded, source, precision, batch, cfg, loaded.attn_implementation)
                m["quality"] = measured_quality
                try:
                    gen = hooks.generator(loaded.model, prompt, batch, cfg.output_tokens, cfg.cache)
                    runner = Runner(gen, sampler, counter, cfg.plan, hooks.clock, events.trial_done)
                    result = runner.run()
                except Exception as exc:
                    if not _is_oom(exc):
                        raise
                    m.update(
                        status="skipped",
                        skip_reason=f"out of memory at batch {batch}: {str(exc).splitlines()[0][:300]}",
                        idle=None,
                        trials=[],
                        summary=None,
                        gate=None,
                    )
                    unload(None)
                else:
                    m.update(finish(result, cfg.plan))
                    m["notes"] = m["notes"] + result.notes
                    events.config_done(label, m, result.elapsed_s)
                checkpoint.add(m)
                measurements.append(m)
            unload(loaded)
    order = {(p, b): i for i, (p, b) in enumerate((p, b) for p in cfg.precisions for b in cfg.batch_sizes)}
    measurements.sort(key=lambda m: order[(m["precision"], m["batch_size"])])
    for m in measurements:
        m["notes"] = session_notes + [n for n in m["notes"] if n not in session_notes]
    doc = submission.assemble(handle=cfg.handle, environment=environment, protocol=protocol, measurements=measurements)
    path = submission.write(doc, cfg.out_dir)
    checkpoint.remove()
    return path, doc


def _preflight_notes(nvml: Nvml, gpu: dict[str, Any]) -> list[str]:
    notes = []
    others = nvml.other_processes()
    if others:
        notes.append(f"other processes were using the GPU: {', '.join(str(p['pid']) for p in others)}")
    if gpu["power_limit_enforced_w"] < gpu["power_limit_default_w"]:
        notes.append(
            f"power limit {gpu['power_limit_enforced_w']:.0f} W is below the default {gpu['power_limit_default_w']:.0f} W"
        )
    return notes


__all__ = ["CollectError", "Events", "Hooks", "SweepConfig", "run_sweep"]
