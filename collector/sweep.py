"""A sweep: models x precisions x batch sizes on one GPU, checkpointed, written as one submission."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import hostinfo, interleave, quality, records, submission
from .checkpoint import Checkpoint
from .errors import CheckpointError, CollectError
from .models import ModelSource, torch_device, unload
from .nvml import Nvml
from .sampler import Sampler
from .trials import Clock, TrialPlan
from .workload import Generator, Prompt


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
    schedule: str = "auto"  # auto: interleave the configurations when all precisions fit in GPU memory at once


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


def protocol_record(
    cfg: SweepConfig, prompt: Prompt, energy_method: str, interleaved: bool, power_reading: str
) -> dict[str, Any]:
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
        "power_reading": power_reading,
        "interleaved": interleaved,
        "gates": plan.gates.as_dict(),
    }


def _run_key(cfg: SweepConfig, gpu_uuid: str) -> str:
    fields = {k: v for k, v in asdict(cfg).items() if k not in ("resume", "handle", "out_dir", "state_dir", "pin_cpu")}
    payload = json.dumps({"cfg": fields, "gpu": gpu_uuid}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


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
        power_reading = nvml.power_reading()
        session_notes = _preflight_notes(nvml, gpu)
        free_bytes = nvml.memory_free_bytes()
        uuids = nvml.uuids()
    energy_method = "nvml_energy_counter" if counter_ok else "power_integration"
    environment = {"gpu": gpu, "driver": driver, "host": hostinfo.host(), "software": hostinfo.package_versions()}
    device = torch_device(uuids[0]) if hooks.device == "cuda" else hooks.device
    if len(cfg.gpus) > 1:
        session_notes.append(
            f"model on GPU {cfg.gpus[0]} ({device}); the other listed GPUs are measured, not used by the model"
        )
    source = hooks.source(
        cfg.model_id,
        weights=cfg.weights,
        revision=cfg.revision,
        device=device,
        cache_dir=cfg.state_dir / "models",
        seed=cfg.seed,
        config_path=cfg.config_path,
    )
    prompt = source.prompt(cfg.prompt_tokens)
    total = len(cfg.precisions) * len(cfg.batch_sizes)
    interleaved, why_not = interleave.choose(
        cfg.schedule, source.describe()["parameter_count"], cfg.precisions, total, free_bytes
    )
    if why_not:
        session_notes.append(why_not)
    for text in session_notes:
        events.note(text)
    protocol = protocol_record(cfg, prompt, energy_method, interleaved, power_reading)
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
    todo = {p: [b for b in cfg.batch_sizes if (p, b) not in completed] for p in cfg.precisions}
    todo = {p: bs for p, bs in todo.items() if bs}
    measurements = list(done)
    factory = functools.partial(hooks.nvml, cfg.gpus)
    pin = cfg.pin_cpu and hooks.device != "cpu"
    pinned = hostinfo.pin_to_cpus(1) if pin else None
    if pinned is not None:
        session_notes.append(f"measuring process pinned to CPU {pinned[0]}, sampler to the CPU before it")
    with hooks.nvml(cfg.gpus) as nvml, Sampler(factory, cfg.sample_period_s, hooks.sampler_mode, pin) as sampler:
        counter = nvml.energy_j if counter_ok else None
        ctx = records.Context(cfg, hooks, events, checkpoint, prompt, corpus, source, counter, sampler, total)
        if interleaved:
            measurements += interleave.run_interleaved(ctx, todo)
        else:
            for precision, batches in todo.items():
                measurements += _sequential(ctx, precision, batches, len(measurements))
    order = {(p, b): i for i, (p, b) in enumerate((p, b) for p in cfg.precisions for b in cfg.batch_sizes)}
    measurements.sort(key=lambda m: order[(m["precision"], m["batch_size"])])
    for m in measurements:
        m["notes"] = session_notes + [n for n in m["notes"] if n not in session_notes]
    doc = submission.assemble(handle=cfg.handle, environment=environment, protocol=protocol, measurements=measurements)
    path = submission.write(doc, cfg.out_dir)
    checkpoint.remove()
    return path, doc


def _sequential(ctx: records.Context, precision: str, batches: list[int], already: int) -> list[dict[str, Any]]:
    """One precision loaded, its batch sizes measured one after another, then unloaded."""
    loaded, out = records.load(ctx, precision, batches)
    if loaded is None:
        return out
    measured_quality = records.perplexity(ctx, loaded)
    for batch in batches:
        ctx.events.config_started(records.label(precision, batch), already + len(out) + 1, ctx.total)
        m = records.measurement(ctx, loaded, precision, batch, measured_quality)
        try:
            result = records.runner(ctx, loaded, m).run()
        except Exception as exc:
            if not records.is_oom(exc):
                raise
            records.skip_for_oom(m, exc)
        else:
            records.complete(ctx, m, result)
        ctx.checkpoint.add(m)
        out.append(m)
    unload(loaded)
    return out


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
