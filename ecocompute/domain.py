"""The typed domain model of a submission: parsed once, after the JSON Schema check, then read by
attribute everywhere (checks, statistics, the dataset's rows, the collector's writer).

``parse`` absorbs the differences between schema versions (fields a version lacks become None), so
no other module looks at ``schema_version`` to know which keys exist. ``Submission.to_dict`` writes
the current version's layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from . import catalogue
from .engine import Engine, TokenCheck  # re-exported, as the measurement's parts below
from .measurement import (  # re-exported: the domain model is one import for its users
    GateOutcome,
    Idle,
    Measurement,
    Model,
    Placement,
    Quality,
    Summary,
    Trial,
)

__all__ = [
    "Engine",
    "Environment",
    "GateOutcome",
    "Gpu",
    "Host",
    "Idle",
    "Measurement",
    "Model",
    "Placement",
    "Protocol",
    "Quality",
    "Session",
    "Submission",
    "Summary",
    "TokenCheck",
    "Trial",
    "parse",
]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True, slots=True)
class Gpu:
    name: str
    architecture: str
    compute_capability: str
    memory_total_mib: int
    uuid_sha256: str
    count: int
    power_limit_enforced_w: float
    power_limit_default_w: float
    power_limit_max_w: float
    vbios_version: str
    persistence_mode: bool
    ecc_mode: str
    mig_mode: str


@dataclass(frozen=True, slots=True)
class Host:
    cpu_model: str
    cpu_logical_cores: int
    ram_total_gib: float
    os: str
    kernel: str


@dataclass(frozen=True, slots=True)
class Environment:
    gpu: Gpu
    driver: Mapping[str, str]  # driver_version, nvml_version, cuda_driver_version: all exact versions
    host: Host
    software: Mapping[str, str]  # package -> exact version

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpu": {f.name: getattr(self.gpu, f.name) for f in fields(self.gpu)},
            "driver": dict(self.driver),
            "host": {f.name: getattr(self.host, f.name) for f in fields(self.host)},
            "software": dict(self.software),
        }

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> Environment:
        return cls(Gpu(**e["gpu"]), dict(e["driver"]), Host(**e["host"]), dict(e["software"]))


@dataclass(frozen=True, slots=True)
class Protocol:
    prompt_source: str
    prompt_sha256: str
    prompt_tokens: int
    output_tokens: int
    warmup_min_trials: int
    warmup_max_trials: int
    warmup_settle_pct: float
    trial_min_duration_s: float
    idle_window_s: float
    energy_method: str
    sample_period_s: float
    gates: Mapping[str, Any]  # the gate thresholds as written (gates.Gates.from_mapping reads them)
    power_reading: str | None = None  # from schema 1.1.0
    interleaved: bool | None = None
    early_stop: Mapping[str, Any] | None = None  # from schema 1.2.0: rule, probability_max, confidence

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt": {"source": self.prompt_source, "sha256": self.prompt_sha256, "token_count": self.prompt_tokens},
            "output_tokens": self.output_tokens,
            "decoding": "greedy",
            "warmup": {
                "min_trials": self.warmup_min_trials,
                "max_trials": self.warmup_max_trials,
                "settle_pct": self.warmup_settle_pct,
            },
            "trial_min_duration_s": self.trial_min_duration_s,
            "idle_window_s": self.idle_window_s,
            "energy_method": self.energy_method,
            "sample_period_s": self.sample_period_s,
            "power_reading": self.power_reading,
            "gates": dict(self.gates),
        }
        if self.interleaved is not None:
            out["interleaved"] = self.interleaved
        if self.early_stop is not None:
            out["early_stop"] = dict(self.early_stop)
        return out

    @classmethod
    def from_dict(cls, p: Mapping[str, Any]) -> Protocol:
        prompt, warmup = p["prompt"], p["warmup"]
        return cls(
            prompt["source"],
            prompt["sha256"],
            prompt["token_count"],
            p["output_tokens"],
            warmup["min_trials"],
            warmup["max_trials"],
            warmup["settle_pct"],
            p["trial_min_duration_s"],
            p["idle_window_s"],
            p["energy_method"],
            p["sample_period_s"],
            dict(p["gates"]),
            p.get("power_reading"),
            p.get("interleaved"),
            p.get("early_stop"),
        )


@dataclass(frozen=True, slots=True)
class Session:
    started_at: str  # RFC 3339, UTC, ends in Z
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"started_at": self.started_at, "wall_s": self.wall_s}


@dataclass(frozen=True, slots=True)
class Submission:
    schema_version: str
    submission_id: str
    created_at: str
    collector_name: str
    collector_version: str
    handle: str
    environment: Environment
    protocol: Protocol
    measurements: tuple[Measurement, ...] = field(default=())
    session: Session | None = None  # from schema 1.2.0

    def to_dict(self) -> dict[str, Any]:
        out = {
            "schema_version": self.schema_version,
            "submission_id": self.submission_id,
            "created_at": self.created_at,
            "collector": {"name": self.collector_name, "version": self.collector_version},
            "contributor": {"handle": self.handle},
            "environment": self.environment.to_dict(),
            "protocol": self.protocol.to_dict(),
            "measurements": [m.to_dict() for m in self.measurements],
        }
        if self.session is not None:
            out["session"] = self.session.to_dict()
        return out

    def records(self, version: str) -> bool:
        """Whether this file's schema version has the fields that ``version`` introduced."""
        return _version_key(self.schema_version) >= _version_key(version)

    def with_measurements(self, measurements: tuple[Measurement, ...]) -> Submission:
        return replace(self, measurements=measurements)


def parse(doc: Mapping[str, Any]) -> Submission:
    """The domain model of a document that passed the JSON Schema (KeyError/TypeError otherwise)."""
    if doc["schema_version"] not in catalogue.SCHEMA_VERSIONS:
        raise ValueError(f"unknown schema_version {doc['schema_version']!r}")
    return Submission(
        schema_version=doc["schema_version"],
        submission_id=doc["submission_id"],
        created_at=doc["created_at"],
        collector_name=doc["collector"]["name"],
        collector_version=doc["collector"]["version"],
        handle=doc["contributor"]["handle"],
        environment=Environment.from_dict(doc["environment"]),
        protocol=Protocol.from_dict(doc["protocol"]),
        measurements=tuple(Measurement.from_dict(m) for m in doc["measurements"]),
        session=Session(**doc["session"]) if "session" in doc else None,
    )
