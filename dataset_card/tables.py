"""Flatten validated submissions into rows of the measurements, trials and submissions configs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from validator import stats

Row = dict[str, Any]


def _window_requests(m: dict[str, Any]) -> int | None:
    window = stats.measured(m["trials"])
    return int(window[0]["requests"]) if window else None


def measurement_row(doc: dict[str, Any], m: dict[str, Any], measurement_id: str) -> Row:
    env, proto, q, s = doc["environment"], doc["protocol"], m["quantization"], m["summary"]
    requests = _window_requests(m)
    tokens_per_request = m["batch_size"] * proto["output_tokens"]
    row: Row = {
        "measurement_id": measurement_id,
        "submission_id": doc["submission_id"],
        "created_at": doc["created_at"],
        "contributor": doc["contributor"]["handle"],
        "collector_version": doc["collector"]["version"],
        "gpu_name": env["gpu"]["name"],
        "gpu_architecture": env["gpu"]["architecture"],
        "gpu_compute_capability": env["gpu"]["compute_capability"],
        "gpu_memory_total_mib": env["gpu"]["memory_total_mib"],
        "gpu_uuid_sha256": env["gpu"]["uuid_sha256"],
        "gpu_count": env["gpu"]["count"],
        "power_limit_enforced_w": env["gpu"]["power_limit_enforced_w"],
        "power_limit_default_w": env["gpu"]["power_limit_default_w"],
        "driver_version": env["driver"]["driver_version"],
        "cuda_driver_version": env["driver"]["cuda_driver_version"],
        "cpu_model": env["host"]["cpu_model"],
        "cpu_logical_cores": env["host"]["cpu_logical_cores"],
        "os": env["host"]["os"],
        "python": env["software"]["python"],
        "torch": env["software"]["torch"],
        "transformers": env["software"]["transformers"],
        "bitsandbytes": env["software"]["bitsandbytes"],
        "model_id": m["model"]["id"],
        "model_revision": m["model"]["revision"],
        "weights": m["model"]["weights"],
        "parameter_count": m["model"]["parameter_count"],
        "model_type": m["model"]["model_type"],
        "precision": m["precision"],
        "quant_method": q["method"],
        "torch_dtype": q["torch_dtype"],
        "llm_int8_threshold": q.get("llm_int8_threshold") if q.get("load_in_8bit") else None,
        "bnb_4bit_quant_type": q.get("bnb_4bit_quant_type") if q.get("load_in_4bit") else None,
        "bnb_4bit_compute_dtype": q.get("bnb_4bit_compute_dtype") if q.get("load_in_4bit") else None,
        "bnb_4bit_use_double_quant": q.get("bnb_4bit_use_double_quant") if q.get("load_in_4bit") else None,
        "cache_implementation": m["engine"]["cache_implementation"],
        "compiled": m["engine"]["compiled"],
        "attn_implementation": m["engine"]["attn_implementation"],
        "batch_size": m["batch_size"],
        "prompt_tokens": proto["prompt"]["token_count"],
        "output_tokens": proto["output_tokens"],
        "prompt_sha256": proto["prompt"]["sha256"],
        "energy_method": proto["energy_method"],
        "status": m["status"],
        "skip_reason": m.get("skip_reason"),
        "gate_passed": m["gate"]["passed"] if m["gate"] else None,
        "gate_failed": ",".join(m["gate"]["failed"]) if m["gate"] else None,
        "trials_measured": s["trials"] if s else 0,
        "requests_per_trial": requests,
        "perplexity": m["quality"]["value"] if m["quality"] else None,
        "notes": " | ".join(m["notes"]) or None,
        "energy_vs_fp16": None,
        "throughput_vs_fp16": None,
    }
    keys = (
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
    if s is None:
        row.update(dict.fromkeys(keys))
        return row
    row.update(
        idle_power_w=s["idle_power_w"],
        throughput_tok_s=s["throughput_tok_s_mean"],
        throughput_tok_s_cv_pct=s["throughput_tok_s_cv_pct"],
        power_w=s["power_w_mean"],
        power_w_cv_pct=s["power_w_cv_pct"],
        energy_per_token_j=s["energy_per_token_j_mean"],
        energy_per_token_j_cv_pct=s["energy_per_token_j_cv_pct"],
        energy_per_1k_tokens_j=1000.0 * s["energy_per_token_j_mean"],
        net_energy_per_1k_tokens_j=1000.0 * s["net_energy_per_token_j_mean"],
        energy_per_request_j=s["energy_per_token_j_mean"] * tokens_per_request,
        net_energy_per_request_j=s["net_energy_per_token_j_mean"] * tokens_per_request,
        counter_sampler_disagreement_pct_max=s["counter_sampler_disagreement_pct_max"],
    )
    return row


# Trial fields copied as they are; the others are keys, derived values or flattened lists.
_TRIAL_COPIED = (
    "role",
    "requests",
    "duration_s",
    "generated_tokens",
    "energy_j",
    "power_avg_w",
    "power_peak_w",
    "power_samples",
    "sample_rate_hz",
    "sampler_energy_j",
    "temperature_max_c",
    "sm_clock_mhz_mean",
    "mem_clock_mhz_mean",
)

Columns = dict[str, list[Any]]


def trial_columns(submission_id: str, measurements: list[tuple[str, dict[str, Any]]]) -> Columns:
    """Columns of the trials config for (measurement_id, measurement) pairs of one submission.

    Built column by column rather than as a dict per trial: a build holds millions of trials."""
    pairs = [(measurement_id, t) for measurement_id, m in measurements for t in m["trials"]]
    trials = [t for _, t in pairs]
    columns: Columns = {
        "trial_id": [f"{measurement_id}-{t['index']:04d}" for measurement_id, t in pairs],
        "measurement_id": [measurement_id for measurement_id, _ in pairs],
        "submission_id": [submission_id] * len(pairs),
        "trial_index": [t["index"] for t in trials],
        "throughput_tok_s": [stats.throughput_tok_s(t) for t in trials],
        "energy_per_gpu_j": [list(t["energy_per_gpu_j"]) for t in trials],
        "energy_per_token_j": [stats.energy_per_token_j(t) for t in trials],
        "throttle_reasons": [",".join(t["throttle_reasons"]) or None for t in trials],
        "cpu_load_1m": [t["host"]["cpu_load_1m"] for t in trials],
        "cpu_steal_pct": [t["host"]["cpu_steal_pct"] for t in trials],
        "power_nvml_avg_1s_w": [t.get("power_nvml_avg_1s_w") for t in trials],  # schema >= 1.1.0
    }
    for name in _TRIAL_COPIED:
        columns[name] = [t[name] for t in trials]
    return columns


def submission_row(doc: dict[str, Any], file_path: str, file_sha256: str) -> Row:
    env, proto = doc["environment"], doc["protocol"]
    g, d, h, sw = env["gpu"], env["driver"], env["host"], env["software"]
    return {
        "submission_id": doc["submission_id"],
        "file_path": file_path,
        "file_sha256": file_sha256,
        "schema_version": doc["schema_version"],
        "created_at": doc["created_at"],
        "contributor": doc["contributor"]["handle"],
        "collector_name": doc["collector"]["name"],
        "collector_version": doc["collector"]["version"],
        "gpu_name": g["name"],
        "gpu_uuid_sha256": g["uuid_sha256"],
        "driver_version": d["driver_version"],
        "nvml_version": d["nvml_version"],
        "cuda_driver_version": d["cuda_driver_version"],
        "vbios_version": g["vbios_version"],
        "persistence_mode": g["persistence_mode"],
        "ecc_mode": g["ecc_mode"],
        "mig_mode": g["mig_mode"],
        "cpu_model": h["cpu_model"],
        "ram_total_gib": h["ram_total_gib"],
        "os": h["os"],
        "kernel": h["kernel"],
        **{
            k: sw[k]
            for k in (
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
        },
        "prompt_source": proto["prompt"]["source"],
        "prompt_sha256": proto["prompt"]["sha256"],
        "prompt_tokens": proto["prompt"]["token_count"],
        "output_tokens": proto["output_tokens"],
        "energy_method": proto["energy_method"],
        "power_reading": proto.get("power_reading"),  # schema >= 1.1.0
        "sample_period_s": proto["sample_period_s"],
        "trial_min_duration_s": proto["trial_min_duration_s"],
        "idle_window_s": proto["idle_window_s"],
        "warmup_min_trials": proto["warmup"]["min_trials"],
        "warmup_max_trials": proto["warmup"]["max_trials"],
        "warmup_settle_pct": proto["warmup"]["settle_pct"],
        "gate_min_trials": proto["gates"]["min_trials"],
        "gate_max_trials": proto["gates"]["max_trials"],
        "gate_throughput_cv_max_pct": proto["gates"]["throughput_cv_max_pct"],
        "gate_power_cv_max_pct": proto["gates"]["power_cv_max_pct"],
        "gate_energy_per_token_cv_max_pct": proto["gates"]["energy_per_token_cv_max_pct"],
        "measurements": len(doc["measurements"]),
    }


def flatten(doc: dict[str, Any], file_path: str, file_sha256: str, hashes: list[str]) -> tuple[list[Row], Columns, Row]:
    """Measurement rows, trial columns and the submission row of one validated document;
    ``hashes`` are the measurement ids the validator computed."""
    pairs = list(zip(hashes, doc["measurements"], strict=True))
    measurements = [measurement_row(doc, m, measurement_id) for measurement_id, m in pairs]
    return measurements, trial_columns(doc["submission_id"], pairs), submission_row(doc, file_path, file_sha256)


FP16_KEY = (
    "model_id",
    "model_revision",
    "weights",
    "gpu_uuid_sha256",
    "cache_implementation",
    "batch_size",
    "output_tokens",
    "prompt_sha256",
)


def fp16_ratios(columns: Mapping[str, Sequence[Any]]) -> tuple[list[float | None], list[float | None]]:
    """Energy per token and throughput relative to the fp16 row of the same model, revision,
    weights, GPU board, engine, batch size and output length, where that row has a summary.

    ``columns`` holds the measurement columns named in FP16_KEY plus measurement_id, precision,
    energy_per_token_j and throughput_tok_s; the result is (energy_vs_fp16, throughput_vs_fp16)."""
    keys = list(zip(*(columns[k] for k in FP16_KEY), strict=True))
    ids, precision = columns["measurement_id"], columns["precision"]
    energy, throughput = columns["energy_per_token_j"], columns["throughput_tok_s"]
    reference: dict[tuple[Any, ...], int] = {}
    for i, key in enumerate(keys):
        if precision[i] == "fp16" and energy[i] is not None:
            j = reference.get(key)
            if j is None or ids[i] < ids[j]:  # several sessions: a deterministic choice
                reference[key] = i
    energy_vs: list[float | None] = [None] * len(keys)
    throughput_vs: list[float | None] = [None] * len(keys)
    for i, key in enumerate(keys):
        j = reference.get(key)
        if j is not None and energy[i] is not None:
            energy_vs[i] = energy[i] / energy[j]
            throughput_vs[i] = throughput[i] / throughput[j]
    return energy_vs, throughput_vs
