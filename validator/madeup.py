"""Trials made by hand rather than measured: every one of a window rounded to a few decimals, or one lying on the
line through two others (a mean or an extension of them); a file whose every idle baseline, or every trial's start
time, is rounded. fabrication.py names them all fabrication.too_regular.
A window is a list of ``fabrication._raw`` tuples: (duration_s, energy_j, power_avg_w)."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

import numpy as np

from ecocompute import catalogue
from ecocompute.domain import Environment, Submission

MIN_VALUES = 3  # fabrication.MIN_SHAPE_VALUES: fewer trials have no shape
_Raw = tuple[float, float, float]

# Trials after warm-up are not rounded: eco-collect's durations are differences of a nanosecond clock, its average
# power an integral over the window divided by that duration, neither on a grid of 10^-4 (a nanosecond reading lands on
# one once in 10^5; every trial of a window of 3 or more, once in 10^15). A window typed or rounded by hand to a
# few decimals (power to the watt, durations to the centisecond, the sampler's energy recomputed from them)
# passed every other rule (attack v27). The real files' windows: none has every duration or power on a grid finer
# than 10^-6. Counter energies are whole millijoules by nature: not judged here.
ROUNDED_PLACES = 4
ROUNDED_SLACK = 1e-6  # of a grid step: a float written with that many decimals and read back
# ... except on Windows before Python 3.13, where eco-collect's clock (time.monotonic: GetTickCount64) reads whole
# milliseconds in 15.625-ms ticks (fabrication.COARSE_TOLERANCE_S): every duration there is t1 - t0 of two such
# readings, on the grid of 10^-3 s, and one in ten of them on 10^-2 s (review37 F1: every row of an honest
# Windows file was refused). Its durations are then no evidence; its powers are still judged.
_WINDOWS_HOST = re.compile(r"Windows\b")
_PYTHON = re.compile(r"(\d+)\.(\d+)")
FINE_MONOTONIC_FROM = (3, 13)  # QueryPerformanceCounter on Windows: a microsecond or finer


def millisecond_clock(environment: Environment) -> bool:
    """Whether eco-collect's clock reads whole milliseconds where this file says it ran: Windows (``os``, which
    eco-collect writes as ``platform.system()`` and release there: no /etc/os-release) with Python before 3.13."""
    version = _PYTHON.match(environment.software.get("python", ""))
    old = version is None or (int(version[1]), int(version[2])) < FINE_MONOTONIC_FROM
    return old and _WINDOWS_HOST.match(environment.host.os) is not None


# ... nor is a trial made from two others: a weighted mean (or an extension) of their durations and powers lies on
# the line through them in the (duration, power) plane, each quantity scaled by its window's spread. Honest trials
# do so by chance only: in the real files' and 200 synthetic files' 199,449 triples of trials after warm-up, the
# two closest directions from one trial to two others lie 2.1e-6 rad apart; a mean of two trials computed in
# floats, within about 1e-13 (attack v27: a measured trial replaced by such a mean passed every rule).
COLLINEAR_RAD = 1e-10
# The chance grows with the window: 2 x COLLINEAR_RAD / pi a triple, C(n, 3) triples. At 1,000 trials after warm-up
# (an honest --max-trials 1000 row that never passed its gates) that is 1.7e8 triples: one honest window in 70
# refused, one in 30 where duration and power move together (review37 F2, /work/notes/review37/chance_collinear.py).
# Beyond COLLINEAR_FULL_TRIALS the bound shrinks as the triples grow, a window's chance staying that of 100 trials
# (1e-5); at 1,000 trials (1e-13 rad) it still holds nine in ten means of two computed in floats.
COLLINEAR_FULL_TRIALS = 100


def collinear_rad(n: int) -> float:
    """How close to one line three of ``n`` trials must lie to be taken for made (COLLINEAR_RAD, less past
    COLLINEAR_FULL_TRIALS)."""
    return COLLINEAR_RAD * min(1.0, math.comb(COLLINEAR_FULL_TRIALS, 3) / math.comb(n, 3))


def rounded(after: Sequence[_Raw], durations: bool = True) -> tuple[str, int] | None:
    """The first of duration and average power (``_raw``'s 0 and 2) that every trial holds rounded to at most
    ROUNDED_PLACES decimals, and to how many (None: none is). ``durations``: whether they are judged (not for a
    ``millisecond_clock``'s)."""
    for q in (0, 2) if durations else (2,):
        if (places := places_of([r[q] for r in after])) is not None:
            return ("duration_s", "energy_j", "power_avg_w")[q], places
    return None


def places_of(values: Sequence[float]) -> int | None:
    """The fewest decimals (at most ROUNDED_PLACES) to which every value is rounded; None: more."""
    for places in range(ROUNDED_PLACES + 1):
        scale = 10.0**places
        if all(abs(v * scale - round(v * scale)) <= ROUNDED_SLACK for v in values):
            return places
    return None


# A file's idle baselines (each the energy counter's whole millijoules over an idle window timed by that clock, or
# the sampler's integral over it, divided by its duration: in every release) and its trials' start times (readings
# of that clock less the session's first) are no more rounded: every one on a grid of 10^-4 only by hand (attack
# v27 N3: idle rounded to the watt, starts to the millisecond, passed). Judged over the whole file, as rows of one
# model load share a baseline: at least MIN_IDLE distinct baselines (a row's before and after; 2 x 10^-6 each by
# chance), MIN_STARTS starts (10^-5 each). Not from a ``millisecond_clock``: its starts are whole milliseconds, and
# counter millijoules over a window of whole milliseconds (5,000 ms: steps of 0.2 mW) may lie on any grid. The real
# files' and valid fixtures' 404 idle baselines and 3,346 start times: none on a grid of 10^-4 but the synthetic
# fixtures' first starts (6.0; the rest of each file is not), one real start on 10^-6 (chance). Idle only where
# the counter measured it: a sampler's integral over a window whose readings stood at one whole-mW value is that
# value, on a grid of 10^-3 (review38 F4: a board without a counter, vGPU, WSL2, whose reading updates slowly).
MIN_IDLE = 2
MIN_STARTS = 5


def rounded_in_file(sub: Submission) -> list[tuple[str, str]]:
    """(pointer, what) for the file's idle baselines and for its trials' start times where every one is rounded."""
    if millisecond_clock(sub.environment):
        return []
    out, idle = [], {}
    counter = sub.protocol.energy_method == catalogue.ENERGY_COUNTER
    for i, m in enumerate(sub.measurements):
        for v in (m.idle.power_before_w, m.idle.power_after_w) if m.idle is not None and counter else ():
            if v is not None:
                idle.setdefault(float(v), f"/measurements/{i}/idle")
    if len(idle) >= MIN_IDLE and (places := places_of(list(idle))) is not None:
        what = (
            f"the file's {len(idle)} idle baselines (power_before_w, power_after_w) are every one rounded to {places} "
            "decimal place(s): typed or rounded by hand (eco-collect's idle power is the energy counter's millijoules "
            "over a window its clock times in nanoseconds, or the sampler's integral over it)"
        )
        out.append((next(iter(idle.values())), what))
    starts = [t.started_at_s for m in sub.measurements for t in m.trials if t.started_at_s is not None]
    if len(starts) >= MIN_STARTS and (places := places_of(starts)) is not None:
        where = next(f"/measurements/{i}/trials" for i, m in enumerate(sub.measurements) if m.trials)
        what = (
            f"the file's {len(starts)} trial start times (started_at_s) are every one rounded to {places} decimal "
            "place(s): typed or rounded by hand (eco-collect's clock reads nanoseconds)"
        )
        out.append((where, what))
    return out


# Below this many trials a loop in Python is faster than numpy's calls (7 trials, the usual window: 9 against 22
# us; even at 12). From it on every trial's directions are ranked at once, in blocks of rows (memory: NUMPY_BLOCK
# x n floats a temporary), and only a row holding a close pair goes back to the loop: a row of 1,000 trials (the
# schema's budget) takes 0.02 s instead of 0.14 s, which made a 5-MB file of such rows take 1.8 s to validate
# (benchmarks/validate_worst_case.py).
NUMPY_FROM = 16
NUMPY_BLOCK = 128


def interpolated(after: Sequence[_Raw], numpy_from: int = NUMPY_FROM) -> tuple[int, int, int] | None:
    """Three trials (their places in ``after``) whose (duration, power) points lie on one line to ``collinear_rad``:
    for each trial, the directions to the later ones, sorted, two of them alike (O(n^2 log n), not every triple).
    Directions along an axis (a value equal to another's) are left to the rules on equal values. The first
    such trial, then the first pair of its directions in sorted order, (angle, place) breaking ties.
    ``numpy_from``: the window's size from which rows are screened in numpy (NUMPY_FROM; tests set it)."""
    if len(after) < MIN_VALUES:
        return None
    durations, powers = [r[0] for r in after], [r[2] for r in after]
    d_span, p_span = max(durations) - min(durations), max(powers) - min(powers)
    if d_span <= 0 or p_span <= 0:
        return None
    within = collinear_rad(len(after))
    rows = range(len(after) - 2) if len(after) < numpy_from else _close_rows(durations, powers, d_span, p_span, within)
    for i in rows:
        ranked = sorted(
            (math.atan2((powers[j] - powers[i]) / p_span, (durations[j] - durations[i]) / d_span) % math.pi, j)
            for j in range(i + 1, len(after))
            if durations[j] != durations[i] and powers[j] != powers[i]
        )
        if not ranked:
            continue
        around = [*ranked, (ranked[0][0] + math.pi, ranked[0][1])]  # a direction near 0 is one near pi
        for (a, j), (b, k) in itertools.pairwise(around):
            if j != k and b - a <= within:
                return (i, *sorted((j, k)))
    return None


def _close_rows(durations: list[float], powers: list[float], d_span: float, p_span: float, within: float) -> list[int]:
    """The trials among whose directions to later trials two lie ``within`` radians, in numpy: the same
    arithmetic as ``interpolated``'s loop, so the rows it finds are the rows that loop would."""
    d, p = np.array(durations), np.array(powers)
    n, found = d.size, []
    for start in range(0, n - 2, NUMPY_BLOCK):
        i = np.arange(start, min(start + NUMPY_BLOCK, n - 2))[:, None]
        dd, dp = d[None, :] - d[i], p[None, :] - p[i]
        angles = np.arctan2(dp / p_span, dd / d_span) % math.pi
        angles[(np.arange(n)[None, :] <= i) | (dd == 0) | (dp == 0)] = np.nan  # later trials off the axes only
        angles.sort(axis=1)  # NaN last
        valid = n - np.isnan(angles).sum(axis=1)
        close = (np.diff(angles, axis=1) <= within).any(axis=1)  # NaN compares false
        rows = np.flatnonzero(valid > 0)
        wrap = angles[rows, 0] + math.pi - angles[rows, valid[rows] - 1] <= within  # near 0 is near pi
        close[rows[wrap]] = True
        found.extend(int(r) + start for r in np.flatnonzero(close))
    return found
