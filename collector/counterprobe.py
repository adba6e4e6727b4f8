"""The energy counter's step, timed at the start with the board idle: how often it moves, and in words why a
counter that moves too coarsely (or not at all, or whose reads fail) is not used. The reads are the NVML
adapter's (``Nvml.energy_j``); nothing here talks to NVML."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from .errors import NvmlError

# The energy counter's step, timed at the start: polled this often, until it changed this many times more than
# once, for this long at most. The counter steps every 0.1 s on the boards measured so far (the H100 probed:
# validator.physics.COUNTER_STEP_S); a board whose counter steps more coarsely than COUNTER_STEP_MAX_S has its
# energy integrated from the sampled power. Runner's STILL_S (0.5 s) thus spans two steps at the least.
STEP_POLL_S = 0.005
STEP_CHANGES = 3
STEP_LIMIT_S = 2.0
COUNTER_STEP_MAX_S = 0.25


@dataclass(frozen=True)
class CounterProbe:
    """What ``probe`` saw: each board's change times, and how many polls it made and NVML failed."""

    changes: list[list[float]]
    reads: int
    failed: int

    def step_s(self) -> float | None:
        """The median time between changes on the board whose counter moves least often; None where a board's
        changed STEP_CHANGES times or fewer (or no two reads were had)."""
        if not self.changes or any(len(c) <= STEP_CHANGES for c in self.changes):
            return None
        return max(statistics.median(b - a for a, b in itertools.pairwise(c)) for c in self.changes)

    def describe(self, step: float | None) -> str:
        """Why the counter is not used, as it was seen: coarse steps, too few moves, or reads that failed."""
        validate = "eco-validate allows for steps of 0.1 s"
        lost = f"{self.failed} of {self.reads} reads failed; " if self.failed else ""
        if not self.changes:  # fewer than two reads were had
            if self.failed == self.reads:
                return f"failed every read ({self.reads}) in {STEP_LIMIT_S:g} s at idle, so its steps were not timed"
            return (
                f"was read only once in {STEP_LIMIT_S:g} s at idle ({self.failed} of {self.reads} reads failed), "
                "too few to time its steps"
            )
        if step is not None:
            return f"moved every {step:.2f} s at idle ({lost}{validate})"
        moves = min(len(c) for c in self.changes)
        if moves == 0:
            return f"did not move in {STEP_LIMIT_S:g} s at idle ({lost}{validate})"
        slowest = min(self.changes, key=len)
        every = (
            f", about every {statistics.median(b - a for a, b in itertools.pairwise(slowest)):.2f} s"
            if moves > 1
            else ""
        )
        times = "once" if moves == 1 else f"{moves} times"
        return f"moved only {times} in {STEP_LIMIT_S:g} s at idle{every} ({lost}{validate})"


def probe(read: Callable[[], list[float]], now: Callable[[], float], sleep: Callable[[float], None]) -> CounterProbe:
    """Poll the energy counters (``read``: each board's, J) every STEP_POLL_S until each board's changed more than
    STEP_CHANGES times, for STEP_LIMIT_S at most. A read NVML fails is skipped (a change across it still counts)."""
    start, last, reads, failed = now(), None, 0, 0
    changes: list[list[float]] = []
    while now() - start < STEP_LIMIT_S and not (changes and all(len(c) > STEP_CHANGES for c in changes)):
        reads += 1
        try:
            reading = read()
        except NvmlError:
            reading, failed = None, failed + 1
        t = now()
        if reading is not None:
            if last is not None:
                changes = changes or [[] for _ in reading]
                for times, a, b in zip(changes, last, reading, strict=True):
                    times += [t] if a != b else []
            last = reading
        sleep(STEP_POLL_S)
    return CounterProbe(changes, reads, failed)
