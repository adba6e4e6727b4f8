"""Synthetic sweeps over model sizes with known energy ratios, for the advisor's tests.

Each precision's energy per token relative to fp16 follows a ``Law`` of the parameter count (times an
optional per-model scatter), so a test knows the crossover the estimator must recover. Everything
else is as physical as ``synthetic`` makes it, on a real board of the reference table: fp16 decodes
at a fraction of the memory-bandwidth roofline, quantized rows draw less power, trials last at least
the protocol's two seconds (several requests per trial where one is short), idle sits inside the
board's range. The files pass eco-validate and build with ``dataset_card.build``.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
from dataclasses import dataclass
from typing import Any

import synthetic

from ecocompute import catalogue, reference

ROOFLINE_FRACTION = 0.3  # fp16 at batch 1 decodes at this fraction of bandwidth / weight bytes
LOAD_FRACTION = 0.4  # fp16 power: idle + this fraction of the way to the board's power
QUANTIZED_POWER = 0.85  # quantized rows draw this fraction of fp16's power
ENGINE_SPEED = {"generate": 1.0, "generate-static": 1.3, "cuda-graph": 1.6}
TRIAL_S = 2.2  # above the protocol's trial_min_duration_s (2 s)
OUTPUT_TOKENS = 64


@dataclass(frozen=True)
class Law:
    """energy_vs_fp16 = (parameters / crossover) ** exponent; exponent 0 with ``level``: a constant."""

    crossover: float = 1e9
    exponent: float = 0.0
    level: float = 1.0

    def ratio(self, parameters: float) -> float:
        return self.level * (parameters / self.crossover) ** self.exponent


def _engine(name: str, batch_size: int, seed: int) -> dict[str, Any]:
    spec = catalogue.ENGINES[name]
    check = None
    if name != catalogue.REFERENCE_ENGINE:
        check = {
            "reference": catalogue.REFERENCE_ENGINE,
            "new_tokens": batch_size * OUTPUT_TOKENS,
            "equal": True,
            "first_difference": None,
            "ids_sha256": hashlib.sha256(f"ids-{seed}-{batch_size}".encode()).hexdigest(),
            "reference_reproducible_steps": OUTPUT_TOKENS,
        }
    return {
        "name": name,
        "cache_implementation": spec.cache_implementation,
        "compiled": spec.compiled,
        "cuda_graph": spec.cuda_graph,
        "prefill": spec.prefill,
        "attn_implementation": "sdpa",
        "token_check": check,
    }


def _measurement(
    rng: random.Random,
    board: reference.GpuSpec,
    model_id: str,
    precision: str,
    engine: str,
    batch_size: int,
    ratio: float,
    start_s: float,
    n_trials: int,
) -> dict[str, Any]:
    spec = reference.default().models[model_id]
    fp16_tok_s = ROOFLINE_FRACTION * board.memory_bandwidth_gb_s * 1e9 / (2.0 * spec.parameter_count)
    fp16_tok_s *= batch_size**0.9 * ENGINE_SPEED[engine]
    idle_w = board.idle_w[0] + 0.3 * (board.idle_w[1] - board.idle_w[0])
    fp16_w = idle_w + LOAD_FRACTION * (board.default_power_w - idle_w)
    watts = fp16_w if precision == catalogue.REFERENCE_PRECISION else QUANTIZED_POWER * fp16_w
    tok_s = watts / (fp16_w / fp16_tok_s * ratio)  # energy per token = fp16's x ratio
    requests = max(1, math.ceil(TRIAL_S * tok_s / (batch_size * OUTPUT_TOKENS)))
    return synthetic.measurement(
        rng,
        model_id,
        precision,
        batch_size,
        OUTPUT_TOKENS,
        n_trials,
        start_s=start_s,
        speed=(tok_s, watts),
        idle_w=idle_w,
        engine=_engine(engine, batch_size, rng.randrange(10**9)),
        requests=requests,
    )


def fail_gates(m: dict[str, Any]) -> None:
    """Make a measurement fail its throughput and energy gates: its window's trials alternately 6 %
    longer and shorter at the same power."""
    window = [t for t in m["trials"] if t["role"] == "measured"]
    for i, t in enumerate(window):
        synthetic.stretch(t, 1.06 if i % 2 else 0.94)
    synthetic.resummarize(m)


def sweep(
    seed: int,
    gpu_name: str,
    models: tuple[str, ...],
    laws: dict[str, Law],
    batch_sizes: tuple[int, ...] = (1,),
    engines: tuple[str, ...] = ("generate",),
    *,
    scatter_pct: float = 0.0,
    failed: frozenset[tuple[str, str, str, int]] = frozenset(),
    n_trials: int = 7,
) -> list[dict[str, Any]]:
    """Valid submissions on ``gpu_name`` measuring fp16 and every precision of ``laws`` for each
    model, engine and batch size: one file per model, as eco-collect writes them (one --model per run),
    the runs one after another on one board (its uuid). ``scatter_pct``: each (model, precision) ratio is
    multiplied by a seeded lognormal factor of that spread (architectures differ beyond their size);
    ``failed``: (model, precision, engine, batch) configurations made to fail their gates."""
    rng = random.Random(seed)
    board = reference.default().gpus[gpu_name]
    doc = synthetic.submission(seed, n_measurements=0)
    gpu = doc["environment"]["gpu"]
    gpu.update(
        name=board.name,
        architecture=board.architecture,
        compute_capability=board.compute_capability,
        memory_total_mib=int(0.97 * board.memory_mib),
        power_limit_enforced_w=board.default_power_w,
        power_limit_default_w=board.default_power_w,
        power_limit_max_w=board.max_power_w,
    )
    factors = {(m, p): math.exp(rng.gauss(0, scatter_pct / 100)) for m in models for p in laws}
    clock, measurements = 1.0, []
    per_model: list[list[dict[str, Any]]] = []
    for model_id in models:
        per_model.append([])
        size = reference.default().models[model_id].parameter_count
        for engine in engines:
            for batch in batch_sizes:
                for precision in (catalogue.REFERENCE_PRECISION, *laws):
                    law = laws.get(precision)
                    ratio = 1.0 if law is None else law.ratio(size) * factors[(model_id, precision)]
                    m = _measurement(rng, board, model_id, precision, engine, batch, ratio, clock, n_trials)
                    if (model_id, precision, engine, batch) in failed:
                        fail_gates(m)
                    measurements.append(m)
                    per_model[-1].append(m)
                    last = m["trials"][-1]
                    clock = last["started_at_s"] + last["duration_s"] + 2 * synthetic.IDLE_WINDOW_S
    if clock > doc["session"]["wall_s"]:
        raise ValueError(f"{len(measurements)} measurements take {clock:.0f} s, longer than the session")
    for m in measurements:  # synthetic.trial's clocks are the H100's
        for t in m["trials"]:
            t["mem_clock_mhz_mean"] = float(round(board.memory_clock_mhz or t["mem_clock_mhz_mean"]))
    docs = []
    for k, rows in enumerate(per_model):
        one = copy.deepcopy(doc)
        one["submission_id"] = f"{doc['submission_id']}-{k}"
        one["measurements"] = rows
        docs.append(one)
    return docs


# The advisor tests' dataset: two boards, known crossovers, one gate-failed row.
H100 = "NVIDIA H100 80GB HBM3"
RTX4090 = "NVIDIA GeForce RTX 4090"
H100_MODELS = (
    "Qwen/Qwen2.5-0.5B-Instruct",
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
    "Qwen/Qwen2.5-3B-Instruct",
    "01-ai/Yi-1.5-6B-Chat",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-14B-Instruct",
)
RTX_MODELS = (
    "Qwen/Qwen2.5-0.5B-Instruct",
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
    "Qwen/Qwen2-1.5B-Instruct",
    "Qwen/Qwen2.5-3B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
)
H100_LAWS = {"nf4": Law(4e9, -0.16), "int8": Law(level=1.6)}  # int8 costs 60 % at every size
RTX_LAWS = {"nf4": Law(2.5e9, -0.2), "int8-pure": Law(30e9, -0.1)}  # int8-pure crosses far above 7.6 B
RTX_SCATTER_PCT = 3.0
FAILED = ("Qwen/Qwen2.5-3B-Instruct", "nf4", "generate", 1)


def advisor_submissions() -> list[dict[str, Any]]:
    return [
        *sweep(101, H100, H100_MODELS, H100_LAWS, (1, 8), failed=frozenset({FAILED})),
        *sweep(102, RTX4090, RTX_MODELS, RTX_LAWS, (1,), ("generate", "cuda-graph"), scatter_pct=RTX_SCATTER_PCT),
    ]
