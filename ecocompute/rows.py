"""Flatten a submission into rows of the dataset's measurements, trials and submissions configs.

It lives in the core, not in the dataset builder, because the validator runs it on every candidate:
a file it accepts must build.

Every column is named through ecocompute.names (``M.gpu_name``), never as a string of its own. The strings
left are the submission's own field names, read from the records the domain model keeps as written
(``sw["torch"]`` of ``env.software``, ``q["torch_dtype"]`` of ``m.quantization``): they follow the schema, not
the dataset's columns, and tests/test_column_names.py's RECORDS names the variables that hold them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

from . import catalogue
from .domain import Measurement, Submission, Trial
from .names import M, S, T

Row = dict[str, Any]
Columns = dict[str, list[Any]]

_SUMMARY_COLUMNS = (
    M.idle_power_w,
    M.throughput_tok_s,
    M.throughput_tok_s_cv_pct,
    M.power_w,
    M.power_w_cv_pct,
    M.energy_per_token_j,
    M.energy_per_token_j_cv_pct,
    M.energy_per_1k_tokens_j,
    M.net_energy_per_1k_tokens_j,
    M.energy_per_request_j,
    M.net_energy_per_request_j,
    M.counter_sampler_disagreement_pct_max,
)


def _window_requests(m: Measurement) -> int | None:
    window = m.measured
    return window[0].requests if window else None


def measurement_row(sub: Submission, m: Measurement, measurement_id: str) -> Row:
    col = M  # read once per key below: a local is read faster than the global (0.1 us a row)
    env, proto, q, s = sub.environment, sub.protocol, m.quantization, m.summary
    gpu, driver, sw = env.gpu, env.driver, env.software
    eight_bit, four_bit = bool(q.get("load_in_8bit")), bool(q.get("load_in_4bit"))
    row: Row = {
        col.measurement_id: measurement_id,
        col.submission_id: sub.submission_id,
        col.created_at: sub.created_at,
        col.contributor: sub.handle,
        col.collector_version: sub.collector_version,
        col.gpu_name: gpu.name,
        col.gpu_architecture: gpu.architecture,
        col.gpu_compute_capability: gpu.compute_capability,
        col.gpu_memory_total_mib: gpu.memory_total_mib,
        col.gpu_uuid_sha256: gpu.uuid_sha256,
        col.gpu_count: gpu.count,
        col.power_limit_enforced_w: gpu.power_limit_enforced_w,
        col.power_limit_default_w: gpu.power_limit_default_w,
        col.driver_version: driver["driver_version"],
        col.cuda_driver_version: driver["cuda_driver_version"],
        col.cpu_model: env.host.cpu_model,
        col.cpu_logical_cores: env.host.cpu_logical_cores,
        col.os: env.host.os,
        col.python: sw["python"],
        col.torch: sw["torch"],
        col.transformers: sw["transformers"],
        col.bitsandbytes: sw["bitsandbytes"],
        col.model_id: m.model.id,
        col.model_revision: m.model.revision,
        col.weights: m.model.weights,
        col.parameter_count: m.model.parameter_count,
        col.model_type: m.model.model_type,
        col.precision: m.precision,
        col.quant_method: q["method"],
        col.torch_dtype: q["torch_dtype"],
        col.llm_int8_threshold: q.get("llm_int8_threshold") if eight_bit else None,
        col.bnb_4bit_quant_type: q.get("bnb_4bit_quant_type") if four_bit else None,
        col.bnb_4bit_compute_dtype: q.get("bnb_4bit_compute_dtype") if four_bit else None,
        col.bnb_4bit_use_double_quant: q.get("bnb_4bit_use_double_quant") if four_bit else None,
        col.engine: m.engine.name,
        col.cache_implementation: m.engine.cache_implementation,
        col.compiled: m.engine.compiled,
        col.cuda_graph: m.engine.cuda_graph,
        col.prefill: m.engine.prefill,
        col.attn_implementation: m.engine.attn_implementation,
        col.token_check_equal: m.engine.token_check.equal if m.engine.token_check else None,
        col.token_check_first_difference: m.engine.token_check.first_difference if m.engine.token_check else None,
        col.token_check_reference_reproducible_steps: (
            m.engine.token_check.reference_reproducible_steps if m.engine.token_check else None
        ),
        col.placement: m.placement.strategy if m.placement else None,
        col.gpu_count_used: len(set(m.placement.device_map.values())) if m.placement else None,
        col.batch_size: m.batch_size,
        col.prompt_tokens: proto.prompt_tokens,
        col.output_tokens: proto.output_tokens,
        col.prompt_sha256: proto.prompt_sha256,
        col.energy_method: proto.energy_method,
        col.status: m.status,
        col.skip_reason: m.skip_reason,
        col.gate_passed: m.gate.passed if m.gate else None,
        col.gate_failed: ",".join(m.gate.failed) if m.gate else None,
        col.stopped_by: m.stopped_by,
        col.trials_measured: s.trials if s else 0,
        col.requests_per_trial: _window_requests(m),
        col.perplexity: m.quality.value if m.quality else None,
        col.notes: " | ".join(m.notes) or None,
        col.energy_vs_fp16: None,
        col.throughput_vs_fp16: None,
    }
    if s is None:
        row.update(dict.fromkeys(_SUMMARY_COLUMNS))
        return row
    tokens_per_request = m.batch_size * proto.output_tokens
    row.update(
        {
            col.idle_power_w: s.idle_power_w,
            col.throughput_tok_s: s.throughput_tok_s_mean,
            col.throughput_tok_s_cv_pct: s.throughput_tok_s_cv_pct,
            col.power_w: s.power_w_mean,
            col.power_w_cv_pct: s.power_w_cv_pct,
            col.energy_per_token_j: s.energy_per_token_j_mean,
            col.energy_per_token_j_cv_pct: s.energy_per_token_j_cv_pct,
            col.energy_per_1k_tokens_j: 1000.0 * s.energy_per_token_j_mean,
            col.net_energy_per_1k_tokens_j: 1000.0 * s.net_energy_per_token_j_mean,
            col.energy_per_request_j: s.energy_per_token_j_mean * tokens_per_request,
            col.net_energy_per_request_j: s.net_energy_per_token_j_mean * tokens_per_request,
            col.counter_sampler_disagreement_pct_max: s.counter_sampler_disagreement_pct_max,
        }
    )
    return row


# Trial fields copied as they are (properties included), each named as its column but trial_index (Trial.index);
# the others are keys or flattened lists.
_TRIAL_COPIED = (
    T.trial_index,
    T.role,
    T.requests,
    T.duration_s,
    T.generated_tokens,
    T.throughput_tok_s,
    T.energy_j,
    T.energy_per_gpu_j,
    T.energy_per_token_j,
    T.power_avg_w,
    T.power_peak_w,
    T.power_samples,
    T.sample_rate_hz,
    T.sampler_energy_j,
    T.temperature_max_c,
    T.sm_clock_mhz_mean,
    T.mem_clock_mhz_mean,
    T.power_nvml_avg_1s_w,
    T.power_reading,
    T.started_at_s,
    T.cpu_load_1m,
    T.cpu_steal_pct,
)
# One C call per trial reads every copied field; zip(*...) then turns the tuples into columns.
_trial_fields = attrgetter(*("index" if name == T.trial_index else name for name in _TRIAL_COPIED))


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
    columns[T.trial_id] = [f"{mid}-{t.index:04d}" for mid, t in zip(measurement_ids, trials, strict=True)]
    columns[T.measurement_id] = measurement_ids
    columns[T.submission_id] = [submission_id] * len(trials)
    columns[T.throttle_reasons] = [",".join(t.throttle_reasons) or None for t in trials]
    return columns


def submission_row(sub: Submission, file_path: str, file_sha256: str) -> Row:
    env, proto = sub.environment, sub.protocol
    g, driver, h, sw, gates = env.gpu, env.driver, env.host, env.software, proto.gates
    return {
        S.submission_id: sub.submission_id,
        S.file_path: file_path,
        S.file_sha256: file_sha256,
        S.schema_version: sub.schema_version,
        S.created_at: sub.created_at,
        S.session_started_at: sub.session.started_at if sub.session else None,
        S.session_wall_s: sub.session.wall_s if sub.session else None,
        S.contributor: sub.handle,
        S.collector_name: sub.collector_name,
        S.collector_version: sub.collector_version,
        S.gpu_name: g.name,
        S.gpu_uuid_sha256: g.uuid_sha256,
        S.driver_version: driver["driver_version"],
        S.nvml_version: driver["nvml_version"],
        S.cuda_driver_version: driver["cuda_driver_version"],
        S.vbios_version: g.vbios_version,
        S.persistence_mode: g.persistence_mode,
        S.ecc_mode: g.ecc_mode,
        S.mig_mode: g.mig_mode,
        S.cpu_model: h.cpu_model,
        S.ram_total_gib: h.ram_total_gib,
        S.os: h.os,
        S.kernel: h.kernel,
        S.python: sw["python"],
        S.torch: sw["torch"],
        S.torch_cuda: sw["torch_cuda"],
        S.transformers: sw["transformers"],
        S.bitsandbytes: sw["bitsandbytes"],
        S.accelerate: sw["accelerate"],
        S.tokenizers: sw["tokenizers"],
        S.huggingface_hub: sw["huggingface_hub"],
        S.nvidia_ml_py: sw["nvidia_ml_py"],
        S.prompt_source: proto.prompt_source,
        S.prompt_sha256: proto.prompt_sha256,
        S.prompt_tokens: proto.prompt_tokens,
        S.output_tokens: proto.output_tokens,
        S.energy_method: proto.energy_method,
        S.power_reading: proto.power_reading,
        S.interleaved: proto.interleaved,
        S.sample_period_s: proto.sample_period_s,
        S.trial_min_duration_s: proto.trial_min_duration_s,
        S.idle_window_s: proto.idle_window_s,
        S.warmup_min_trials: proto.warmup_min_trials,
        S.warmup_max_trials: proto.warmup_max_trials,
        S.warmup_settle_pct: proto.warmup_settle_pct,
        S.gate_min_trials: gates["min_trials"],
        S.gate_max_trials: gates["max_trials"],
        S.gate_throughput_cv_max_pct: gates["throughput_cv_max_pct"],
        S.gate_power_cv_max_pct: gates["power_cv_max_pct"],
        S.gate_energy_per_token_cv_max_pct: gates["energy_per_token_cv_max_pct"],
        S.measurements: len(sub.measurements),
    }


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
    M.model_id,
    M.model_revision,
    M.weights,
    M.gpu_uuid_sha256,
    M.engine,
    M.batch_size,
    M.output_tokens,
    M.prompt_sha256,
)


def fp16_references(columns: Mapping[str, Sequence[Any]]) -> list[int | None]:
    """For each row, the index of its fp16 reference row: the fp16 row with the same FP16_KEY that has
    a summary; several candidates (several sessions): the smallest measurement_id. None where there is
    none or the row itself has no summary.

    ``columns`` holds the measurement columns named in FP16_KEY plus measurement_id, precision and
    energy_per_token_j."""
    keys = list(zip(*(columns[k] for k in FP16_KEY), strict=True))
    ids, precision, energy = columns[M.measurement_id], columns[M.precision], columns[M.energy_per_token_j]
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
    energy, throughput = columns[M.energy_per_token_j], columns[M.throughput_tok_s]
    energy_vs: list[float | None] = []
    throughput_vs: list[float | None] = []
    for i, j in enumerate(fp16_references(columns)):
        energy_vs.append(None if j is None else energy[i] / energy[j])
        throughput_vs.append(None if j is None else throughput[i] / throughput[j])
    return energy_vs, throughput_vs
