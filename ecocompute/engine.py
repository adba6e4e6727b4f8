"""The engine half of a measurement's record: which decoding loop produced its tokens (a catalogue engine and
the settings it implies) and how its greedy ids compared with generate()'s on the same model. The engines
themselves run in collector/engines.py; ``ecocompute.measurement`` holds the rest of a measurement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from . import catalogue


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """An engine's greedy ids for the workload compared with generate()'s on the same loaded model."""

    new_tokens: int
    equal: bool
    first_difference: int | None
    ids_sha256: str
    reference: str = catalogue.REFERENCE_ENGINE
    # From schema 1.3.0: the leading decode steps over which generate() agreed with itself (two runs,
    # and every row of each, the workload's rows being one prompt). On a GPU whose kernels are not
    # bitwise reproducible, greedy ids part at the first near-tied argmax, and no engine can be held
    # to a sequence that generate() does not reproduce itself. From 1.5.0 None (written null) where
    # the ids are equal: no bound is needed then, and the second generate() run is not made.
    reference_reproducible_steps: int | None = None

    @property
    def same_computation(self) -> bool:
        """Equal to generate()'s ids, or equal for as long as generate() reproduces itself."""
        if self.equal:
            return True
        steps, first = self.reference_reproducible_steps, self.first_difference
        return steps is not None and first is not None and first >= steps

    def to_dict(self) -> dict[str, Any]:
        # Only eco-collect writes, at the current schema version, where the key is always present.
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Engine:
    name: str  # catalogue.ENGINES
    cache_implementation: str
    compiled: bool
    cuda_graph: bool
    prefill: str
    attn_implementation: str
    token_check: TokenCheck | None = None  # None for the reference engine, and before schema 1.2.0

    @classmethod
    def of(cls, name: str, attn_implementation: str, token_check: TokenCheck | None = None) -> Engine:
        spec = catalogue.ENGINES[name]
        return cls(
            name,
            spec.cache_implementation,
            spec.compiled,
            spec.cuda_graph,
            spec.prefill,
            attn_implementation,
            token_check,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["token_check"] = self.token_check.to_dict() if self.token_check else None
        return out

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> Engine:
        if "name" not in e:  # before schema 1.2.0: generate(), compiled with the static cache
            spec = catalogue.ENGINES[catalogue.engine_of_cache(e["cache_implementation"])]
            return cls(spec.name, e["cache_implementation"], e["compiled"], False, "eager", e["attn_implementation"])
        # Before 1.2.0 the schema requires none of the fields that came with the name: a file of that
        # version may give the name alone, whose catalogue entry then says the rest (the checks judge it).
        spec = catalogue.ENGINES[e["name"]]
        check = e.get("token_check")
        return cls(
            e["name"],
            e["cache_implementation"],
            e["compiled"],
            e.get("cuda_graph", spec.cuda_graph),
            e.get("prefill", spec.prefill),
            e["attn_implementation"],
            TokenCheck(**check) if check is not None else None,
        )
