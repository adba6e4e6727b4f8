"""The quality gates: defined once, used by the collector and the validator alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Gates:
    min_trials: int = 5
    max_trials: int = 40
    throughput_cv_max_pct: float = 2.0
    power_cv_max_pct: float = 5.0
    energy_per_token_cv_max_pct: float = 5.0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Gates:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})  # type: ignore[arg-type]

    def looser_than(self, reference: Gates) -> list[str]:
        """Names of thresholds that are less strict than ``reference``."""
        looser = []
        if self.min_trials < reference.min_trials:
            looser.append("min_trials")
        for name in ("throughput_cv_max_pct", "power_cv_max_pct", "energy_per_token_cv_max_pct"):
            if getattr(self, name) > getattr(reference, name):
                looser.append(name)
        return looser


DEFAULT_GATES = Gates()

# Gate names in the order they are reported.
GATE_NAMES = ("min_trials", "throughput_cv", "power_cv", "energy_per_token_cv")


def evaluate(summary: Mapping[str, float] | None, gates: Gates) -> dict[str, object]:
    """Gate outcome for a summary: {"passed": bool, "failed": [gate names]}."""
    if summary is None:
        return {"passed": False, "failed": ["min_trials"]}
    failed = []
    if summary["trials"] < gates.min_trials:
        failed.append("min_trials")
    if not summary["throughput_tok_s_cv_pct"] < gates.throughput_cv_max_pct:
        failed.append("throughput_cv")
    if not summary["power_w_cv_pct"] < gates.power_cv_max_pct:
        failed.append("power_cv")
    if not summary["energy_per_token_j_cv_pct"] < gates.energy_per_token_cv_max_pct:
        failed.append("energy_per_token_cv")
    return {"passed": not failed, "failed": failed}
