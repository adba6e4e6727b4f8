"""How fast the host's load average can fall: the kernel's 1-minute average is an exponential average of
the runnable tasks, updated every 5 s (Linux kernel/sched/loadavg.c: ``load = load * EXP_1 + active *
(FIXED_1 - EXP_1)`` with EXP_1 = 1884 of FIXED_1 = 2048, every LOAD_FREQ = 5 s and a tick; macOS and
psutil's emulation on Windows keep exp(-5/60) = 0.9200 of it every 5 s). With no task runnable it keeps
1884/2048 of its value each update, so over any time it keeps at least that to the power of the updates
in it: a load of 0.94 read 22 s before a 0.0, or a 60 between two readings near 1, was not read.

eco-collect reads it after each trial's window ends (collector/runner.py, host_signals after the energy
counter, unchanged since the first collector commit b8cfd7c), and before the next trial starts: so two
readings lie at most from the end of the first trial to the start of the trial after the second (the
session's end after the last) apart. Rises are not bounded: any number of tasks may become runnable.
Each reading is judged against every one before it too (the highest of them decayed to it, its lag and
rounding counted once): a fall cut into many steps, each inside its own pair's allowance, is the whole
fall (review 28: 8.0 to 0.23 in 40 s of 2-s trials passed pair by pair).

Every pair of consecutive readings in the real files (2,674 pairs; eco-collect 0.2.0-0.6.0) reads at
least 1.19 x the least this allows (the closest: 1.29 then 1.19 4.3 s later; 1.0 then 1884/2048 = 0.9199
3.9 s later, one update with nothing runnable, 1.20 x); judged against all earlier readings, at least
1.29 x (both recomputed in review 28).
"""

from __future__ import annotations

import math

from ecocompute.domain import Submission

from .findings import Finding, make
from .groups import Span
from .readings import COLLECTOR

DECAY_PER_UPDATE = 1884 / 2048  # Linux's EXP_1: the least of the systems' (macOS, Windows: 0.9200)
UPDATE_PERIOD_S = 5.0  # LOAD_FREQ: 5 s and one tick
# A reading may lag the kernel's updates (with every CPU idle no tick updates it: the first tick after
# wakes up catches up on the missed ones), so two more updates than the time holds are allowed.
LAGGED_UPDATES = 2
# /proc/loadavg prints hundredths, rounded (a libc that parses it): each reading within 0.005, and
# each update rounds down by under one step of 1/2048.
PRINT_ROUNDING = 0.01
STEP = 1 / 2048
# Over any number of updates the truncations lose less than STEP x (1 + 0.92 + 0.92^2 ...) = 1/164: what a
# chain of readings is allowed once (each pair alone is allowed a step an update, and its own lag and
# rounding, which a fall spread over many trials seconds apart would otherwise spend again and again).
CHAIN_LOSS = STEP / (1 - DECAY_PER_UPDATE)


def least_after(load: float, seconds: float) -> float:
    """The least a load average of ``load`` can read ``seconds`` later (rounding and lag allowed)."""
    # beyond an hour nothing is left to bound (0.92^720 < 1e-26); no infinity reaches floor()
    updates = math.floor(min(max(0.0, seconds), 3600.0) / UPDATE_PERIOD_S) + 1 + LAGGED_UPDATES
    return load * DECAY_PER_UPDATE**updates - updates * STEP - PRINT_ROUNDING


def _decayed(load: float, seconds: float) -> float:
    """``load`` after ``seconds`` of the kernel's decay at its steady rate (no lag, no rounding)."""
    return load * DECAY_PER_UPDATE ** (min(max(0.0, seconds), 3600.0) / UPDATE_PERIOD_S)


def check(sub: Submission, file: str, spans: list[Span], session_end_s: float) -> list[Finding]:
    """Every reading against the one before it in time (skipping trials that read none), and against
    all before it at once: the highest of them decayed to now, its lag and rounding counted once, so a
    fall cut into steps each inside its pair's allowance is judged as the whole fall. ``spans``: the
    timed trials in order of start; ``session_end_s``: the latest the last reading can have been taken."""
    if sub.collector_name != COLLECTOR:  # another collector reads it when it reads it: provenance.collector
        return []
    out = []
    before: tuple[float, float, int, int] | None = None  # (load, trial end, row, trial) of the last reading
    # the earlier readings' highest decayed to the latest trial end so far: (value, that end, the reading)
    chain: tuple[float, float, tuple[float, float, int, int]] | None = None
    for n, (_, end, i, j) in enumerate(spans):
        load = sub.measurements[i].trials[j].cpu_load_1m
        if load is None:
            continue
        if before is not None and chain is not None:
            read_by = spans[n + 1][0] if n + 1 < len(spans) else session_end_s
            earlier, earlier_end, k, m = before
            least = least_after(earlier, read_by - earlier_end)
            value, at, source = chain
            # the steady decay's exponent is the pair's floor() + 1 at most: LAGGED_UPDATES + 1 more
            whole = _decayed(value, read_by - at) * DECAY_PER_UPDATE ** (1 + LAGGED_UPDATES) - CHAIN_LOSS
            if whole - PRINT_ROUNDING > least:
                least, (earlier, earlier_end, k, m) = whole - PRINT_ROUNDING, source
            seconds = read_by - earlier_end
            if load < least:
                out.append(
                    make(
                        "physics.host_load",
                        file,
                        f"/measurements/{i}/trials/{j}/host/cpu_load_1m",
                        f"load average {load:.2f}, read at most {seconds:.1f} s after {earlier:.2f} (trial {m} of "
                        f"/measurements/{k}): the kernel's 1-minute average keeps 1884/2048 of its value every 5 s "
                        f"with nothing running, so it cannot have fallen below {max(0.0, least):.2f}",
                    )
                )
                chain = None  # the fall is named once: the readings after it are judged from it
        before = (load, end, i, j)
        if chain is None:
            chain = (load, end, before)
        else:
            value, at, source = chain
            later = max(at, end)  # a trial ending before another's end (overlap: protocol.session_time) waits
            value = _decayed(value, later - at)
            chain = (load, later, before) if load >= value else (value, later, source)
    return out
