"""What a contributor asked for: one run request, and the protocol knobs of the trial loop."""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from ecocompute import reference
from ecocompute.catalogue import ENGINE_CHOICES, IDLE_WINDOW_FLOOR_S, PRECISIONS, STATE_DIR
from ecocompute.gates import DEFAULT_EARLY_STOP, DEFAULT_GATES, EarlyStop, Gates
from validator.contract import load_schema

from .errors import CollectError, CollectOptionError

# The checks below run where the arguments are parsed (click's usage error, before NVML is touched)
# and again when a request is built (the library entry, collect()): whatever they refuse would
# otherwise fail only after the whole measurement, or in its arithmetic.


def _node(*path: str) -> Any:
    """The submission schema's object at ``path``."""
    node = load_schema()
    for key in path:
        node = node[key]
    return node


@functools.lru_cache(maxsize=8)
def _rule(*path: str) -> tuple[dict[str, Any], jsonschema_rs.Draft202012Validator]:
    """The submission schema's own rule at ``path`` (one without references), applied by the validator's
    engine, so that a value accepted here is one the written file is accepted with."""
    rule = _node(*path)
    return rule, jsonschema_rs.Draft202012Validator(rule)


def _maximum(definition: str, *fields: str) -> int | float:
    """The submission schema's maximum for a field of one of its definitions: an option above it would
    be refused only when the finished file is checked."""
    return _node("$defs", definition, *(step for name in fields for step in ("properties", name)))["maximum"]


def measurement_maximum(name: str) -> int | float:
    """The schema's maximum for a measurement field (``batch_size``)."""
    return _maximum("measurement", name)


def session_wall_maximum() -> int | float:
    """The schema's maximum for session.wall_s: the longest a run, resumed or not, may last."""
    return _node("properties", "session", "properties", "wall_s")["maximum"]


def protocol_maximum(*path: str) -> int | float:
    """The schema's maximum for a protocol field (``"gates", "max_trials"``)."""
    return _maximum("protocol", *path)


def check_handle(handle: str) -> str:
    """``handle`` if the submission schema accepts it as contributor.handle; ValueError otherwise. It
    also names the output folder and starts the submission id, so nothing else may pass."""
    rule, validator = _rule("properties", "contributor", "properties", "handle")
    if not validator.is_valid(handle):
        raise ValueError(
            f"{handle[:60]!r} is not a handle the submission schema accepts (contributor.handle must match "
            f"{rule['pattern']}): give your GitHub login"
        )
    return handle


def check_model(model_id: str) -> str:
    """``model_id`` if the schema accepts it as a Hub id (owner/name) and the reference table knows it:
    eco-validate refuses a file of any other model, so its run would be lost (reference.unknown_model)."""
    rule, validator = _rule("$defs", "measurement", "properties", "model", "properties", "id")
    if not validator.is_valid(model_id):
        raise ValueError(
            f"{model_id[:80]!r} is not a Hub model id the submission schema accepts (owner/name, matching "
            f"{rule['pattern']})"
        )
    if model_id not in reference.default().models:
        raise ValueError(
            f"{model_id!r} is not in the reference table of models (ecocompute/reference/models.json), so "
            "eco-validate would refuse its file after the run: add its row there first, with its config.json as source"
        )
    return model_id


def check_gpus(gpus: Sequence[int]) -> Sequence[int]:
    """GPU indexes: at least one, none negative, none twice (a board named twice is counted twice in
    every window's energy, and the file fails its physics checks after the run)."""
    shown = repr(",".join(map(str, gpus))[:40])
    if not gpus or min(gpus) < 0:
        raise ValueError(f"{shown}: expected GPU indexes >= 0")
    most = _node("$defs", "trial", "properties", "energy_per_gpu_j")["maxItems"]
    if len(gpus) > most:
        raise ValueError(f"{shown}: {len(gpus)} GPUs; a submission records at most {most}")
    repeated = sorted(g for g, n in Counter(gpus).items() if n > 1)  # linear: the list comes from a command line
    if repeated:
        raise ValueError(f"{shown}: GPU {', '.join(map(str, repeated))} is named more than once: name each GPU once")
    return gpus


# --output-tokens' range in every release (validator.releases records it; eco-validate refuses others).
OUTPUT_TOKENS_MAX = 4096
WEIGHTS = ("pretrained", "random")
SCHEDULES = ("auto", "interleaved", "sequential")


def _once(values: Sequence[Any], what: str) -> None:
    repeated = [v for v, n in Counter(values).items() if n > 1]  # linear: the list comes from a command line
    if repeated:
        raise ValueError(f"{what} {', '.join(map(str, repeated))} is named more than once: name each once")


def _known(values: Sequence[str], what: str, choices: Sequence[str]) -> None:
    unknown = [str(v) for v in values if v not in choices]
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(choices)}")


def check_precisions(precisions: Sequence[str]) -> Sequence[str]:
    """Precision labels of the catalogue, each once."""
    _known(precisions, "precision", list(PRECISIONS))
    _once(precisions, "precision")
    return precisions


def check_engines(engines: Sequence[str]) -> Sequence[str]:
    """Engines of the catalogue, each once; auto alone (it chooses the engine per precision)."""
    _known(engines, "engine", ENGINE_CHOICES)
    if "auto" in engines and len(engines) > 1:
        raise ValueError("auto chooses the engine per precision: give it alone, or name the engines")
    _once(engines, "engine")
    return engines


def check_batch_sizes(sizes: Sequence[int]) -> Sequence[int]:
    """Batch sizes: integers from 1 to the schema's maximum, each once."""
    shown = repr(",".join(map(str, sizes))[:40])
    if any(type(b) is not int or b < 1 for b in sizes):  # a bool is an int to Python, not to the schema
        raise ValueError(f"{shown}: expected integers >= 1")
    most = measurement_maximum("batch_size")
    if max(sizes, default=1) > most:
        raise ValueError(f"{shown}: the submission schema takes batch sizes up to {most}")
    _once(sizes, "batch size")
    return sizes


def check_revision(revision: str | None, weights: str) -> str | None:
    """A --revision that names something, and only for pretrained weights (random ones record 'config-only')."""
    if revision is not None and not revision.strip():  # an unset shell variable: not the Hub's default branch
        raise ValueError(f"{revision!r} names no branch, tag or commit; give one, or leave --revision out")
    if revision is not None and weights == "random":
        raise ValueError(
            "--revision names a commit of pretrained weights; random weights are built from the architecture alone "
            "(their file records 'config-only'): leave --revision out, or measure --weights pretrained"
        )
    return revision


def _finite_positive(owner: object, names: Sequence[str]) -> None:
    for name in names:
        value = getattr(owner, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise CollectError(f"{type(owner).__name__}.{name} is {value!r}: expected a finite number > 0")


@dataclass(frozen=True)
class TrialPlan:
    """The protocol knobs of the trial loop (recorded in the submission's protocol)."""

    warmup_min: int = 2
    # 2: the first warm-up sizes the trial (one request) and the second runs at full size. A third only
    # ever helped where the second disagreed with the sizing trial, and the gate window slides past a
    # measured trial that is still warming up anyway; on a drifting host, host-bound engines never
    # settle and the third was pure cost (45 s of the H100 Mistral-7B default sweep of 2026-11-23).
    warmup_max: int = 2
    settle_pct: float = 2.0
    # 4 s: CUDA-graph decoding on the lent H100 spread 0.2-1.2 % between 10-s trials and 0.4-0.9 % between
    # 3-s ones (issue 13's probe); the energy counter steps every 0.1 s (2.5 % of a 4-s trial at worst,
    # unbiased; energy-per-token CV 0.5-1.0 % in 5-s trials, against a 5 % gate), and a 20-s gate window
    # is exposed to less host drift than a 25-s one. The 15-minute default sweep of a 7B model needs it:
    # with 5-s trials and 3 warm-ups that sweep took 974 s on the H100 (trials 716 s of it; fp16 on
    # generate at 3.7-5.2 s a request was sized to two requests, 10-s trials).
    trial_min_s: float = 4.0
    idle_window_s: float = 5.0
    max_config_s: float = 600.0  # a configuration's own time (its trials and idle windows), not wall time
    gates: Gates = DEFAULT_GATES
    early_stop: EarlyStop = DEFAULT_EARLY_STOP

    def __post_init__(self) -> None:
        _finite_positive(self, ("settle_pct", "trial_min_s", "idle_window_s", "max_config_s"))
        if self.idle_window_s < IDLE_WINDOW_FLOOR_S:  # eco-validate refuses the file (protocol.idle_window)
            raise CollectError(f"TrialPlan.idle_window_s is {self.idle_window_s}: at least {IDLE_WINDOW_FLOOR_S} s")


@dataclass(frozen=True)
class RunRequest:
    """One `eco-collect run`: a model, its precisions x engines x batch sizes, and where to write."""

    model_id: str
    precisions: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    engines: tuple[str, ...] = ("auto",)  # catalogue.ENGINE_CHOICES
    handle: str = "anonymous"
    weights: str = "pretrained"  # or "random": the architecture built with random weights
    revision: str | None = None
    config_path: Path | None = None
    output_tokens: int = 128
    prompt_tokens: int = 64  # for random weights: seeded token ids of this length
    seed: int = 0
    sample_period_s: float = 0.05
    gpus: tuple[int, ...] = (0,)
    plan: TrialPlan = field(default_factory=TrialPlan)
    out_dir: Path = Path("submissions")
    state_dir: Path = Path(STATE_DIR)
    resume: bool = False
    quality: str | None = None  # 'wikitext' or a text file: perplexity per precision, outside energy windows
    pin_cpu: bool = False  # opt-in: on the lent H100 it did not lower the noise (CV 5.5 % unpinned vs 9.5 % pinned)
    schedule: str = "auto"  # auto: interleave the configurations when all precisions fit in GPU memory at once

    def __post_init__(self) -> None:
        """The command line's checks again, for the library entry (collect()): a request the command line refuses
        was measured in full and refused at its end, or failed in transformers, when built here."""
        if self.config_path is not None and self.weights != "random":
            raise CollectOptionError("RunRequest.config_path builds an architecture for random weights only")
        for name in ("precisions", "batch_sizes", "engines"):
            if not getattr(self, name):
                raise CollectOptionError(f"RunRequest.{name} is empty: name at least one")
        _finite_positive(self, ("sample_period_s",))
        for name, choices in (("weights", WEIGHTS), ("schedule", SCHEDULES)):
            if getattr(self, name) not in choices:
                raise CollectOptionError(
                    f"RunRequest.{name} is {getattr(self, name)!r}: expected one of {', '.join(choices)}"
                )
        for name, top in (("output_tokens", OUTPUT_TOKENS_MAX), ("prompt_tokens", None)):
            value = getattr(self, name)
            if type(value) is not int or value < 1 or (top is not None and value > top):
                expected = f"an integer from 1 to {top}" if top else "an integer >= 1"
                raise CollectOptionError(f"RunRequest.{name} is {value!r}: expected {expected}")
        configurations = len(self.precisions) * len(self.batch_sizes) * len(self.engines)
        most = _node("properties", "measurements")["maxItems"]
        if configurations > most:
            raise CollectOptionError(
                f"{configurations:,} configurations (precisions x batch sizes x engines); a submission holds at "
                f"most {most:,} measurements: split the run"
            )
        try:
            check_model(self.model_id)
            check_precisions(self.precisions)
            check_engines(self.engines)
            check_batch_sizes(self.batch_sizes)
            check_revision(self.revision, self.weights)
            check_handle(self.handle)
            check_gpus(self.gpus)
        except ValueError as exc:
            raise CollectOptionError(f"RunRequest: {exc}") from None

    def run_key_fields(self) -> dict[str, object]:
        """What identifies the run for --resume (not where it writes or who measures)."""
        return {
            "model_id": self.model_id,
            "precisions": list(self.precisions),
            "batch_sizes": list(self.batch_sizes),
            "engines": list(self.engines),
            "weights": self.weights,
            "revision": self.revision,
            "config_path": str(self.config_path) if self.config_path else None,
            "output_tokens": self.output_tokens,
            "prompt_tokens": self.prompt_tokens,
            "seed": self.seed,
            "sample_period_s": self.sample_period_s,
            "gpus": list(self.gpus),
            "plan": repr(self.plan),
            "quality": self.quality,
            "schedule": self.schedule,
        }
