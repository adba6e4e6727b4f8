"""The warm-up rule, defined once: eco-collect runs it (``collector/runner.py``), eco-validate replays it
over a file's trials (``validator/replay.py``, protocol.warmup and protocol.trial_duration) and
``benchmarks/sweep_replay.py`` re-runs its sizing. Spelled in each of them, a change to one side alone
made the validator refuse the collector's honest files, or accept what the collector never writes.

The first warm-up runs one request; a warm-up shorter than ``FULL_SIZE_FRACTION`` of the protocol's
trial minimum is not full size, and the requests of the next trial are sized at its time per request to
last that minimum. Warm-up has settled when a full-size warm-up's throughput agrees with the one
before it within the protocol's settle percentage; it ends there from the protocol's least number of
warm-ups on, and at its most warm-ups in any case (``ended``).
"""

from __future__ import annotations

import math
from typing import Literal

# Why warm-up ended: a full-size warm-up settled, or the most warm-ups the protocol allows ran (unsettled).
Ending = Literal["settled", "budget"]

# A warm-up at least this share of trial_min_duration_s is full size: not resized again. Under 1.0: a
# trial sized to the minimum at one warm-up's speed runs a little shorter when the next is faster.
FULL_SIZE_FRACTION = 0.9


def full_size(duration_s: float, trial_min_s: float) -> bool:
    """Whether a warm-up that lasted ``duration_s`` is full size under a protocol's ``trial_min_s``."""
    return duration_s >= FULL_SIZE_FRACTION * trial_min_s


def requests_for(trial_min_s: float, request_s: float) -> int:
    """The requests of the trial after a warm-up that was not full size: enough, at that warm-up's time
    per request ``request_s``, to last ``trial_min_s`` (one at the least)."""
    return max(1, math.ceil(trial_min_s / request_s))


def settled(previous_tok_s: float, last_tok_s: float, settle_pct: float) -> bool:
    """Whether two consecutive warm-ups' throughputs agree within ``settle_pct`` percent of the larger."""
    return abs(last_tok_s - previous_tok_s) / max(previous_tok_s, last_tok_s) * 100.0 < settle_pct


def ended(warmups: int, min_trials: int, max_trials: int, full: bool, settled: bool) -> Ending | None:
    """Whether warm-up ends after its ``warmups``-th trial (``full``: that trial is full size; ``settled``: it
    settled), and why; None while it goes on. Settling ends it from ``min_trials`` on, ``max_trials`` always."""
    if warmups >= min_trials and full and settled:
        return "settled"
    if warmups >= max_trials:
        return "budget"
    return None
