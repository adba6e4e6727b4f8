"""Synthetic submissions for tests and benchmarks: physically consistent, clearly labelled.

They carry the contributor handle ``synthetic-bot`` and submission ids ``synthetic-<seed>`` so they can
never be mistaken for measurements, and they never go into submissions/. Board and models are real
rows of the reference tables (an H100 SXM; models from ecocompute/reference/models.json), because the
validator rejects unknown ones; every number stays inside what that board allows (power below its
limit, idle in its idle range, throughput far below the memory-bandwidth roofline).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any

from ecocompute import catalogue, reference, stats, warmup
from ecocompute import gates as gates_mod
from ecocompute.domain import Idle, Trial

IDLE_WINDOW_S = 5.0
TRIAL_MIN_S = 2.0  # the protocol's trial_min_duration_s
WARMUP_MAX, SETTLE_PCT = 3, 2.0  # eco-collect 0.4.0's warm-up max_trials and settle_pct (validator/releases.py)
SAMPLE_RATE_HZ = 20.0
GPU_NAME = "NVIDIA H100 80GB HBM3"
BATCH_SIZES = (1, 8, 16, 32)  # a file's first batch sizes, each at every precision
# Real models of the reference table: a file holds one (submission's ``model``), files spread over them.
MODELS = ("mistralai/Mistral-7B-Instruct-v0.2", "Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct")
PROMPT_SOURCE = "builtin:v1"
_PRECISIONS = {  # precision: (tok/s at batch 1, watts, quantization config)
    "fp16": (30.0, 250.0, {"method": "none", "torch_dtype": "float16"}),
    "int8": (11.0, 190.0, {"load_in_8bit": True, "load_in_4bit": False, "llm_int8_threshold": 6.0}),
    "int8-pure": (16.0, 200.0, {"load_in_8bit": True, "load_in_4bit": False, "llm_int8_threshold": 0.0}),
    "nf4": (20.0, 210.0, {"load_in_8bit": False, "load_in_4bit": True, "llm_int8_threshold": 6.0}),
}


def quantization(precision: str) -> dict[str, Any]:
    base = _PRECISIONS[precision][2]
    if base.get("method") == "none":
        return dict(base)
    return {
        "method": "bitsandbytes",
        "torch_dtype": "float16",
        "llm_int8_threshold": 6.0,
        "llm_int8_has_fp16_weight": False,
        "llm_int8_skip_modules": None,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": "float16",
        "bnb_4bit_use_double_quant": False,
        "bnb_4bit_quant_storage": "uint8",
        **base,
    }


def _trial(
    rng: random.Random,
    index: int,
    role: str,
    tok_s: float,
    watts: float,
    tokens: int,
    started_at_s: float,
    requests: int = 1,
) -> dict[str, Any]:
    duration = tokens / (tok_s * (1 + rng.gauss(0, 0.004)))
    power = watts * (1 + rng.gauss(0, 0.006))
    energy = round(power * duration * (1 + rng.gauss(0, 0.002)), 3)  # NVML's counter: whole millijoules
    samples = int(duration * SAMPLE_RATE_HZ)
    trial = {
        "index": index,
        "started_at_s": started_at_s,
        "power_reading": "nvml_power_instant_field",
        "role": role,
        "requests": requests,
        "duration_s": duration,
        "generated_tokens": tokens,
        "energy_j": energy,
        "energy_per_gpu_j": [energy],
        "power_avg_w": power,
        "power_peak_w": round(power * 1.08, 3),  # NVML reads whole milliwatts
        "power_nvml_avg_1s_w": power * 0.99,  # the driver's 1-s average lags the window a little
        "power_samples": samples,
        "sample_rate_hz": samples / duration,  # the sampler's rate is its samples over the window
        "sampler_energy_j": power * duration,  # the sampler integrates its average power over the window
        "temperature_max_c": float(round(45.0 + rng.random() * 10)),  # NVML reads whole degrees
        "sm_clock_mhz_mean": 1980.0,
        "mem_clock_mhz_mean": 2619.0,
        "throttle_reasons": [],
        # a load average of one busy process, wandering as little as the kernel's 1-minute average can
        # between trials seconds apart (validator/loadavg.py); in_nvml_units puts it on the kernel's steps
        "host": {"cpu_load_1m": 1.0 + 0.05 * rng.random(), "cpu_steal_pct": 0.0},
    }
    in_nvml_units(trial)  # the clocks' and the 1-s average's means, as the sampler takes them
    return trial


def _warm(trials: list[dict[str, Any]], warmups: int) -> bool:
    """Whether eco-collect's warm-up has ended after ``trials`` (at least ``warmups`` of them): the last
    one full size and within the settle percentage of the one before, or the most warm-ups allowed."""
    if not trials:
        return False
    rates = [t["generated_tokens"] / t["duration_s"] for t in trials[-2:]]
    settled = len(rates) == 2 and warmup.settled(*rates, SETTLE_PCT)
    full = warmup.full_size(trials[-1]["duration_s"], TRIAL_MIN_S)
    return warmup.ended(len(trials), warmups, WARMUP_MAX, full, settled) is not None


def measurement(
    rng: random.Random,
    model_id: str,
    precision: str,
    batch_size: int,
    output_tokens: int,
    n_trials: int,
    warmups: int = 2,
    start_s: float = 0.0,
    *,
    speed: tuple[float, float] | None = None,
    idle_w: float = 70.0,
    engine: dict[str, Any] | None = None,
    requests: int = 1,
) -> dict[str, Any]:
    """One measured configuration; ``speed``: (tok/s at this batch size, watts) instead of the
    precision's defaults; ``engine``: the engine record (default generate()). As eco-collect's loop
    runs it (validator/replay.py): the first warm-up runs one request and a short one sizes the rest
    (``requests``, the size a caller expects, is what that sizing gives at this speed), and the
    discarded trials' power swings (x 1.2, x 0.85), so no gate window holding one passed its gates."""
    if speed is None:
        tok_s, watts, _ = _PRECISIONS[precision]
        tok_s *= batch_size**0.9
    else:
        tok_s, watts = speed
    trials: list[dict[str, Any]] = []
    clock = start_s + IDLE_WINDOW_S
    window = gates_mod.DEFAULT_GATES.min_trials  # the gate window: the last trials, earlier ones discarded
    size, post = 1, n_trials - warmups
    roles = [catalogue.ROLE_DISCARDED] * max(0, post - window) + [catalogue.ROLE_MEASURED] * min(window, max(0, post))
    warming = True
    while True:  # warm-ups until eco-collect's would end (``warmups`` unless one more is needed), then the rest
        warming = warming and (post <= 0 or not _warm(trials, warmups))
        if warming and (post > 0 or len(trials) < n_trials):
            role = catalogue.ROLE_WARMUP
        elif roles and not warming:
            role = roles.pop(0)
        else:
            break
        swing = (1.2 if len(trials) % 2 else 0.85) if role == catalogue.ROLE_DISCARDED else 1.0
        t = _trial(rng, len(trials), role, tok_s, watts * swing, batch_size * output_tokens * size, clock, size)
        trials.append(t)
        clock += t["duration_s"]
        if role == catalogue.ROLE_WARMUP and not warmup.full_size(t["duration_s"], TRIAL_MIN_S):
            size = warmup.requests_for(TRIAL_MIN_S, t["duration_s"] / size)
    before, after = idle_w + rng.random(), idle_w + rng.random()
    idle = Idle(before, after, (before,), (after,))
    summary = stats.summarize([Trial.from_dict(t) for t in trials], idle.power_w)
    gate = gates_mod.evaluate(summary, gates_mod.DEFAULT_GATES)
    spec = reference.default().models[model_id]
    return {
        "model": {
            "id": model_id,
            "revision": hashlib.sha1(model_id.encode()).hexdigest(),
            "weights": "pretrained",
            "parameter_count": spec.parameter_count,
            "model_type": spec.model_type,
        },
        "precision": precision,
        "quantization": quantization(precision),
        "engine": engine
        or {
            "name": "generate",
            "cache_implementation": "dynamic",
            "compiled": False,
            "cuda_graph": False,
            "prefill": "eager",
            "attn_implementation": "sdpa",
            "token_check": None,
        },
        "placement": {"strategy": "single_gpu", "device_map": {"": 0}},
        "stopped_by": "gates_passed" if gate.passed else "time_budget",
        "batch_size": batch_size,
        "status": gates_mod.status_for(gate),
        "idle": idle.to_dict(),
        "trials": trials,
        "summary": summary.to_dict() if summary else None,
        "gate": gate.to_dict(),
        "quality": None,
        "notes": [],
    }


def configurations(n: int) -> list[tuple[str, int]]:
    """The first ``n`` (precision, batch size) pairs of a file: every precision at batch 1, 8, 16 and 32,
    then at 2, 3, 4, ... (the sizes not taken yet), as many as asked."""
    pairs = [(p, b) for p in _PRECISIONS for b in BATCH_SIZES]
    more = (b for b in itertools.count(2) if b not in BATCH_SIZES)
    while len(pairs) < n:
        b = next(more)
        pairs += [(p, b) for p in _PRECISIONS]
    return pairs[:n]


def submission(seed: int = 0, n_measurements: int = 8, n_trials: int = 10, model: int = 0) -> dict[str, Any]:
    """A valid synthetic submission; ``seed`` makes its ids, GPU and numbers unique. One model per file,
    as eco-collect writes (one --model per run): ``model`` picks it from MODELS (modulo their number); a
    test of several models uses several files."""
    rng = random.Random(seed)
    output_tokens = 64
    model_id = MODELS[model % len(MODELS)]
    measurements = []
    clock = 1.0
    for precision, batch in configurations(n_measurements):
        measurements.append(measurement(rng, model_id, precision, batch, output_tokens, n_trials, start_s=clock))
        last = measurements[-1]["trials"][-1]
        clock = last["started_at_s"] + last["duration_s"] + 2 * IDLE_WINDOW_S
    return {
        "schema_version": catalogue.SCHEMA_VERSION,
        "session": {"started_at": "2026-11-22T11:00:00Z", "wall_s": 3600.0},
        "submission_id": f"synthetic-{seed:08d}",
        "created_at": "2026-11-22T12:00:00Z",
        "collector": {"name": "eco-collect", "version": "0.4.0"},
        "contributor": {"handle": "synthetic-bot"},
        "environment": {
            "gpu": {
                "name": GPU_NAME,
                "architecture": "Hopper",
                "compute_capability": "9.0",
                "memory_total_mib": 81559,
                "uuid_sha256": hashlib.sha256(f"gpu-{seed}".encode()).hexdigest(),
                "count": 1,
                "power_limit_enforced_w": 700.0,
                "power_limit_default_w": 700.0,
                "power_limit_max_w": 700.0,
                "vbios_version": "96.00.99.00.01",
                "persistence_mode": True,
                "ecc_mode": "enabled",
                "mig_mode": "disabled",
            },
            "driver": {"driver_version": "580.159.04", "nvml_version": "13.580.159.04", "cuda_driver_version": "13.0"},
            "host": {
                "cpu_model": "Synthetic CPU",
                "cpu_logical_cores": 16,
                "ram_total_gib": 128.0,
                "os": "Ubuntu 24.04.1 LTS",
                "kernel": "6.8.0-49-generic",
            },
            "software": {
                "python": "3.12.3",
                "torch": "2.11.0+cu130",
                "torch_cuda": "13.0",
                "transformers": "5.17.0",
                "bitsandbytes": "0.50.2",
                "accelerate": "1.15.0",
                "tokenizers": "0.22.1",
                "huggingface_hub": "1.1.4",
                "nvidia_ml_py": "13.580.82",
            },
        },
        "protocol": {
            "prompt": {
                "source": PROMPT_SOURCE,
                "sha256": reference.default().prompts[PROMPT_SOURCE],
                "token_count": 64,
            },
            "output_tokens": output_tokens,
            "decoding": "greedy",
            "warmup": {"min_trials": 2, "max_trials": WARMUP_MAX, "settle_pct": SETTLE_PCT},
            "trial_min_duration_s": TRIAL_MIN_S,
            "idle_window_s": IDLE_WINDOW_S,
            "energy_method": "nvml_energy_counter",
            "sample_period_s": 0.05,
            "power_reading": "nvml_power_instant_field",
            "interleaved": False,
            "early_stop": gates_mod.DEFAULT_EARLY_STOP.as_dict(),
            "gates": gates_mod.DEFAULT_GATES.as_dict(),
        },
        "measurements": measurements,
    }


def skip(m: dict[str, Any], reason: str, *, keep_idle: bool = False) -> None:
    """Row ``m`` skipped as eco-collect writes it: no trials, summary, gate or stop, idle null. With
    ``keep_idle`` the idle measured around its trials stays (what eco-validate refuses)."""
    m.update(status=catalogue.STATUS_SKIPPED, skip_reason=reason, trials=[], summary=None, gate=None, stopped_by=None)
    if not keep_idle:
        m["idle"] = None


def stretch(t: dict[str, Any], factor: float) -> None:
    """Make a trial last ``factor`` times as long at the same power: energies and sample count follow
    (in NVML's whole millijoules; the sampler's energy is its average power x duration, its rate its
    samples over the window)."""
    t["duration_s"] *= factor
    t["energy_j"] = round(t["energy_j"] * factor, 3)
    t["energy_per_gpu_j"] = [t["energy_j"]]
    t["sampler_energy_j"] = t["power_avg_w"] * t["duration_s"]
    t["power_samples"] = int(t["duration_s"] * t["sample_rate_hz"])
    t["sample_rate_hz"] = t["power_samples"] / t["duration_s"]


def in_nvml_units(t: dict[str, Any]) -> None:
    """A trial's readings as NVML and eco-collect's sampler give them (validator/readings.py): each
    board's counter energy in whole millijoules (the trial's energy their sum), the peak in whole
    milliwatts, the temperature in whole degrees, the sampler's energy its average power x duration
    and its rate its samples over the window, its clocks and NVML's 1-s average means of whole MHz and
    mW over its samples, the host's load average in the kernel's steps of 1/2048."""
    t["power_peak_w"] = round(t["power_peak_w"], 3)
    t["temperature_max_c"] = float(round(t["temperature_max_c"]))
    t["sample_rate_hz"] = t["power_samples"] / t["duration_s"]  # the sampler's rate: samples over the window
    count = max(1, t["power_samples"])  # clocks and the 1-s average: means of whole readings over the samples
    for key, unit in (("sm_clock_mhz_mean", 1.0), ("mem_clock_mhz_mean", 1.0), ("power_nvml_avg_1s_w", 1000.0)):
        if t.get(key) is not None:
            t[key] = round(t[key] * unit * count) / (unit * count)
    host = t.get("host") or {}
    if host.get("cpu_load_1m") is not None:  # os.getloadavg(): the kernel's steps of 1/2048
        host["cpu_load_1m"] = round(host["cpu_load_1m"] * 2048) / 2048
    if t.get("sampler_energy_j") is not None:  # the counter's (no counter: the energy is the sampler's)
        t["energy_per_gpu_j"] = [round(e, 3) for e in t["energy_per_gpu_j"]]
        t["energy_j"] = round(sum(t["energy_per_gpu_j"]), 3)
        t["sampler_energy_j"] = t["power_avg_w"] * t["duration_s"]


def resummarize(m: dict[str, Any], g: gates_mod.Gates = gates_mod.DEFAULT_GATES, *, units: bool = True) -> None:
    """Recompute a measurement dict's summary, gate and status after its trials or idle were edited,
    so that a fixture stays self-consistent except for the one fault it is about (its readings in
    NVML's units too, unless ``units`` is false: a fixture about those units)."""
    clock = m["trials"][0]["started_at_s"] if m["trials"] else 0.0
    for t in m["trials"]:  # edited durations move the later trials' start times
        t["started_at_s"] = clock
        clock += t["duration_s"]
        if units:
            in_nvml_units(t)
    idle = Idle(m["idle"]["power_before_w"], m["idle"]["power_after_w"]) if m["idle"] else Idle(0.0, None)
    summary = stats.summarize([Trial.from_dict(t) for t in m["trials"]], idle.power_w)
    gate = gates_mod.evaluate(summary, g)
    m["summary"] = summary.to_dict() if summary else None
    m["gate"] = gate.to_dict()
    m["status"] = gates_mod.status_for(gate)
    if "stopped_by" in m:
        m["stopped_by"] = (
            "gates_passed" if gate.passed else ("time_budget" if m["stopped_by"] == "gates_passed" else m["stopped_by"])
        )
