"""Every column of every dataset config, declared once: name, Arrow type, unit and meaning.

The Parquet schema (units and meanings travel as field metadata), the dataset card's column tables
and the builder's checks all come from here. ``unit`` is empty only for what is not a quantity (ids,
labels, versions, flags); ``dimensionless`` marks pure numbers such as ratios.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from . import catalogue
from .gates import DEFAULT_GATES

S, F, INT, B = pa.string(), pa.float64(), pa.int64(), pa.bool_()
UNIT_KEY, DESCRIPTION_KEY = b"unit", b"description"


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    unit: str
    description: str

    def field(self) -> pa.Field:
        metadata = {UNIT_KEY: self.unit.encode(), DESCRIPTION_KEY: self.description.encode()}
        return pa.field(self.name, self.type, metadata=metadata)


def schema(columns: list[Column]) -> pa.Schema:
    return pa.schema([c.field() for c in columns])


def unit(field: pa.Field) -> str:
    return (field.metadata or {}).get(UNIT_KEY, b"").decode()


def description(field: pa.Field) -> str:
    return (field.metadata or {}).get(DESCRIPTION_KEY, b"").decode()


def _one_of(values: object) -> str:
    return ", ".join(str(v) for v in values)  # type: ignore[attr-defined]


G = DEFAULT_GATES
C = Column
_WINDOW = f"the gate window (the last {G.min_trials} or more consecutive measured trials)"
_FP16 = (
    "the fp16 row of the same model, revision, weights, GPU board, engine, batch size and workload (prompt, "
    "output tokens), the one with the smallest measurement_id where repeat sessions give several; null where "
    "there is none. Either row may be gate_failed: check both statuses."
)


def _version(package: str) -> Column:
    return C(package, S, "", f"Exact installed version of {package} on the measuring machine.")


# fmt: off
MEASUREMENTS = schema(
    [
        C("measurement_id", S, "", "Row id: sha256 over the GPU's hashed UUID and the whole measurement as submitted "
          "(trials included), stable across releases. The card cites rows by its first 12 characters."),
        C("submission_id", S, "", "The submitted file this row comes from (key of the submissions config)."),
        C("created_at", S, "", "When the measuring session finished (RFC 3339, UTC)."),
        C("contributor", S, "", "GitHub handle of the person who measured."),
        C("collector_version", S, "", "Version of eco-collect that wrote the file."),
        C("gpu_name", S, "", "GPU marketing name reported by NVML."),
        C("gpu_architecture", S, "", "NVML architecture name (e.g. Hopper)."),
        C("gpu_compute_capability", S, "", "CUDA compute capability, major.minor."),
        C("gpu_memory_total_mib", INT, "MiB", "Total device memory of one GPU."),
        C("gpu_uuid_sha256", S, "", "sha256 of the GPU UUID: tells boards apart without exposing them."),
        C("gpu_count", INT, "GPUs", "GPUs measured in the session."),
        C("power_limit_enforced_w", F, "W", "Power limit enforced during the session."),
        C("power_limit_default_w", F, "W", "Default power limit of the board."),
        C("driver_version", S, "", "NVIDIA driver version."),
        C("cuda_driver_version", S, "", "CUDA version supported by the driver (major.minor)."),
        C("cpu_model", S, "", "Host CPU model name."),
        C("cpu_logical_cores", INT, "cores", "Logical CPU cores of the host."),
        C("os", S, "", "Host operating system: distribution and version."),
        _version("python"),
        _version("torch"),
        _version("transformers"),
        _version("bitsandbytes"),
        C("model_id", S, "", "Hugging Face Hub model id (owner/name)."),
        C("model_revision", S, "", "40-hex commit of the weights; for random_init rows the commit of the "
          "configuration used, or 'config-only'."),
        C("weights", S, "", f"{_one_of(catalogue.WEIGHTS)}: random_init rows built the architecture with random "
          "weights (no download); see the card's known limitations."),
        C("parameter_count", INT, "parameters", "Parameters counted from the built model."),
        C("model_type", S, "", "transformers model_type of the configuration (e.g. mistral)."),
        C("precision", S, "", f"Precision label, one of {_one_of(catalogue.PRECISIONS)}: int8 is LLM.int8() with "
          "outlier threshold 6.0, int8-pure threshold 0.0, nf4-dq nf4 with double quantization (bitsandbytes)."),
        C("quant_method", S, "", "none, or bitsandbytes."),
        C("torch_dtype", S, "", "dtype of the weights, or of the parts bitsandbytes leaves unquantized."),
        C("llm_int8_threshold", F, "dimensionless", "LLM.int8() outlier threshold on activation magnitude (8-bit "
          "rows only); 0.0 turns the fp16 decomposition off."),
        C("bnb_4bit_quant_type", S, "", "nf4 or fp4 (4-bit rows only)."),
        C("bnb_4bit_compute_dtype", S, "", "dtype of the 4-bit matmul compute (4-bit rows only)."),
        C("bnb_4bit_use_double_quant", B, "", "Whether the 4-bit quantization constants are quantized again "
          "(4-bit rows only)."),
        C("engine", S, "", "Decoding loop that produced the tokens: "
          + "; ".join(f"{e.name}: {e.description}" for e in catalogue.ENGINES.values())
          + "."),
        C("cache_implementation", S, "", f"KV cache: {_one_of(catalogue.CACHE_IMPLEMENTATIONS)}."),
        C("compiled", B, "", "Whether the decoding step was compiled by torch.compile."),
        C("cuda_graph", B, "", "Whether the decode steps were replayed from a captured CUDA graph."),
        C("prefill", S, "", f"How the prompt was processed: {_one_of(catalogue.PREFILL_MODES)}."),
        C("attn_implementation", S, "", "transformers attention implementation (e.g. sdpa)."),
        C("token_check_equal", B, "", "Whether this engine's greedy token ids equalled generate()'s on the same "
          "model; null for generate itself and before schema 1.2.0."),
        C("token_check_first_difference", INT, "decode steps", "Decode step at which this engine's ids first differ "
          "from generate()'s; null when equal, for generate itself and before schema 1.2.0."),
        C("token_check_reference_reproducible_steps", INT, "decode steps", "Leading decode steps over which "
          "generate() reproduced its own ids (a second run, and every row of one prompt); a CUDA-graph row is kept "
          "only when its ids first differ at or after this step. Null for generate itself, before schema 1.3.0, and "
          "from 1.5.0 where the ids were equal (generate() then ran once: no bound was needed or measured)."),
        C("placement", S, "", f"Where the modules ran: {_one_of(catalogue.PLACEMENT_STRATEGIES)}; null before "
          f"schema 1.2.0 (one GPU)."),
        C("gpu_count_used", INT, "GPUs", "GPUs the model's modules were placed on; null before schema 1.2.0."),
        C("batch_size", INT, "sequences", "Sequences decoded together per request (the prompt repeated)."),
        C("prompt_tokens", INT, "tokens", "Prompt length per sequence."),
        C("output_tokens", INT, "tokens", "New tokens forced per sequence (min_new_tokens == max_new_tokens)."),
        C("prompt_sha256", S, "", "sha256 of the prompt text (UTF-8) or of its token ids."),
        C("energy_method", S, "", f"Source of trial energy, {_one_of(catalogue.ENERGY_METHODS)}: the NVML "
          "total-energy counter, or sampled power integrated where the counter is unsupported."),
        C("status", S, "", f"{_one_of(catalogue.STATUSES)}: ok passed every gate; gate_failed keeps all its data "
          "but did not pass; skipped could not run (see skip_reason) and has no figures."),
        C("skip_reason", S, "", "Why a skipped configuration did not run: out of memory, a model that does not load, "
          "or an engine that cannot run it (a CUDA graph that fails to capture, or whose token ids leave generate()'s)."),
        C("gate_passed", B, "", "Whether every gate passed over the gate window; null when skipped."),
        C("gate_failed", S, "", f"Comma-separated gates that failed, from {_one_of(catalogue.GATE_NAMES)}."),
        C("stopped_by", S, "", f"Why the trials ended: {_one_of(catalogue.STOP_REASONS)}; null when skipped or "
          f"before schema 1.2.0."),
        C("trials_measured", INT, "trials", "Trials in the gate window (0 when skipped)."),
        C("requests_per_trial", INT, "requests", "Requests (one decoding of the batch each) per trial of the "
          "gate window."),
        C("idle_power_w", F, "W", "Idle baseline: mean of the idle windows before and after the configuration, "
          "summed over the measured GPUs; the net_ columns subtract it."),
        C("throughput_tok_s", F, "tokens/s", f"Mean over {_WINDOW} of generated tokens / trial duration."),
        C("throughput_tok_s_cv_pct", F, "%", "Coefficient of variation (sample std / mean x 100) of throughput over "
          f"the gate window; the gate needs < {G.throughput_cv_max_pct} %."),
        C("power_w", F, "W", "Mean over the gate window of each trial's mean sampled power, summed over GPUs."),
        C("power_w_cv_pct", F, "%", f"CV of power over the gate window; the gate needs < {G.power_cv_max_pct} %."),
        C("energy_per_token_j", F, "J/token", "Gross energy per generated token: mean over the gate window of "
          "trial energy / trial tokens (idle power included)."),
        C("energy_per_token_j_cv_pct", F, "%", f"CV of energy per token over the gate window; the gate needs < "
          f"{G.energy_per_token_cv_max_pct} %."),
        C("energy_per_1k_tokens_j", F, "J/1k tokens", "Gross energy per 1,000 generated tokens: 1000 x "
          "energy_per_token_j."),
        C("net_energy_per_1k_tokens_j", F, "J/1k tokens", "Energy per 1,000 tokens net of idle: 1000 x mean over "
          "the gate window of (trial energy - idle_power_w x trial duration) / trial tokens."),
        C("energy_per_request_j", F, "J/request", "Gross energy of one request (one generate() call over the "
          "batch): energy_per_token_j x batch_size x output_tokens."),
        C("net_energy_per_request_j", F, "J/request", "Energy of one request net of idle: net energy per token "
          "x batch_size x output_tokens."),
        C("counter_sampler_disagreement_pct_max", F, "%", "Largest |sampled-power energy - counter energy| / "
          "counter energy over the gate window: the self-check of the energy reading."),
        C("energy_vs_fp16", F, "dimensionless", f"energy_per_token_j divided by that of {_FP16}"),
        C("throughput_vs_fp16", F, "dimensionless", f"throughput_tok_s divided by that of {_FP16}"),
        C("perplexity", F, "dimensionless", "Perplexity of the quality check where measured; null otherwise "
          "(never for random_init weights)."),
        C("notes", S, "", "Caveats recorded during collection, joined by ' | '."),
    ]
)
# fmt: on


def _same(name: str, config: pa.Schema = MEASUREMENTS) -> Column:
    """A column whose meaning is the same as in another config."""
    f = config.field(name)
    return C(name, f.type, unit(f), description(f))


# fmt: off
TRIALS = schema(
    [
        C("trial_id", S, "", "Row id: measurement_id, a dash and trial_index in four digits."),
        C("measurement_id", S, "", "The measurement this trial belongs to (key of the measurements config)."),
        _same("submission_id"),
        C("trial_index", INT, "", "Position of the trial in its measurement, from 0, in the order measured."),
        C("started_at_s", F, "s", "When the trial window opened, counted from the session's start; null before "
          "schema 1.2.0."),
        C("role", S, "", "warmup: before steady state; discarded: after warm-up but outside the gate window; "
          "measured: the gate window."),
        C("requests", INT, "requests", "Requests (one decoding of the batch each) in this trial."),
        C("duration_s", F, "s", "Length of the trial window, between two synchronised reads of the energy counter."),
        C("generated_tokens", INT, "tokens", "New tokens counted from the outputs (all sequences, all requests)."),
        C("throughput_tok_s", F, "tokens/s", "generated_tokens / duration_s."),
        C("energy_j", F, "J", "Gross energy of the trial window, summed over the measured GPUs."),
        C("energy_per_gpu_j", pa.list_(F), "J", "Gross energy of the window per measured GPU, in the order of "
          "the measurement's placement."),
        C("energy_per_token_j", F, "J/token", "energy_j / generated_tokens (gross)."),
        C("power_avg_w", F, "W", "Mean of the sampled power over the window, summed over GPUs."),
        C("power_peak_w", F, "W", "Highest sampled power in the window."),
        C("power_nvml_avg_1s_w", F, "W", "Mean over the window of NVML's own 1-s average power field, summed over "
          "GPUs; null before schema 1.1.0 or where the GPU lacks the field."),
        C("power_reading", S, "", f"What this window's sampled power was, {_one_of(catalogue.TRIAL_POWER_READINGS)}"
          " (both, when the instant field failed part of the time); null before schema 1.2.0."),
        C("power_samples", INT, "samples", "Power samples taken in the window."),
        C("sample_rate_hz", F, "Hz", "Achieved sampler rate in the window."),
        C("sampler_energy_j", F, "J", "Sampled power integrated over the window: the cross-check of energy_j."),
        C("temperature_max_c", F, "°C", "Highest GPU temperature sampled in the window."),
        C("sm_clock_mhz_mean", F, "MHz", "Mean SM (graphics) clock sampled in the window."),
        C("mem_clock_mhz_mean", F, "MHz", "Mean memory clock sampled in the window."),
        C("throttle_reasons", S, "", "Comma-separated NVML clock-event reasons seen in the window (idle "
          "excluded); null when none."),
        C("cpu_load_1m", F, "runnable tasks", "Host 1-minute load average at the end of the window."),
        C("cpu_steal_pct", F, "%", "Share of host CPU time stolen by the hypervisor during the window."),
    ]
)

# fmt: off
SUBMISSIONS = schema(
    [
        C("submission_id", S, "", "Unique id of the submitted file (its name is <submission_id>.json)."),
        C("file_path", S, "", "Path of the file in the project repository."),
        C("file_sha256", S, "", "sha256 of the file's bytes as committed."),
        C("schema_version", S, "", f"Submission schema version of the file, one of "
          f"{_one_of(catalogue.SCHEMA_VERSIONS)}."),
        _same("created_at"),
        C("session_started_at", S, "", "When the measuring session started (RFC 3339, UTC); null before 1.2.0."),
        C("session_wall_s", F, "s", "Wall time of the whole session; null before schema 1.2.0."),
        _same("contributor"),
        C("collector_name", S, "", "Program that wrote the file (eco-collect)."),
        _same("collector_version"),
        _same("gpu_name"),
        _same("gpu_uuid_sha256"),
        _same("driver_version"),
        C("nvml_version", S, "", "NVML library version."),
        _same("cuda_driver_version"),
        C("vbios_version", S, "", "Video BIOS version of the board."),
        C("persistence_mode", B, "", "Whether NVIDIA persistence mode was on."),
        C("ecc_mode", S, "", "ECC memory mode as NVML reports it."),
        C("mig_mode", S, "", "Multi-Instance GPU mode as NVML reports it."),
        _same("cpu_model"),
        C("ram_total_gib", F, "GiB", "Host memory."),
        _same("os"),
        C("kernel", S, "", "Host kernel release."),
        _same("python"),
        _same("torch"),
        C("torch_cuda", S, "", "CUDA version torch was built with."),
        _same("transformers"),
        _same("bitsandbytes"),
        _version("accelerate"),
        _version("tokenizers"),
        _version("huggingface_hub"),
        _version("nvidia_ml_py"),
        C("prompt_source", S, "", "builtin:<name> for a shipped prompt, or seeded-token-ids:<seed> where no "
          "tokenizer is used."),
        _same("prompt_sha256"),
        _same("prompt_tokens"),
        _same("output_tokens"),
        _same("energy_method"),
        C("power_reading", S, "", f"What the sampler read, {_one_of(catalogue.POWER_READINGS)}: NVML's instant "
          "power field, or nvmlDeviceGetPowerUsage (a 1-s average on Ampere and newer); null before 1.1.0."),
        C("interleaved", B, "", "Whether the configurations of a model were measured one trial of each in turn."),
        C("sample_period_s", F, "s", "Requested period of the power and clock sampler."),
        C("trial_min_duration_s", F, "s", "Target trial length: a warm-up shorter than 90 % of it sizes the requests per "
          "trial to reach it; later trials keep that count and may run shorter (eco-validate accepts half)."),
        C("idle_window_s", F, "s", "Length of each idle-baseline window."),
        C("warmup_min_trials", INT, "trials", "Fewest warm-up trials."),
        C("warmup_max_trials", INT, "trials", "Most warm-up trials."),
        C("warmup_settle_pct", F, "%", "Warm-up ends when two consecutive trials differ in throughput by less."),
        C("gate_min_trials", INT, "trials", "Size of the gate window: the last N consecutive trials."),
        C("gate_max_trials", INT, "trials", "Trial budget per configuration before it is written as gate_failed."),
        C("gate_throughput_cv_max_pct", F, "%", "Throughput CV gate used."),
        C("gate_power_cv_max_pct", F, "%", "Power CV gate used."),
        C("gate_energy_per_token_cv_max_pct", F, "%", "Energy-per-token CV gate used."),
        C("measurements", INT, "measurements", "Measurements (rows of the measurements config) in the file."),
    ]
)

# fmt: off
LEGACY = schema(
    [
        C("legacy_id", S, "", "Row id: a800-batch-sweep-bs<batch>-t<run> for the raw A800 runs, "
          "published-aggregate-<n> for the rows of the author's tables."),
        C("row_kind", S, "", "trial: one run of the raw A800 batch-size sweep; aggregate: one row of a table "
          "the author published (a mean over n_runs runs)."),
        C("source_document", S, "", "The author's document the row comes from."),
        C("source_file", S, "", "The file in this project's legacy/ folder that holds the row, unchanged."),
        C("source_sha256", S, "", "sha256 of that file."),
        C("gpu", S, "", "GPU as the source names it."),
        C("model", S, "", "Model as the source names it."),
        C("hf_path", S, "", "Hub model id as published_aggregates.csv or the raw sweep's metadata gives it (no "
          "revision was recorded); the author's metadata files name other ids for some rows (see the card's "
          "discrepancies)."),
        C("params_b", F, "billion parameters", "Parameter count as the source states it."),
        C("precision", S, "", "Precision in this dataset's labels (see the measurements config)."),
        C("batch_size", INT, "sequences", "Sequences per request."),
        C("output_tokens", INT, "tokens", "New tokens per sequence as the source states it."),
        C("n_runs", INT, "runs", "Runs behind the row as the source states it."),
        C("trial_index", INT, "", "Run number within the batch size (trial rows only)."),
        C("duration_s", F, "s", "Length of the run (trial rows only)."),
        C("energy_j", F, "J", "Gross energy of the run (trial rows only)."),
        C("throughput_tok_s", F, "tokens/s", "Throughput of the run, or the mean the author's table reports."),
        C("throughput_std", F, "tokens/s", "Standard deviation across runs as published (aggregate rows)."),
        C("power_w", F, "W", "Mean power of the run, or as published."),
        C("power_std", F, "W", "Standard deviation of power across runs as published."),
        C("energy_per_1k_tokens_j", F, "J/1k tokens", "Energy per 1,000 generated tokens as the source states it: "
          "gross or net of idle power as energy_basis says; for a trial row that one run, for an aggregate row the "
          "figure of the author's table (his mean over n_runs runs; the documents define no gate window)."),
        C("energy_std", F, "J/1k tokens", "Standard deviation of energy per 1,000 tokens as published."),
        C("energy_basis", S, "", "gross (idle power included) or net (idle subtracted), as the source states."),
        C("power_source", S, "", "How the source measured power."),
        C("missing_provenance", S, "", "What the source did not record (why the row cannot pass eco-validate)."),
        C("validation", S, "", "Always 'not validated ...': these rows did not pass this dataset's validator."),
    ]
)
CONFIGS: dict[str, pa.Schema] = {
    "measurements": MEASUREMENTS,
    "trials": TRIALS,
    "submissions": SUBMISSIONS,
    "legacy": LEGACY,
}
SORT_KEYS = {
    "measurements": ["measurement_id"],
    "trials": ["measurement_id", "trial_index"],  # trial_id's order, 10x cheaper than sorting its strings
    "submissions": ["submission_id"],
    "legacy": ["legacy_id"],
}


@dataclass(frozen=True)
class TextRule:
    """The values a build writes in a text column: one of ``one_of``, or a full match of ``pattern``
    (empty: any). One definition for both ends: eco-dataset build holds the merged tables to it before
    writing (dataset_card.checks), eco-advise every table it reads (advisor.data), since a folder or Hub
    revision given to eco-advise may come from anyone: a precision label 'int2-magic' was recommended."""

    one_of: tuple[str, ...] = ()
    pattern: str = ""

    def words(self) -> str:
        return f"one of {_one_of(self.one_of)}" if self.one_of else f"matching {self.pattern}"


_SHA256 = TextRule(pattern="[0-9a-f]{64}")
TEXT_RULES: dict[str, dict[str, TextRule]] = {
    "measurements": {
        "measurement_id": _SHA256,
        "precision": TextRule(one_of=tuple(catalogue.PRECISIONS)),
        "weights": TextRule(one_of=tuple(catalogue.WEIGHTS)),
        "status": TextRule(one_of=tuple(catalogue.STATUSES)),
    },
    "trials": {"role": TextRule(one_of=tuple(catalogue.ROLES))},
    "submissions": {"file_sha256": _SHA256},
    "legacy": {
        "row_kind": TextRule(one_of=("trial", "aggregate")),
        "energy_basis": TextRule(one_of=("gross", "net")),
    },
}

# An ok row passed the gates (power and throughput each within a few % over the window) and eco-validate's
# energy = power x duration check (5 %) on each trial: its power over throughput is its energy per token
# within a few %. A build's rows lie within 0.96-1.02; twice or half is no rounding, and no build's. The build
# refuses to write a row outside it (dataset_card/checks.py) and eco-advise to read one (advisor/data.py).
POWER_OVER_THROUGHPUT_FACTOR = 2.0
# energy_per_request_j is energy_per_token_j x batch_size x output_tokens (ecocompute/rows.py), to rounding.
PER_REQUEST_REL_TOLERANCE = 1e-9
