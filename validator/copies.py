"""Trials copied inside one file and nudged below any sensor's noise, which fingerprints of rounded digits miss: one
trial twice (fabrication.repeated_trials), or a run of trials another's rescaled (duplicate.near; within its own row,
fabrication.too_regular). fabrication.py calls them for every row, on its ``_raw`` tuples (duration_s, energy_j,
power_avg_w), not where the clock reads whole milliseconds (madeup.millisecond_clock)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from .findings import Finding, make

_Raw = tuple[float, float, float]

# A trial copied from another and nudged. The same trial twice (fabrication.repeated_trials) is found by its
# key, 6 significant digits, which a copy crosses once its energy is moved by a few mJ (the counter's whole
# millijoules): a row whose last trial was replaced by a copy of the one before, its duration and power moved by
# 1e-9 and its energy by 10 mJ, passed (attack v28 R1). Two trials of a file whose durations and average powers both
# agree to NEAR_COPY_REL are one trial twice. In the real files', valid fixtures' and 60 synthetic files' 274,159
# pairs of trials of one file, the closest agree to 6.4e-5 (the larger of the two differences); among the 33,593
# pairs of one row, the share within x falls as 1.2e4 x^2 (4 pairs within 1e-4, 38 within 3e-4, 297 within 1e-3),
# so at 1e-7 a pair is alike by chance about once in 10^10. Beyond NEAR_COPY_FULL_PAIRS pairs in the file the
# bound shrinks as their square root, a file's chance staying under 10^-6 (5e-9 for a 2,000-trial row). Not on a
# millisecond_clock, whose durations repeat honestly. Cells of the bound in log duration and log power: two trials
# that close lie in neighbouring cells, and a cell holds one trial until one is found: time linear in the trials.
NEAR_COPY_REL = 1e-7
NEAR_COPY_FULL_PAIRS = math.comb(100, 2)
Cell = tuple[int, int]
Place = tuple[int, int, float, float]  # (row, trial, log duration, log power)


def near_copy_rel(trials: int) -> float:
    """How close two of a file's ``trials`` trials must be in duration and power to be one trial twice."""
    return NEAR_COPY_REL * min(1.0, math.sqrt(NEAR_COPY_FULL_PAIRS / max(1, math.comb(trials, 2))))


Logs = list[tuple[float, float] | None]  # a row's trials' log duration and log power (None: not both positive)


def logs_of(raws: Sequence[_Raw]) -> Logs:
    """Each trial's (log duration, log power) of its ``_raw`` numbers; None where either is not a positive number."""
    log = math.log
    return [(log(d), log(p)) if 0 < d < math.inf and 0 < p < math.inf else None for d, _, p in raws]


def near_copy(logs: Logs, row: int, cells: dict[Cell, Place], within: float) -> tuple[int, int, int] | None:
    """The first trial of row ``row`` (its ``logs_of``) whose duration and average power agree to ``within``
    (``near_copy_rel``) with a trial seen before in the file, as (its place, the other's row and place); None:
    none. ``cells`` holds the file's trials seen so far (this row's are added)."""
    floor, get = math.floor, cells.get
    for j, point in enumerate(logs):
        if point is None:
            continue
        ld, lp = point
        ci, cj = floor(ld / within), floor(lp / within)
        for di, dj in _NEIGHBOURS:
            other = get((ci + di, cj + dj))
            if other is not None and abs(other[2] - ld) <= within and abs(other[3] - lp) <= within:
                return j, other[0], other[1]
        cells.setdefault((ci, cj), (row, j, ld, lp))
    return None


_NEIGHBOURS = tuple(itertools.product((0, -1, 1), repeat=2))


# A run of trials another's rescaled. duplicate.near finds a row whose trials repeat another's up to one
# factor by ratios to 9 and 12 significant digits, which a copy crosses once each value is moved by 1e-9: a file's
# int8-pure row made from its fp16 row (durations x 1.02, powers x 0.97, each moved by up to 1e-9) passed (attack
# v28 R2). Three trials in a row that step in log duration and log power by the two steps of three others (of
# another row, or elsewhere in the row) to RESCALED_REL are those rescaled. Honest: among the 166,447 pairs of such
# steps of one file in the real files, valid fixtures and 60 synthetic files, the closest lie 3.3e-4 apart (the
# largest of the four differences), 28 within 1e-3. Taking the share to fall as x^2 only (as if two of the four
# differences varied; 28 to 418 from 1e-3 to 3e-3 is steeper), RESCALED_REL is met by chance once in 10^11 pairs;
# beyond NEAR_COPY_FULL_PAIRS pairs the bound shrinks as their square root (a file's chance under 10^-7). A step of
# zero (two equal values) is left to the rules on equal values. Not on a millisecond_clock, whose durations repeat.
# Cells of the bound over the first step, with at most CELL_CAP steps a cell (one is more than chance gives): time
# linear in the trials.
RESCALED_REL = 2e-7
CELL_CAP = 4
Steps = tuple[int, int, float, float, float, float]  # (row, first trial, its two steps in log duration and power)


def rescaled_rel(trials: int) -> float:
    """How close the steps of two runs of three of a file's ``trials`` trials must be to be one rescaled."""
    return RESCALED_REL * min(1.0, math.sqrt(NEAR_COPY_FULL_PAIRS / max(1, math.comb(trials, 2))))


def rescaled_copy(logs: Logs, row: int, cells: dict[Cell, list[Steps]], within: float) -> tuple[int, int, int] | None:
    """The first trial of row ``row`` (its ``logs_of``, in order) that begins three stepping as three seen before
    do, to ``within`` (``rescaled_rel``), as (its place, the other's row and first place); None: none. ``cells``
    holds the file's steps seen so far (this row's are added)."""
    steps = [(b[0] - a[0], b[1] - a[1]) if a and b else None for a, b in itertools.pairwise(logs)]
    floor, get = math.floor, cells.get
    for j, (first, second) in enumerate(itertools.pairwise(steps)):
        if first is None or second is None or 0.0 in first or 0.0 in second:
            continue
        here = (row, j, *first, *second)
        ci, cj = floor(first[0] / within), floor(first[1] / within)
        for di, dj in _NEIGHBOURS:
            for other in get((ci + di, cj + dj), ()):
                if other[:2] != (row, j) and all(
                    abs(a - b) <= within for a, b in zip(other[2:], here[2:], strict=True)
                ):
                    return j, other[0], other[1]
        kept = cells.setdefault((ci, cj), [])
        if len(kept) < CELL_CAP:
            kept.append(here)
    return None


def copied(near: tuple[int, int, int] | None, within: float, base: str, file: str) -> Finding | None:
    """A trial whose duration and power are another's, nudged (``near_copy``)."""
    if near is None:
        return None
    j, row, k = near
    return make(
        "fabrication.repeated_trials",
        file,
        f"{base}/trials/{j}",
        f"trial {j} has the duration and average power of /measurements/{row}/trials/{k} to within "
        f"{within:.1e}: a copy, not a second measurement (a timer reading nanoseconds never repeats so)",
    )


def rescaled(found: tuple[int, int, int], row: int, within: float, base: str, file: str) -> Finding:
    """Three trials stepping as three others do (``rescaled_copy``): of another row, a near-duplicate of it;
    of their own row, made from it."""
    j, other, k = found
    code = "duplicate.near" if other != row else "fabrication.too_regular"
    return make(
        code,
        file,
        f"{base}/trials/{j}",
        f"trials {j} to {j + 2} step in duration and average power as /measurements/{other}/trials/{k} to {k + 2} "
        f"do, to within {within:.1e}: a rescaled copy of them, not a measurement",
    )
