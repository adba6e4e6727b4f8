"""The quality gates and the status rule: defined once, used by the collector and the validator alike."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

from . import catalogue, stats
from .domain import GateOutcome, Summary, Trial


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
    def from_mapping(cls, data: Mapping[str, float | int]) -> Gates:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})  # type: ignore[arg-type]

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


def evaluate(summary: Summary | None, gates: Gates) -> GateOutcome:
    """Which gates a summary fails (none measured: min_trials)."""
    if summary is None:
        return GateOutcome(False, ("min_trials",))
    failed = []
    if summary.trials < gates.min_trials:
        failed.append("min_trials")
    if not summary.throughput_tok_s_cv_pct < gates.throughput_cv_max_pct:
        failed.append("throughput_cv")
    if not summary.power_w_cv_pct < gates.power_cv_max_pct:
        failed.append("power_cv")
    if not summary.energy_per_token_j_cv_pct < gates.energy_per_token_cv_max_pct:
        failed.append("energy_per_token_cv")
    return GateOutcome(not failed, tuple(failed))


def status_for(outcome: GateOutcome) -> str:
    """The one status rule for a measured configuration: ok exactly when every gate passed."""
    return catalogue.STATUS_OK if outcome.passed else catalogue.STATUS_GATE_FAILED


@dataclass(frozen=True)
class EarlyStop:
    """When a configuration that keeps failing its throughput gate stops early (see ``implausible``)."""

    probability_max: float = 0.05
    confidence: float = 0.75
    rule: str = catalogue.EARLY_STOP_RULE
    # Fewest trials at the final request count before the rule may decide. None: a file before schema
    # 1.4.0, whose rule waited for two gate windows (2 x min_trials).
    evidence_min_trials: int | None = None

    def as_dict(self) -> dict[str, float | str | int]:
        out = asdict(self)
        if self.evidence_min_trials is None:
            del out["evidence_min_trials"]
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, float | str | int]) -> EarlyStop:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})  # type: ignore[arg-type]

    def evidence_needed(self, gates: Gates) -> int:
        # The spread of fewer than three trials says nothing (stats.short_term_cv).
        return max(3, 2 * gates.min_trials if self.evidence_min_trials is None else self.evidence_min_trials)


# One gate window and two trials more: a configuration whose two warm-ups ran at the final size (its
# sizing trial was already full size: long requests, as on host-bound engines) is judged on its first
# full window; one whose sizing trial was resized, on a later one. The chi2 interval already widens for so few trials; the
# spread of 2-3 % that might still pass is rarely stopped (simulated below, ``implausible``).
DEFAULT_EARLY_STOP = EarlyStop(evidence_min_trials=DEFAULT_GATES.min_trials + 2)


def implausible(trials: Sequence[Trial], gates: Gates, early_stop: EarlyStop) -> bool:
    """True when passing has become implausible for a configuration whose trials (in order) are
    ``trials``: a full gate window of trials past warm-up exists and fails the throughput gate, there
    are at least ``early_stop.evidence_needed`` trials at the final size (warm-ups of that size count:
    they sample the same trial-to-trial spread), and even with that spread (``stats.short_term_cv``) at
    the optimistic end of its interval the next window would pass with a probability below
    ``early_stop.probability_max``.

    Simulated on normal noise (400 runs each, gate 2 %, window 5, budget 40;
    ``benchmarks/early_stop_simulation.py --warmups N``), with the default evidence of 7 trials and
    eco-collect 0.5.0's two warm-ups both at the final size: a spread of 2 % is stopped 0.2 % of the
    time, 3 %: 10 %, 5 %: 68 %, 8 %: 96 % (after 8.5 trials on average); one of them at the final size
    (the sizing trial resized): 0.5 %, 11 %, 66 %, 96 % (after 8.5); with 3 at the final size
    (eco-collect 0.3.0-0.4.0 at most): 0.2 %, 9 %, 67 %, 97 % (after 9.7); with the 10 trials that
    schemas 1.2.0-1.3.0 required (2 warm-ups): 0 %, 5 %, 62 %, 95 % (after 11.2)."""
    n = gates.min_trials
    window = [t.throughput_tok_s for t in trials if not t.is_warmup][-n:]
    if len(window) < n or stats.cv_pct(window) < gates.throughput_cv_max_pct:
        return False
    size = trials[-1].requests  # trials are resized during warm-up only
    evidence = [t.throughput_tok_s for t in trials if t.requests == size]
    if len(evidence) < early_stop.evidence_needed(gates):
        return False
    chance = stats.window_pass_probability(evidence, n, gates.throughput_cv_max_pct, early_stop.confidence)
    return chance < early_stop.probability_max


class ImplausibleAfter:
    """``implausible(trials[:end], gates, early_stop)`` asked for a rising ``end``, in time linear in
    the trials over all questions: the early-stop replay (validator/replay.py) asks after every trial of
    a row, and asked anew each question read every trial so far and sorted their differences (a row of
    gates.max_trials = 1,000 trials: half a million reads and a thousand sorts; 11 such rows in a 5-MB
    file took a second). The same floats in the same order, so the same answers: the throughputs past
    warm-up, the evidence at the last trial's size in trial order, and its consecutive differences kept
    sorted (bisect) as trials are appended. A falling ``end`` or a new size starts that part again."""

    def __init__(self, trials: Sequence[Trial], gates: Gates, early_stop: EarlyStop) -> None:
        self._trials, self._gates, self._early_stop = trials, gates, early_stop
        self._end = 0
        self._post: list[float] = []  # throughputs past warm-up of trials[:end]
        self._size: int | None = None  # the request count the evidence is of
        self._evidence: list[float] = []  # throughputs of trials[:end] at that size, in order
        self._differences: list[float] = []  # |consecutive differences| of the evidence, sorted

    def __call__(self, end: int) -> bool:
        trials = self._trials
        if end < self._end or end > len(trials):
            return implausible(trials[:end], self._gates, self._early_stop)
        size = trials[end - 1].requests if end else None
        if size != self._size:  # the evidence of another size: read again from the first trial
            self._size, self._evidence, self._differences = size, [], []
            self._add_evidence(0, self._end)
        for t in trials[self._end : end]:
            if not t.is_warmup:
                self._post.append(t.throughput_tok_s)
        self._add_evidence(self._end, end)
        self._end = end
        n = self._gates.min_trials
        window = self._post[-n:]
        if len(window) < n or stats.cv_pct(window) < self._gates.throughput_cv_max_pct:
            return False
        if len(self._evidence) < self._early_stop.evidence_needed(self._gates):
            return False
        spread = stats.short_term_cv_of(self._differences, self._evidence)
        chance = stats.pass_probability(spread, n, self._gates.throughput_cv_max_pct, self._early_stop.confidence)
        return chance < self._early_stop.probability_max

    def _add_evidence(self, start: int, end: int) -> None:
        for t in self._trials[start:end]:
            if t.requests == self._size:
                value = t.throughput_tok_s
                if self._evidence:
                    bisect.insort(self._differences, abs(value - self._evidence[-1]))
                self._evidence.append(value)
