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
from ecocompute.domain import Environment, Submission, Trial

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
# Windows file was refused). A window's durations are then judged only where they are finer than that clock reads
# (4 decimals: no such clock gives them); its powers are still judged. The file's durations and starts together
# are judged on a coarser grid (``rounded_in_file``).
MILLISECOND_PLACES = 3
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


def rounded(after: Sequence[_Raw], clock_ms: bool = False, stuck: bool = False) -> tuple[str, int] | None:
    """The first of duration and average power (``_raw``'s 0 and 2) that every trial holds rounded to at most
    ROUNDED_PLACES decimals, and to how many (None: none is). ``clock_ms``: the durations come from a
    ``millisecond_clock`` (judged only at 4 decimals, finer than it reads); ``stuck``: every power is a reading
    that stood still (``stuck_power``: judged only at whole watts)."""
    if (places := places_of([r[0] for r in after])) is not None and (not clock_ms or places > MILLISECOND_PLACES):
        return "duration_s", places
    if (places := places_of([r[2] for r in after])) is not None and (not stuck or places == 0):
        return "power_avg_w", places
    return None


# NVML reads power in whole milliwatts: a window whose every reading (and the two neighbours its ends interpolate
# from) stood at one value has that value for its average, on the grid of 10^-3 W, and for its peak (review37 F3:
# a board whose power reading, the ``nvml_power_usage`` fallback, updates more slowly than a trial lasts; no real
# file shows it). A window of such trials is judged only at whole watts: distinct whole-mW values all on it by
# chance once in 10^3 each, and the spread rule leaves no window of one value.
_INSTANT_FIELD = catalogue.POWER_READINGS[0]
STUCK_RELATIVE = 1e-9  # the trapezoid's fsum over one value, divided by the duration: within a few ulps of it


def _stuck(t: Trial) -> bool:
    return t.power_reading != _INSTANT_FIELD and abs(t.power_avg_w - t.power_peak_w) <= STUCK_RELATIVE * t.power_peak_w


def stuck_power(trials: Sequence[Trial]) -> bool:
    """Whether every one of ``trials`` has its average power equal to its peak (a reading that never moved), read
    otherwise than from NVML's instant field (which moves every sample)."""
    return bool(trials) and all(map(_stuck, trials))


# ... and such a reading, standing still through two trials one after the other, is one value in both: when a
# trial ends eco-collect asks the sampler for its window, which first takes a reading (collector/sampler.py
# ``_serve``), after the trial's end and before the next trial starts. That reading is the first after the one
# window and the last before the other, or the next window's first (either way the neighbour each window's end
# interpolates from, or inside it), so a value that moved between the two moved the average of one of them off its
# peak. Only readings inside the gap, the value moving between them, part them: the gap's share of the time the
# reading stands still (more than a trial: 0.1 s against at least the 0.5 s of a half-length trial, 4e-3 at the
# real files' 8 ms median against 2 s, a pair). A forger who sets each trial's peak to its made-up average, rounded
# to the tenth of a watt (judged at whole watts only: ``rounded``), gives back-to-back trials values of their own
# (attack v30 S1). A file holding MIN_STUCK_APART such pairs, each within STUCK_GAP_S (a longer gap, most of a row's:
# protocol.trial_gap), is refused, where they are most of the back-to-back pairs that hold a reading that stood still.
# That share is the forger's mark, not the count: a reading that stands still longer than a trial but less than two
# (held 1.5 s, trials of 1 s: --trial-min-s 1) leaves no two trials one value, so each update that falls between two
# of the gap's readings (a gap of 40-95 ms holds the window's reading and one or two of the sampler's) parts a pair;
# eco-collect driven so refused 3 honest files of 40 (a simulation through its summarize_window: 8-40 % of files of
# 100 trials where the reading holds 1.5-4 s), every such pair apart, yet few of the back-to-back pairs that hold a
# reading that stood still: the trials beside such a pair moved (review42). A forger's every trial stands still, its
# every pair apart.
STUCK_GAP_S = 0.1
MIN_STUCK_APART = 3


def stuck_apart(sub: Submission) -> list[tuple[str, str]]:
    """(pointer, what) where MIN_STUCK_APART pairs of trials that follow one another within STUCK_GAP_S (of any rows:
    one board set, one sampler) each read a power that stood still, one value in one and another in the next, and
    they are more than half of such back-to-back pairs of which one trial or both read a power that stood still; the
    first pair named."""
    timed = [
        (t.started_at_s, t.started_at_s + t.duration_s, i, j, _stuck(t), t.power_peak_w)
        for i, m in enumerate(sub.measurements)
        for j, t in enumerate(m.trials)
        if t.started_at_s is not None
    ]
    if sum(span[4] for span in timed) < 2:  # no pair without two stuck trials: nothing to sort
        return []
    close = [
        (a, b) for a, b in itertools.pairwise(sorted(timed)) if (a[4] or b[4]) and 0.0 <= b[0] - a[1] < STUCK_GAP_S
    ]
    apart = [(a, b) for a, b in close if a[4] and b[4] and round(a[5] * 1e3) != round(b[5] * 1e3)]
    if len(apart) < MIN_STUCK_APART or 2 * len(apart) <= len(close):
        return []
    (_, _, i, j, _, first), (_, _, k, n, _, second) = apart[0]
    what = (
        f"{len(apart)} of {len(close)} pairs of trials one right after the other (one or both reading a power that "
        "stood still all trial long: average equal to peak, not NVML's instant field) each stood still yet differ: "
        f"/measurements/{i}/trials/{j} reads {first} "
        f"W and /measurements/{k}/trials/{n}, next, {second} W. eco-collect reads the power once between two trials "
        "(when a window ends), and a reading that stood still gives that one value to both: typed by hand"
    )
    return [(f"/measurements/{k}/trials/{n}/power_avg_w", what)]


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


# A file from a ``millisecond_clock`` has every duration and start on the grid of 10^-3 s, and its idle may lie on
# any grid: a Windows claim left them all unjudged (review37 F1). By hand, such values are typed to the centisecond
# or coarser. Of that clock's values one in 9 lies on 10^-2 s (GetTickCount64's 15.625-ms ticks: k ticks read
# 15.625 k ms rounded either way, on the grid for every k of 16k, three in eight of 16k + 7 and 16k + 9; a 1-ms clock:
# one in 10), and distinct values less often together: a window's durations lie one or two ticks apart, never both
# on the grid (/work/notes/leftovers39/windows_grid_by_n.py: the real files re-read by such clocks, 2 distinct values
# of a window 7.6e-3, 3 none in 132,054, against 0.11^n). So the file's distinct durations after warm-up, and its
# distinct intervals between starts, are judged at 2 decimals from MIN_DISTINCT_MS on: an honest file, at most
# (1/8)^7 = 5e-7. A value's repeats say nothing (a steady trial reads one tick count again and again).
COARSE_PLACES = 2
MIN_DISTINCT_MS = 7


def _on_millisecond_clock(sub: Submission) -> list[tuple[str, str]]:
    """(pointer, what) for a ``millisecond_clock``'s file whose durations or starts are all coarser than it reads,
    or whose starts are finer (4 decimals)."""
    out = []
    rows = [i for i, m in enumerate(sub.measurements) if m.trials]
    durations = {t.duration_s for m in sub.measurements for t in m.trials if not t.is_warmup}
    places = places_of(list(durations)) if len(durations) >= MIN_DISTINCT_MS else None
    if places is not None and places <= COARSE_PLACES:
        what = (
            f"the file's {len(durations)} distinct trial durations after warm-up (duration_s) are every one "
            f"rounded to {places} decimal place(s): typed or rounded by hand (its clock, Windows' before Python "
            "3.13, reads whole milliseconds, one in about 9 of them on a grid of 10 ms)"
        )
        out.append((f"/measurements/{rows[0]}/trials", what))
    starts = sorted(t.started_at_s for m in sub.measurements for t in m.trials if t.started_at_s is not None)
    steps = {b - a for a, b in itertools.pairwise(starts)}
    places = places_of(starts) if len(starts) >= MIN_STARTS else None
    finer = places is not None and places > MILLISECOND_PLACES
    if places is None or not (finer or (places <= COARSE_PLACES and len(steps) >= MIN_DISTINCT_MS)):
        return out
    why = "finer than" if finer else f"its {len(steps)} distinct intervals coarser than"
    what = (
        f"the file's {len(starts)} trial start times (started_at_s) are every one rounded to {places} decimal "
        f"place(s), {why} its clock reads (Windows' before Python 3.13: whole milliseconds): typed or rounded by hand"
    )
    return [*out, (f"/measurements/{rows[0]}/trials", what)]


def rounded_in_file(sub: Submission) -> list[tuple[str, str]]:
    """(pointer, what) for the file's idle baselines and for its trials' start times where every one is rounded
    (on a ``millisecond_clock``: ``_on_millisecond_clock``)."""
    if millisecond_clock(sub.environment):
        return _on_millisecond_clock(sub)
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
    Directions along an axis (a value equal to another's) are left to the rules on equal values, and a second
    trial at one point (``_earlier_twin``) to those on repeated trials. The first
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
    twin = _earlier_twin(durations, powers)
    for i in rows:
        ranked = sorted(
            (math.atan2((powers[j] - powers[i]) / p_span, (durations[j] - durations[i]) / d_span) % math.pi, j)
            for j in range(i + 1, len(after))
            if durations[j] != durations[i] and powers[j] != powers[i] and twin[j] <= i
        )
        if not ranked:
            continue
        around = [*ranked, (ranked[0][0] + math.pi, ranked[0][1])]  # a direction near 0 is one near pi
        for (a, j), (b, k) in itertools.pairwise(around):
            if j != k and b - a <= within:
                return (i, *sorted((j, k)))
    return None


def _earlier_twin(durations: list[float], powers: list[float]) -> list[int]:
    """For each trial the last earlier one at the same (duration, power) point, -1 if none. From a trial before
    both, two trials at one point give one direction: repeated-trial evidence (``fabrication._repeated``), not a
    third on the line through two (review37 F4: the message said interpolated); the later of them is left out."""
    last: dict[tuple[float, float], int] = {}
    out = []
    for j, point in enumerate(zip(durations, powers, strict=True)):
        out.append(last.get(point, -1))
        last[point] = j
    return out


def _close_rows(durations: list[float], powers: list[float], d_span: float, p_span: float, within: float) -> list[int]:
    """The trials among whose directions to later trials two lie ``within`` radians, in numpy: the same
    arithmetic as ``interpolated``'s loop, so the rows it finds are the rows that loop would."""
    d, p = np.array(durations), np.array(powers)
    n, found = d.size, []
    twin = np.array(_earlier_twin(durations, powers))
    for start in range(0, n - 2, NUMPY_BLOCK):
        i = np.arange(start, min(start + NUMPY_BLOCK, n - 2))[:, None]
        dd, dp = d[None, :] - d[i], p[None, :] - p[i]
        angles = np.arctan2(dp / p_span, dd / d_span) % math.pi
        # later trials off the axes only, each point once
        angles[(np.arange(n)[None, :] <= i) | (dd == 0) | (dp == 0) | (twin[None, :] > i)] = np.nan
        angles.sort(axis=1)  # NaN last
        valid = n - np.isnan(angles).sum(axis=1)
        close = (np.diff(angles, axis=1) <= within).any(axis=1)  # NaN compares false
        rows = np.flatnonzero(valid > 0)
        wrap = angles[rows, 0] + math.pi - angles[rows, valid[rows] - 1] <= within  # near 0 is near pi
        close[rows[wrap]] = True
        found.extend(int(r) + start for r in np.flatnonzero(close))
    return found
