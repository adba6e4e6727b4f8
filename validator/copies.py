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


def _shrunk(bound: float, trials: int) -> float:
    """``bound`` for a file of ``trials`` trials: shrunk as the square root of its pairs past NEAR_COPY_FULL_PAIRS."""
    return bound * min(1.0, math.sqrt(NEAR_COPY_FULL_PAIRS / max(1, math.comb(trials, 2))))


def near_copy_rel(trials: int) -> float:
    """How close two of a file's ``trials`` trials must be in duration and power to be one trial twice."""
    return _shrunk(NEAR_COPY_REL, trials)


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
    return _shrunk(RESCALED_REL, trials)


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


# ... and a row another's rescaled and shuffled: the sorted values keep their gaps (in log duration and log power,
# each sorted on its own), so two consecutive gaps of each at one place of the sorting are those of the copy's
# source, to the same bound (RESCALED_REL, shrunk alike). Honest: among 146,820 pairs of such points of two rows of
# one file (real files, valid fixtures, 60 synthetic files) the closest lie 9.1e-5 apart, 1 within 1e-4 and 51
# within 3e-4: at the x^2 assumed above, one in 10^10 pairs. Only between rows; cells over the two power gaps.


def shuffled_copy(logs: Logs, row: int, cells: dict[Cell, list[Steps]], within: float) -> tuple[int, int, int] | None:
    """The first place k in row ``row``'s sorted values (its ``logs_of``) whose two gaps in log duration and in log
    power are those at some place of another row seen before, to ``within``, as (k, the other row, its place);
    None: none (fewer than three trials, a gap of zero). ``cells`` holds the file's sorted gaps seen so far."""
    points = [p for p in logs if p is not None]
    if len(points) < 3:
        return None
    durations, powers = sorted(p[0] for p in points), sorted(p[1] for p in points)
    gd = [b - a for a, b in itertools.pairwise(durations)]
    gp = [b - a for a, b in itertools.pairwise(powers)]
    floor, get, found = math.floor, cells.get, None
    for k in range(len(gd) - 1):
        here = (row, k, gp[k], gp[k + 1], gd[k], gd[k + 1])
        if 0.0 in here[2:]:
            continue
        ci, cj = floor(gp[k] / within), floor(gp[k + 1] / within)
        for di, dj in _NEIGHBOURS:
            for other in get((ci + di, cj + dj), ()):
                if other[0] != row and all(abs(a - b) <= within for a, b in zip(other[2:], here[2:], strict=True)):
                    found = found or (k, other[0], other[1])
        kept = cells.setdefault((ci, cj), [])
        if len(kept) < CELL_CAP:
            kept.append(here)
    return found


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


def rescaled(
    in_order: tuple[int, int, int] | None,
    shuffled: tuple[int, int, int] | None,
    row: int,
    within: float,
    base: str,
    file: str,
) -> Finding | None:
    """Three trials stepping as three others do (``rescaled_copy``): of another row, a near-duplicate of it; of
    their own row, made from it. Else a row's sorted values spaced as another's (``shuffled_copy``)."""
    if in_order is not None:
        j, other, k = in_order
        return make(
            "duplicate.near" if other != row else "fabrication.too_regular",
            file,
            f"{base}/trials/{j}",
            f"trials {j} to {j + 2} step in duration and average power as /measurements/{other}/trials/{k} to "
            f"{k + 2} do, to within {within:.1e}: a rescaled copy of them, not a measurement",
        )
    if shuffled is not None:
        k, other, place = shuffled
        return make(
            "duplicate.near",
            file,
            f"{base}/trials",
            f"its durations and average powers, each sorted, are spaced from place {k} on (counted from 0) as those "
            f"of /measurements/{other} from place {place}, to within {within:.1e}: a rescaled copy in another order",
        )
    return None
