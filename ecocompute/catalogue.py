"""The project's vocabulary, defined once: precisions, statuses, roles, gates, methods and constants.

The collector, the validator, the dataset and the JSON Schema all take their enums from here; a test
asserts that the schema's enums equal these.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

COLLECTOR_NAME = "eco-collect"
STATE_DIR = ".eco-collect"  # the collector's checkpoints, cached random weights and rejected files
# Every version the validator reads, oldest first.
SCHEMA_VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0")
SCHEMA_VERSION = SCHEMA_VERSIONS[-1]  # the version eco-collect writes

WEIGHTS = ("pretrained", "random_init")
RANDOM_REVISION = "config-only"  # the revision of random weights built from a table's architecture
# A measurement's status: ok passed every gate, gate_failed kept its data, skipped never measured.
STATUS_OK, STATUS_GATE_FAILED, STATUS_SKIPPED = STATUSES = ("ok", "gate_failed", "skipped")
# A trial's role: warm-up, then the trials the gate window left out (discarded) and the window (measured).
ROLE_WARMUP, ROLE_DISCARDED, ROLE_MEASURED = ROLES = ("warmup", "discarded", "measured")
GATE_NAMES = ("min_trials", "throughput_cv", "power_cv", "energy_per_token_cv")  # in reporting order
# the board's NVML energy counter, or (a board without one: vGPU, WSL2) the sampler's power integrated over time
ENERGY_COUNTER, ENERGY_INTEGRATED = "nvml_energy_counter", "power_integration"
ENERGY_METHODS = (ENERGY_COUNTER, ENERGY_INTEGRATED)
POWER_READINGS = ("nvml_power_instant_field", "nvml_power_usage")
TRIAL_POWER_READINGS = (*POWER_READINGS, "mixed")  # a window whose samples used both
CACHE_IMPLEMENTATIONS = ("dynamic", "static")
PREFILL_MODES = ("eager", "cuda_graph")
STOP_REASONS = ("gates_passed", "implausible", "trial_budget", "time_budget")
PLACEMENT_STRATEGIES = ("single_gpu", "device_map")
EARLY_STOP_RULE = "chi2-throughput-cv"
# The energy counter steps every 0.1 s: no protocol may ask for trials shorter than this.
TRIAL_MIN_DURATION_FLOOR_S = 1.0
# Power readings change every ~0.1 s too: an idle baseline averages ten of them at the least.
IDLE_WINDOW_FLOOR_S = 1.0
# Trials after warm-up run whole requests sized in warm-up to last trial_min_duration_s; only a GPU
# that speeds up more than twice after sizing makes an honest one shorter than this share of it
# (eco-validate refuses such a trial; eco-collect skips the configuration instead of writing one).
TRIAL_DURATION_FRACTION = 0.5
TORCH_DTYPES = ("float16", "bfloat16", "float32")

# BitsAndBytesConfig fields recorded in every bitsandbytes measurement (schema: quantization).
BNB_FIELDS = (
    "load_in_8bit",
    "load_in_4bit",
    "llm_int8_threshold",
    "llm_int8_has_fp16_weight",
    "llm_int8_skip_modules",
    "bnb_4bit_quant_type",
    "bnb_4bit_compute_dtype",
    "bnb_4bit_use_double_quant",
    "bnb_4bit_quant_storage",
)
# The dtype 4-bit weights are packed in: transformers' BitsAndBytesConfig default (torch.uint8, since 4.39; eco-collect
# needs 4.45), which eco-collect never overrides and records as "uint8" (collector/models.py quantization_record).
# Every real and synthetic file holds it; any string passed the schema (attack v30 Q1).
BNB_QUANT_STORAGE = "uint8"


def _frozen(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class EngineSpec:
    """A decoding loop: what produced the tokens whose energy a row reports."""

    name: str
    cache_implementation: str
    compiled: bool
    cuda_graph: bool
    prefill: str
    description: str

    @property
    def host_paced(self) -> bool:
        """Each decode step launched from Python, neither compiled nor replayed from a graph: the host CPU sets
        the board's pace (and leaves it idle between kernels)."""
        return not (self.compiled or self.cuda_graph)


ENGINES: Mapping[str, EngineSpec] = _frozen(
    {
        e.name: e
        for e in (
            EngineSpec(
                "generate",
                "dynamic",
                False,
                False,
                "eager",
                "transformers generate() with the dynamic KV cache: what most users run; paced by the host CPU",
            ),
            EngineSpec(
                "generate-static",
                "static",
                True,
                False,
                "eager",
                "generate() with a static KV cache, whose decoding step transformers compiles",
            ),
            EngineSpec(
                "cuda-graph",
                "static",
                False,
                True,
                "eager",
                "own greedy loop on a static KV cache; the decode steps of a request captured once as a CUDA "
                "graph (eager kernels) and replayed; prefill eager, outside the graph",
            ),
        )
    }
)
REFERENCE_ENGINE = "generate"  # the engine every other one's token ids are checked against
ENGINE_CHOICES = ("auto", *ENGINES)  # auto: cuda-graph where the precision can be captured, else generate


def engine_flag(name: str, flag: Literal["compiled", "cuda_graph", "host_paced"]) -> bool:
    """``flag`` of the engine called ``name``; False for a name the catalogue does not know (the schema's enum
    closes engine names, so only a file refused elsewhere holds one)."""
    spec = ENGINES.get(name)
    return spec is not None and bool(getattr(spec, flag))


def engine_of_cache(cache_implementation: str) -> str:
    """The engine of a file written before engines were recorded (schema < 1.2.0): generate(), with
    the static cache compiled."""
    return "generate-static" if cache_implementation == "static" else "generate"


@dataclass(frozen=True)
class Precision:
    """One precision label and exactly what it means."""

    label: str
    torch_dtype: str  # dtype of the weights, or of the parts bitsandbytes leaves unquantized
    bytes_per_param: float  # weight bytes per parameter once loaded (memory estimates)
    bnb: Mapping[str, Any] | None = field(default=None)  # BitsAndBytesConfig settings; None: not quantized

    @property
    def quantized(self) -> bool:
        return self.bnb is not None

    @property
    def four_bit(self) -> bool:
        return bool(self.bnb and self.bnb.get("load_in_4bit"))

    @property
    def eight_bit(self) -> bool:
        """bitsandbytes' 8-bit load: its matmuls run on int8 tensor cores (4-bit ones dequantise to the
        torch dtype and multiply there)."""
        return bool(self.bnb and self.bnb.get("load_in_8bit"))

    def bnb_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for transformers.BitsAndBytesConfig (4-bit compute in the torch dtype)."""
        if self.bnb is None:
            raise ValueError(f"{self.label} is not a bitsandbytes precision")
        kwargs = dict(self.bnb)
        if self.four_bit:
            kwargs["bnb_4bit_compute_dtype"] = self.torch_dtype
        return kwargs

    def expected_record(self) -> dict[str, Any]:
        """The fields of a file's quantization record that this label fixes, with their values.

        Settings of the other bitsandbytes mode (4-bit fields of an 8-bit load, say) are inert and
        not part of the label. Every mode quantizes every linear layer bitsandbytes would (no module
        skipped), and 8-bit keeps no fp16 copy of the weights: eco-collect passes neither setting, so
        a record with either measured another computation than its label names. Nor does it pass a 4-bit
        storage dtype: transformers' default, BNB_QUANT_STORAGE, in every mode. An unquantized label
        expects no bitsandbytes field at all (eco-collect records none there)."""
        if self.bnb is None:
            return {"method": "none", "torch_dtype": self.torch_dtype, **dict.fromkeys(BNB_FIELDS)}
        unchanged: dict[str, Any] = {"llm_int8_skip_modules": None, "bnb_4bit_quant_storage": BNB_QUANT_STORAGE}
        if not self.four_bit:
            unchanged["llm_int8_has_fp16_weight"] = False
        return {"method": "bitsandbytes", "torch_dtype": self.torch_dtype, **self.bnb_kwargs(), **unchanged}


def _int8(threshold: float) -> Mapping[str, Any]:
    return _frozen({"load_in_8bit": True, "load_in_4bit": False, "llm_int8_threshold": threshold})


def _four_bit(quant_type: str, double_quant: bool) -> Mapping[str, Any]:
    return _frozen(
        {
            "load_in_8bit": False,
            "load_in_4bit": True,
            "bnb_4bit_quant_type": quant_type,
            "bnb_4bit_use_double_quant": double_quant,
        }
    )


PRECISIONS: Mapping[str, Precision] = _frozen(
    {
        p.label: p
        for p in (
            Precision("fp32", "float32", 4.0),
            Precision("fp16", "float16", 2.0),
            Precision("bf16", "bfloat16", 2.0),
            Precision("int8", "float16", 1.0, _int8(6.0)),
            Precision("int8-pure", "float16", 1.0, _int8(0.0)),
            Precision("nf4", "float16", 0.5, _four_bit("nf4", False)),
            Precision("nf4-dq", "float16", 0.5, _four_bit("nf4", True)),
            Precision("fp4", "float16", 0.5, _four_bit("fp4", False)),
        )
    }
)
REFERENCE_PRECISION = "fp16"  # what "vs fp16" compares against


def precision(label: str) -> Precision:
    try:
        return PRECISIONS[label]
    except KeyError:
        raise ValueError(f"unknown precision {label!r}; choose from {', '.join(PRECISIONS)}") from None


def parse_list(values: str, what: str, choices: Collection[str] | None = None) -> list[str]:
    """The items of a comma-separated list, stripped, in order, repeats kept; ValueError when it names
    nothing (``''``, ``','``: a run over an empty list fails only when its file is checked) or, with
    ``choices``, an item outside them."""
    out = [v.strip() for v in values.split(",") if v.strip()]
    allowed = f"; choose from {', '.join(choices)}" if choices is not None else ""
    if not out:
        raise ValueError(f"{values[:40]!r} names no {what}: give at least one, comma-separated{allowed}")
    unknown = [v for v in out if choices is not None and v not in choices]
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(unknown)}{allowed}")
    return out


def parse_precisions(values: str) -> list[str]:
    """A comma-separated list of labels, in order, without repeats."""
    return list(dict.fromkeys(parse_list(values, "precision", PRECISIONS)))
