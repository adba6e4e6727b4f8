"""Flatten a submission into rows of the dataset's measurements, trials and submissions configs.

It lives in the core, not in the dataset builder, because the validator runs it on every candidate:
a file it accepts must build.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

from . import catalogue
from .domain import Measurement, Submission, Trial

Row = dict[str, Any]
Columns = dict[str, list[Any]]

_SUMMARY_COLUMNS = (
    "idle_power_w",
    "throughput_tok_s",
    "throughput_tok_s_cv_pct",
    "power_w",
    "power_w_cv_pct",
    "energy_per_token_j",
    "energy_per_token_j_cv_pct",
    "energy_per_1k_tokens_j",
    "net_energy_per_1k_tokens_j",
    "energy_per_request_j",
    "net_energy_per_request_j",
    "counter_sampler_disagreement_pct_max",
)


def _window_requests(m: Measurement) -> int | None:
    window = m.measured
    return window[0].requests if window else None


def measurement_row(sub: Submission, m: Measurement, measurement_id: str) -> Row:
    env, proto, q, s = sub.environment, sub.protocol, m.quantization, m.summary
    gpu, driver, sw = env.gpu, env.driver, env.software
    eight_bit, four_bit = bool(q.get("load_in_8bit")), bool(q.get("load_in_4bit"))
    row: Row = {
        "measurement_id": measurement_id,
        "submission_id": sub.submission_id,
        "created_at": sub.created_at,
        "contributor": sub.handle,
        "collector_version": sub.collector_version,
        "gpu_name": gpu.name,
        "gpu_architecture": gpu.architecture,
        "gpu_compute_capability": gpu.compute_capability,
        "gpu_memory_total_mib": gpu.memory_total_mib,
        "gpu_uuid_sha256": gpu.uuid_sha256,
        "gpu_count": gpu.count,
        "power_limit_enforced_w": gpu.power_limit_enforced_w,
        "power_limit_default_w": gpu.power_limit_default_w,
        "driver_version": driver["driver_version"],
        "cuda_driver_version": driver["cuda_driver_version"],
        "cpu_model": env.host.cpu_model,
        "cpu_logical_cores": env.host.cpu_logical_cores,
        "os": env.host.os,
        "python": sw["python"],
        "torch": sw["torch"],
        "transformers": sw["transformers"],
        "bitsandbytes": sw["bitsandbytes"],
        "model_id": m.model.id,
        "model_revision": m.model.revision,
        "weights": m.model.weights,
        "parameter_count": m.model.parameter_count,
        "model_type": m.model.model_type,
        "precision": m.precision,
        "quant_method": q["method"],
        "torch_dtype": q["torch_dtype"],
        "llm_int8_threshold": q.get("llm_int8_threshold") if eight_bit else None,
        "bnb_4bit_quant_type": q.get("bnb_4bit_quant_type") if four_bit else None,
        "bnb_4bit_compute_dtype": q.get("bnb_4bit_compute_dtype") if four_bit else None,
        "bnb_4bit_use_double_quant": q.get("bnb_4bit_use_double_quant") if four_bit else None,
        "engine": m.engine.name,
        "cache_implementation": m.engine.cache_implementation,
        "compiled": m.engine.compiled,
        "cuda_graph": m.engine.cuda_graph,
        "prefill": m.engine.prefill,
        "attn_implementation": m.engine.attn_implementation,
        "token_check_equal": m.engine.token_check.equal if m.engine.token_check else None,
        "token_check_first_difference": m.engine.token_check.first_difference if m.engine.token_check else None,
        "token_check_reference_reproducible_steps": (
            m.engine.token_check.reference_reproducible_steps if m.engine.token_check else None
        ),
        "placement": m.placement.strategy if m.placement else None,
        "gpu_count_used": len(set(m.placement.device_map.values())) if m.placement else None,
        "batch_size": m.batch_size,
        "prompt_tokens": proto.prompt_tokens,
        "output_tokens": proto.output_tokens,
        "prompt_sha256": proto.prompt_sha256,
        "energy_method": proto.energy_method,
        "status": m.status,
        "skip_reason": m.skip_reason,
        "gate_passed": m.gate.passed if m.gate else None,
        "gate_failed": ",".join(m.gate.failed) if m.gate else None,
        "stopped_by": m.stopped_by,
        "trials_measured": s.trials if s else 0,
        "requests_per_trial": _window_requests(m),
        "perplexity": m.quality.value if m.quality else None,
        "notes": " | ".join(m.notes) or None,
        "energy_vs_fp16": None,
        "throughput_vs_fp16": None,
    }
    if s is None:
        row.update(dict.fromkeys(_SUMMARY_COLUMNS))
        return row
    tokens_per_request = m.batch_size * proto.output_tokens
    row.update(
        idle_power_w=s.idle_power_w,
        throughput_tok_s=s.throughput_tok_s_mean,
        throughput_tok_s_cv_pct=s.throughput_tok_s_cv_pct,
        power_w=s.power_w_mean,
        power_w_cv_pct=s.power_w_cv_pct,
        energy_per_token_j=s.energy_per_token_j_mean,
        energy_per_token_j_cv_pct=s.energy_per_token_j_cv_pct,
        energy_per_1k_tokens_j=1000.0 * s.energy_per_token_j_mean,
        net_energy_per_1k_tokens_j=1000.0 * s.net_energy_per_token_j_mean,
        energy_per_request_j=s.energy_per_token_j_mean * tokens_per_request,
        net_energy_per_request_j=s.net_energy_per_token_j_mean * tokens_per_request,
        counter_sampler_disagreement_pct_max=s.counter_sampler_disagreement_pct_max,
    )
    return row


# Trial fields copied as they are (properties included); the others are keys or flattened lists.
_TRIAL_COPIED = (
    "trial_index",
    "role",
    "requests",
    "duration_s",
    "generated_tokens",
    "throughput_tok_s",
    "energy_j",
    "energy_per_gpu_j",
    "energy_per_token_j",
    "power_avg_w",
    "power_peak_w",
    "power_samples",
    "sample_rate_hz",
    "sampler_energy_j",
    "temperature_max_c",
    "sm_clock_mhz_mean",
    "mem_clock_mhz_mean",
    "power_nvml_avg_1s_w",
    "power_reading",
    "started_at_s",
    "cpu_load_1m",
    "cpu_steal_pct",
)
# One C call per trial reads every copied field; zip(*...) then turns the tuples into columns.
_trial_fields = attrgetter(*("index" if name == "trial_index" else name for name in _TRIAL_COPIED))


def trial_columns(submission_id: str, measurements: Sequence[tuple[str, Measurement]]) -> Columns:
    """Columns of the trials config for (measurement_id, measurement) pairs of one submission.

    Built column by column rather than as a dict per trial: a build holds millions of trials."""
    measurement_ids: list[str] = []
    trials: list[Trial] = []
    for measurement_id, m in measurements:
        measurement_ids += [measurement_id] * len(m.trials)
        trials += m.trials
    copied = list(zip(*map(_trial_fields, trials), strict=True)) if trials else [()] * len(_TRIAL_COPIED)
    columns: Columns = dict(zip(_TRIAL_COPIED, map(list, copied), strict=True))
    columns["trial_id"] = [f"{mid}-{t.index:04d}" for mid, t in zip(measurement_ids, trials, strict=True)]
    columns["measurement_id"] = measurement_ids
    columns["submission_id"] = [submission_id] * len(trials)
    columns["throttle_reasons"] = [",".join(t.throttle_reasons) or None for t in trials]
    return columns


def submission_row(sub: Submission, file_path: str, file_sha256: str) -> Row:
    env, proto = sub.environment, sub.protocol
    g, d, h, sw = env.gpu, env.driver, env.host, env.software
    return {
        "submission_id": sub.submission_id,
        "file_path": file_path,
        "file_sha256": file_sha256,
        "schema_version": sub.schema_version,
        "created_at": sub.created_at,
        "session_started_at": sub.session.started_at if sub.session else None,
        "session_wall_s": sub.session.wall_s if sub.session else None,
        "contributor": sub.handle,
        "collector_name": sub.collector_name,
        "collector_version": sub.collector_version,
        "gpu_name": g.name,
        "gpu_uuid_sha256": g.uuid_sha256,
        "driver_version": d["driver_version"],
        "nvml_version": d["nvml_version"],
        "cuda_driver_version": d["cuda_driver_version"],
        "vbios_version": g.vbios_version,
        "persistence_mode": g.persistence_mode,
        "ecc_mode": g.ecc_mode,
        "mig_mode": g.mig_mode,
        "cpu_model": h.cpu_model,
        "ram_total_gib": h.ram_total_gib,
        "os": h.os,
        "kernel": h.kernel,
        **{k: sw[k] for k in _SOFTWARE},
        "prompt_source": proto.prompt_source,
        "prompt_sha256": proto.prompt_sha256,
        "prompt_tokens": proto.prompt_tokens,
        "output_tokens": proto.output_tokens,
        "energy_method": proto.energy_method,
        "power_reading": proto.power_reading,
        "interleaved": proto.interleaved,
        "sample_period_s": proto.sample_period_s,
        "trial_min_duration_s": proto.trial_min_duration_s,
        "idle_window_s": proto.idle_window_s,
        "warmup_min_trials": proto.warmup_min_trials,
        "warmup_max_trials": proto.warmup_max_trials,
        "warmup_settle_pct": proto.warmup_settle_pct,
        **{f"gate_{k}": proto.gates[k] for k in _GATES},
        "measurements": len(sub.measurements),
    }


_SOFTWARE = (
    "python",
    "torch",
    "torch_cuda",
    "transformers",
    "bitsandbytes",
    "accelerate",
    "tokenizers",
    "huggingface_hub",
    "nvidia_ml_py",
)
_GATES = ("min_trials", "max_trials", "throughput_cv_max_pct", "power_cv_max_pct", "energy_per_token_cv_max_pct")


class _LastFlattened:
    """The rows of the last submission flattened in this process, handed out once more.

    The validator's gate flattens every candidate (an accepted file must build) and the dataset
    builder then flattens the same Submission object again with its own file path: the second call
    takes the measurement rows and trial columns of the first (they do not depend on the path)
    instead of computing them twice. Keyed by the object's identity and the hashes; holding the
    object keeps its id from being reused."""

    entry: tuple[Submission, tuple[str, ...], list[Row], Columns] | None = None

    @classmethod
    def take(cls, sub: Submission, hashes: tuple[str, ...]) -> tuple[list[Row], Columns] | None:
        entry, cls.entry = cls.entry, None
        if entry is not None and entry[0] is sub and entry[1] == hashes:
            return entry[2], entry[3]
        return None


def flatten(sub: Submission, file_path: str, file_sha256: str, hashes: Sequence[str]) -> tuple[list[Row], Columns, Row]:
    """Measurement rows, trial columns and the submission row of one validated submission;
    ``hashes`` are its measurement ids (``ids.measurement_hashes`` of the document as written).

    Callers must not modify the returned rows and columns: a second call on the same Submission
    object returns the same ones (see _LastFlattened)."""
    key = tuple(hashes)
    reused = _LastFlattened.take(sub, key)
    if reused is None:
        pairs = list(zip(key, sub.measurements, strict=True))
        reused = (
            [measurement_row(sub, m, measurement_id) for measurement_id, m in pairs],
            trial_columns(sub.submission_id, pairs),
        )
        _LastFlattened.entry = (sub, key, *reused)
    return *reused, submission_row(sub, file_path, file_sha256)


# "vs fp16": the same model, revision, weights, GPU board, engine, batch size and workload.
FP16_KEY = (
    "model_id",
    "model_revision",
    "weights",
    "gpu_uuid_sha256",
    "engine",
    "batch_size",
    "output_tokens",
    "prompt_sha256",
)


def fp16_references(columns: Mapping[str, Sequence[Any]]) -> list[int | None]:
    """For each row, the index of its fp16 reference row: the fp16 row with the same FP16_KEY that has
    a summary; several candidates (several sessions): the smallest measurement_id. None where there is
    none or the row itself has no summary.

    ``columns`` holds the measurement columns named in FP16_KEY plus measurement_id, precision and
    energy_per_token_j."""
    keys = list(zip(*(columns[k] for k in FP16_KEY), strict=True))
    ids, precision, energy = columns["measurement_id"], columns["precision"], columns["energy_per_token_j"]
    reference: dict[tuple[Any, ...], int] = {}
    for i, key in enumerate(keys):
        if precision[i] == catalogue.REFERENCE_PRECISION and energy[i] is not None:
            j = reference.get(key)
            if j is None or ids[i] < ids[j]:
                reference[key] = i
    return [reference.get(key) if energy[i] is not None else None for i, key in enumerate(keys)]


def fp16_ratios(columns: Mapping[str, Sequence[Any]]) -> tuple[list[float | None], list[float | None]]:
    """Energy per token and throughput relative to each row's fp16 reference (``fp16_references``).

    ``columns`` holds the measurement columns named in FP16_KEY plus measurement_id, precision,
    energy_per_token_j and throughput_tok_s; the result is (energy_vs_fp16, throughput_vs_fp16)."""
    energy, throughput = columns["energy_per_token_j"], columns["throughput_tok_s"]
    energy_vs: list[float | None] = []
    throughput_vs: list[float | None] = []
    for i, j in enumerate(fp16_references(columns)):
        energy_vs.append(None if j is None else energy[i] / energy[j])
        throughput_vs.append(None if j is None else throughput[i] / throughput[j])
    return energy_vs, throughput_vs
