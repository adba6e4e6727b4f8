"""The measurement half of the domain model: one configuration's trials, summary, gate, placement and
quality, and its engine (``ecocompute.engine``); see ``ecocompute.domain`` for the submission around it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from . import catalogue
from .engine import Engine


def _tuple(values: Any) -> tuple[float, ...] | None:
    return tuple(values) if values is not None else None


def _list(values: tuple[float, ...] | None) -> list[float] | None:
    return list(values) if values is not None else None


# Not frozen, unlike the rest of the model: a build constructs 700,000 trials, and a frozen dataclass's __init__
# (object.__setattr__ per field) costs 2.2 us a trial against 0.3 us. Nothing assigns to a trial after construction;
# dataclasses.replace makes a changed copy. Hashable by value as before (unsafe_hash costs construction nothing).
@dataclass(slots=True, unsafe_hash=True)
class Trial:
    """One trial window: whole requests between two synchronised reads of the energy counter."""

    index: int
    role: str
    requests: int
    duration_s: float
    generated_tokens: int
    energy_j: float  # gross, summed over the GPUs
    energy_per_gpu_j: tuple[float, ...]
    power_avg_w: float
    power_peak_w: float
    power_samples: int
    sample_rate_hz: float
    sampler_energy_j: float | None
    temperature_max_c: float
    sm_clock_mhz_mean: float
    mem_clock_mhz_mean: float
    throttle_reasons: tuple[str, ...]
    cpu_load_1m: float | None
    cpu_steal_pct: float | None
    power_nvml_avg_1s_w: float | None = None  # from schema 1.1.0
    started_at_s: float | None = None  # from schema 1.2.0: seconds since the session started
    power_reading: str | None = None  # from schema 1.2.0: catalogue.TRIAL_POWER_READINGS

    @property
    def is_warmup(self) -> bool:
        return self.role == catalogue.ROLE_WARMUP

    @property
    def throughput_tok_s(self) -> float:
        return self.generated_tokens / self.duration_s

    @property
    def energy_per_token_j(self) -> float:
        return self.energy_j / self.generated_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "started_at_s": self.started_at_s,
            "power_reading": self.power_reading,
            "role": self.role,
            "requests": self.requests,
            "duration_s": self.duration_s,
            "generated_tokens": self.generated_tokens,
            "energy_j": self.energy_j,
            "energy_per_gpu_j": list(self.energy_per_gpu_j),
            "power_avg_w": self.power_avg_w,
            "power_peak_w": self.power_peak_w,
            "power_nvml_avg_1s_w": self.power_nvml_avg_1s_w,
            "power_samples": self.power_samples,
            "sample_rate_hz": self.sample_rate_hz,
            "sampler_energy_j": self.sampler_energy_j,
            "temperature_max_c": self.temperature_max_c,
            "sm_clock_mhz_mean": self.sm_clock_mhz_mean,
            "mem_clock_mhz_mean": self.mem_clock_mhz_mean,
            "throttle_reasons": list(self.throttle_reasons),
            "host": {"cpu_load_1m": self.cpu_load_1m, "cpu_steal_pct": self.cpu_steal_pct},
        }

    @classmethod
    def from_dict(cls, t: Mapping[str, Any]) -> Trial:
        host = t["host"]
        return cls(
            t["index"],
            t["role"],
            t["requests"],
            t["duration_s"],
            t["generated_tokens"],
            t["energy_j"],
            tuple(t["energy_per_gpu_j"]),
            t["power_avg_w"],
            t["power_peak_w"],
            t["power_samples"],
            t["sample_rate_hz"],
            t["sampler_energy_j"],
            t["temperature_max_c"],
            t["sm_clock_mhz_mean"],
            t["mem_clock_mhz_mean"],
            tuple(t["throttle_reasons"]),
            host["cpu_load_1m"],
            host["cpu_steal_pct"],
            t.get("power_nvml_avg_1s_w"),
            t.get("started_at_s"),
            t.get("power_reading"),
        )


@dataclass(frozen=True, slots=True)
class Summary:
    """Statistics of the gate window (the measured trials); see ``ecocompute.stats.summarize``."""

    trials: int
    idle_power_w: float
    throughput_tok_s_mean: float
    throughput_tok_s_std: float
    throughput_tok_s_cv_pct: float
    power_w_mean: float
    power_w_std: float
    power_w_cv_pct: float
    energy_per_token_j_mean: float
    energy_per_token_j_std: float
    energy_per_token_j_cv_pct: float
    energy_j_mean: float
    net_energy_j_mean: float
    net_energy_per_token_j_mean: float
    counter_sampler_disagreement_pct_max: float | None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, s: Mapping[str, Any]) -> Summary:
        return cls(*map(s.__getitem__, _SUMMARY_FIELDS))


_SUMMARY_FIELDS = tuple(f.name for f in fields(Summary))


@dataclass(frozen=True, slots=True)
class GateOutcome:
    passed: bool
    failed: tuple[str, ...]  # gate names, in catalogue.GATE_NAMES order

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": list(self.failed)}

    @classmethod
    def from_dict(cls, g: Mapping[str, Any]) -> GateOutcome:
        return cls(g["passed"], tuple(g["failed"]))


@dataclass(frozen=True, slots=True)
class Idle:
    power_before_w: float  # summed over the measured GPUs
    power_after_w: float | None
    power_per_gpu_before_w: tuple[float, ...] | None = None  # from schema 1.2.0
    power_per_gpu_after_w: tuple[float, ...] | None = None

    @property
    def power_w(self) -> float:
        """The baseline: the mean of the before and after windows (before alone if after is missing)."""
        return self.power_before_w if self.power_after_w is None else (self.power_before_w + self.power_after_w) / 2.0

    @property
    def lower_power_w(self) -> float:
        """The lower of the two windows (before alone if after is missing): the baseline that gives a
        trial the most energy above idle, for bounds that idle noise must not decide."""
        return self.power_before_w if self.power_after_w is None else min(self.power_before_w, self.power_after_w)

    def lower_power_per_gpu_w(self, gpus: int) -> tuple[float, ...]:
        """Each board's lower window; where the file gives only the sum (before schema 1.2.0), its share."""
        before, after = self.power_per_gpu_before_w, self.power_per_gpu_after_w
        if before is None or len(before) != gpus:
            return (self.lower_power_w / max(gpus, 1),) * gpus
        if after is None or len(after) != gpus:
            return tuple(before)
        return tuple(map(min, before, after))

    def higher_power_per_gpu_w(self, gpus: int) -> tuple[float, ...]:
        """Each board's higher window; where the file gives only the sum (before schema 1.2.0), its share."""
        before, after = self.power_per_gpu_before_w, self.power_per_gpu_after_w
        if before is None or len(before) != gpus:
            higher = self.power_before_w if self.power_after_w is None else max(self.power_before_w, self.power_after_w)
            return (higher / max(gpus, 1),) * gpus
        if after is None or len(after) != gpus:
            return tuple(before)
        return tuple(map(max, before, after))

    def to_dict(self) -> dict[str, Any]:
        return {
            "power_before_w": self.power_before_w,
            "power_after_w": self.power_after_w,
            "power_per_gpu_before_w": _list(self.power_per_gpu_before_w),
            "power_per_gpu_after_w": _list(self.power_per_gpu_after_w),
        }

    @classmethod
    def from_dict(cls, i: Mapping[str, Any]) -> Idle:
        return cls(
            i["power_before_w"],
            i["power_after_w"],
            _tuple(i.get("power_per_gpu_before_w")),
            _tuple(i.get("power_per_gpu_after_w")),
        )


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    revision: str
    weights: str  # catalogue.WEIGHTS
    parameter_count: int
    model_type: str

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the model's modules ran: module name -> position of its GPU among the measured ones."""

    strategy: str  # catalogue.PLACEMENT_STRATEGIES
    device_map: Mapping[str, int]

    @classmethod
    def single_gpu(cls) -> Placement:
        return cls("single_gpu", {"": 0})

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "device_map": dict(self.device_map)}


@dataclass(frozen=True, slots=True)
class Quality:
    metric: str
    value: float
    corpus: str
    corpus_sha256: str
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Measurement:
    """One configuration (model x precision x engine x batch size) on the session's GPU(s)."""

    model: Model
    precision: str
    quantization: Mapping[str, Any]  # the schema's quantization record, as written
    engine: Engine
    batch_size: int
    status: str  # as written; gates.status_for says what it must be
    idle: Idle | None
    trials: tuple[Trial, ...]
    summary: Summary | None
    gate: GateOutcome | None
    quality: Quality | None
    notes: tuple[str, ...]
    skip_reason: str | None = None
    stopped_by: str | None = None  # from schema 1.2.0: catalogue.STOP_REASONS; None when skipped
    placement: Placement | None = None  # from schema 1.2.0

    @property
    def is_skipped(self) -> bool:
        return self.status == catalogue.STATUS_SKIPPED

    @property
    def measured(self) -> tuple[Trial, ...]:
        return tuple(t for t in self.trials if t.role == catalogue.ROLE_MEASURED)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model.to_dict(),
            "precision": self.precision,
            "quantization": dict(self.quantization),
            "engine": self.engine.to_dict(),
            "batch_size": self.batch_size,
            "status": self.status,
            "idle": self.idle.to_dict() if self.idle else None,
            "trials": [t.to_dict() for t in self.trials],
            "summary": self.summary.to_dict() if self.summary else None,
            "gate": self.gate.to_dict() if self.gate else None,
            "quality": self.quality.to_dict() if self.quality else None,
            "notes": list(self.notes),
            "stopped_by": self.stopped_by,
            "placement": (self.placement or Placement.single_gpu()).to_dict(),
        }
        if self.skip_reason is not None:
            out["skip_reason"] = self.skip_reason
        return out

    @classmethod
    def from_dict(cls, m: Mapping[str, Any]) -> Measurement:
        model, idle, summary, gate, quality = m["model"], m["idle"], m["summary"], m["gate"], m["quality"]
        placement = m.get("placement")
        return cls(
            model=Model(
                model["id"], model["revision"], model["weights"], model["parameter_count"], model["model_type"]
            ),
            precision=m["precision"],
            quantization=m["quantization"],
            engine=Engine.from_dict(m["engine"]),
            batch_size=m["batch_size"],
            status=m["status"],
            idle=Idle.from_dict(idle) if idle is not None else None,
            trials=tuple(Trial.from_dict(t) for t in m["trials"]),
            summary=Summary.from_dict(summary) if summary is not None else None,
            gate=GateOutcome.from_dict(gate) if gate is not None else None,
            quality=Quality(**quality) if quality is not None else None,
            notes=tuple(m["notes"]),
            skip_reason=m.get("skip_reason"),
            stopped_by=m.get("stopped_by"),
            placement=Placement(placement["strategy"], placement["device_map"]) if placement else None,
        )
