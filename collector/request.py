"""What a contributor asked for: one run request, and the protocol knobs of the trial loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ecocompute.catalogue import STATE_DIR
from ecocompute.gates import DEFAULT_EARLY_STOP, DEFAULT_GATES, EarlyStop, Gates


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
