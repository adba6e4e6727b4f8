"""duplicate.near across files: a candidate's measurements that repeat or rescale those of another file of the pool
(the accepted files, then the candidates before it in holder order: run.cross_file_findings). Two kinds of evidence:
the fingerprints of fabrication.py (exact trials, digits of shapes and ratios, idle baselines, start times), and
runs of trials copied and nudged below those digits (``copied_runs``), which only a tolerance finds.

A copy nudged. The fingerprints compare digits: a whole accepted file copied as a new contributor's, every duration
and average power moved by 1e-8 (energies recomputed to whole millijoules, start times moved by 0.3 ms, idle
baselines by 1e-4), passed, rescaled by 1.02 and 0.97 or not (attack v29 X1): copies.py finds such copies inside one
file only. Four consecutive trials of a gate window step in log duration and log power (three steps each, six
numbers) as four of another file's gate window do, to CROSS_COPY_REL: a copy, nudged or rescaled, of them. Honest:
among the cross-file pairs of such runs of the real files (2.2 million pairs, every trial) and of 300 synthetic files
(11.5 million, gate windows), the closest lie 4.8e-4 and 6.8e-4 apart (the largest of the six differences); the share
within x falls as x^4 or faster from 1e-3 down (six continuous numbers: x^6 in theory). Taking it to fall as x^3 only,
a pair of runs is that close by chance about once in 10^14: a build of 12,500 files (200,000 runs, 2e10 pairs) once in
5,000. A step of zero (two equal values: a stuck reading) is left out, and so are files on a millisecond clock
(madeup.millisecond_clock), whose durations repeat honestly. Cells of twice the bound over the first step (four
lookups a run), one run a cell: time linear in the pool's runs.
A gate window copied in another order is found by its sorted steps (``copied_windows``).
Not found: a copy with noise above the bound, or fewer than four trials copied, in order or shuffled."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ecocompute import catalogue
from ecocompute.domain import Submission

from . import madeup
from .fabrication import PRINT_BYTES
from .findings import Finding, make

if TYPE_CHECKING:
    from .check import Checked

CROSS_COPY_REL = 1e-6
RUN_TRIALS = 4
# (row, the run's first trial, its three steps in log duration and log power: d1, p1, d2, p2, d3, p3)
Run = tuple[int, int, float, float, float, float, float, float]
Copied = tuple[int, int, str, int, int]  # (row, first trial, the other file, its row, its first trial)
Holder = tuple[str, int]  # (a file's path, its measurement)
# A fingerprint's first 8 bytes as one integer, the rest apart: the fingerprints are sorted on those
_HEAD = np.dtype([("head", "<u8"), ("tail", f"<V{PRINT_BYTES - 8}")])


def runs_of(sub: Submission) -> tuple[Run, ...]:
    """Every run of RUN_TRIALS consecutive trials of each gate window, by its steps (none on a millisecond clock,
    none holding a value that is not positive and finite or a step of zero)."""
    if madeup.millisecond_clock(sub.environment):
        return ()
    out: list[Run] = []
    log, measured, inf = math.log, catalogue.ROLE_MEASURED, math.inf
    for i, m in enumerate(sub.measurements):
        window = [(j, t.duration_s, t.power_avg_w) for j, t in enumerate(m.trials) if t.role == measured]
        if len(window) < RUN_TRIALS or not all(0 < d < inf and 0 < p < inf for _, d, p in window):
            continue  # a value not positive (physics names it): no run of this window
        logs = [(log(d), log(p)) for _, d, p in window]
        steps = [(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(logs)]
        for k, (s1, s2, s3) in enumerate(zip(steps, steps[1:], steps[2:], strict=False)):
            if 0.0 not in s1 and 0.0 not in s2 and 0.0 not in s3:
                out.append((i, window[k][0], *s1, *s2, *s3))
    return tuple(out)


def copied_runs(pool: Sequence[Checked], candidates: set[str]) -> dict[str, list[Copied]]:
    """For each candidate of ``pool`` (in holder order: the accepted files first), its runs (``runs_of``) that step as
    a run of a file before it does, to CROSS_COPY_REL: (row, first trial, that file, its row, its first trial).
    Cells of twice the bound over the first step, one run kept a cell: a run within the bound lies in the two by two
    cells nearest its own place."""
    within, size = CROSS_COPY_REL, 2 * CROSS_COPY_REL
    cells: dict[tuple[int, int], tuple[str, Run]] = {}
    found: dict[str, list[Copied]] = defaultdict(list)
    floor, get, setdefault = math.floor, cells.get, cells.setdefault
    for c in pool:
        runs, path = c.copy_runs, c.path
        if not runs:
            continue
        if path in candidates:
            for r in runs:
                x, y = r[2] / size, r[3] / size
                ci, cj = floor(x), floor(y)
                di, dj = (1 if x - ci >= 0.5 else -1), (1 if y - cj >= 0.5 else -1)
                for key in ((ci, cj), (ci + di, cj), (ci, cj + dj), (ci + di, cj + dj)):
                    held = get(key)
                    if (
                        held is not None
                        and held[0] != path
                        and all(abs(a - b) <= within for a, b in zip(r[2:], held[1][2:], strict=True))
                    ):
                        other = held[1]
                        found[path].append((r[0], r[1], held[0], other[0], other[1]))
                        break
        for r in runs:  # after the queries: copies inside a file are copies.py's
            setdefault((floor(r[2] / size), floor(r[3] / size)), (path, r))
    return found


# A gate window copied shuffled. The runs above follow the trials' order: the same copy with its gate window's trials
# in another order passed (attack v30 C1; copies.shuffled_copy finds it inside one file). Sorted, a window's log
# durations and log powers step alike however its trials are ordered, rescaled or not: a window of n trials whose
# 2 (n - 1) sorted steps lie within CROSS_COPY_REL of those of another file's window of n is a copy of it. Honest:
# the real files' and 100 synthetic files' gate windows (1,293; 831,211 cross-file pairs of one size) lie 3.1e-4
# apart at the closest, 300 times the bound, with eight numbers (a window of five) to agree where a run has six.
# Left out as for runs: a step of zero, and a millisecond clock.
Window = tuple[int, tuple[float, ...]]  # (row, the sorted steps of its gate window: log durations, then log powers)
WindowCopied = tuple[int, str, int]  # (row, the other file, its row)


def windows_of(sub: Submission) -> tuple[Window, ...]:
    """Each gate window of RUN_TRIALS trials or more by its sorted steps (none on a millisecond clock, none holding a
    value that is not positive and finite or a step of zero)."""
    if madeup.millisecond_clock(sub.environment):
        return ()
    out: list[Window] = []
    log, measured, inf = math.log, catalogue.ROLE_MEASURED, math.inf
    for i, m in enumerate(sub.measurements):
        window = [(t.duration_s, t.power_avg_w) for t in m.trials if t.role == measured]
        if len(window) < RUN_TRIALS or not all(0 < d < inf and 0 < p < inf for d, p in window):
            continue
        steps: list[float] = []
        for q in (0, 1):
            ranked = sorted(log(v[q]) for v in window)
            steps += [b - a for a, b in itertools.pairwise(ranked)]
        if 0.0 not in steps:
            out.append((i, tuple(steps)))
    return tuple(out)


def copied_windows(pool: Sequence[Checked], candidates: set[str]) -> dict[str, list[WindowCopied]]:
    """For each candidate of ``pool`` (in holder order), its gate windows (``windows_of``) whose sorted steps lie within
    CROSS_COPY_REL of those of a window of as many trials of a file before it: (row, that file, its row). Cells as
    ``copied_runs``', over the first step of each quantity."""
    within, size = CROSS_COPY_REL, 2 * CROSS_COPY_REL
    cells: dict[tuple[int, int, int], tuple[str, Window]] = {}
    found: dict[str, list[WindowCopied]] = defaultdict(list)
    floor = math.floor
    for c in pool:
        windows, path = c.copy_windows, c.path
        if not windows:
            continue
        if path in candidates:
            for row, steps in windows:
                half = len(steps) // 2
                x, y = steps[0] / size, steps[half] / size
                ci, cj = floor(x), floor(y)
                di, dj = (1 if x - ci >= 0.5 else -1), (1 if y - cj >= 0.5 else -1)
                for key in ((half, ci, cj), (half, ci + di, cj), (half, ci, cj + dj), (half, ci + di, cj + dj)):
                    held = cells.get(key)
                    if (
                        held is not None
                        and held[0] != path
                        and all(abs(a - b) <= within for a, b in zip(steps, held[1][1], strict=True))
                    ):
                        found[path].append((row, held[0], held[1][0]))
                        break
        for row, steps in windows:
            half = len(steps) // 2
            cells.setdefault((half, floor(steps[0] / size), floor(steps[half] / size)), (path, (row, steps)))
    return found


def foreign_holders(pool: Sequence[Checked]) -> list[dict[int, Holder]]:
    """For each file of ``pool`` (in holder order), its measurements whose fingerprints include one that another file
    holds first (the pool's files in order, each one's measurements in order): for the first such fingerprint of the
    measurement, that holder. Only a fingerprint held more than once can have another first holder: all of them
    (2.7 million at 100,000 rows, where a dict of them cost a second and 300 MB) are sorted in numpy on their first 8
    bytes, and only those sharing these (the same fingerprint, or by chance one pair in 2^64 / n^2) are looked at
    in Python, in the pool's order."""
    out: list[dict[int, Holder]] = [{} for _ in pool]
    joined = [(k, i, prints) for k, c in enumerate(pool) for i, prints in enumerate(c.fingerprints) if prints]
    if not joined:
        return out
    everything = b"".join(prints for _, _, prints in joined)
    heads = np.frombuffer(everything, dtype=_HEAD)["head"]
    order = np.argsort(heads)
    alike = heads[order[1:]] == heads[order[:-1]]
    shared = np.zeros(heads.size, dtype=bool)
    shared[order[1:][alike]] = True
    shared[order[:-1][alike]] = True
    places = np.flatnonzero(shared)  # ascending: the pool's files, their measurements, their fingerprints in order
    if not places.size:
        return out
    ends = np.cumsum([len(prints) // PRINT_BYTES for _, _, prints in joined])
    first: dict[bytes, Holder] = {}
    for place, m in zip(places.tolist(), np.searchsorted(ends, places, side="right").tolist(), strict=True):
        k, i, _ = joined[m]
        path = pool[k].path
        holder = first.setdefault(everything[place * PRINT_BYTES : (place + 1) * PRINT_BYTES], (path, i))
        if holder[0] != path:
            out[k].setdefault(i, holder)  # the measurement's first such fingerprint: places come in its order
    return out


def findings(
    c: Checked,
    seen_hash: dict[str, list[tuple[str, int]]],
    foreign: dict[int, Holder],
    copied: dict[str, list[Copied]],
    shuffled: dict[str, list[WindowCopied]],
) -> list[Finding]:
    """duplicate.near against other files (inside one file, fabrication.check reports it): one finding per other
    file whose measurements this file's repeat or rescale, by a fingerprint (``foreign``: the file's entry of
    ``foreign_holders``), else by a run copied (``copied``), else by a gate window copied in any order
    (``shuffled``)."""
    matches: dict[str, list[str]] = defaultdict(list)
    first_at: dict[str, int] = {}
    for i, (path, j) in sorted(foreign.items()):
        if len(seen_hash[c.hashes[i]]) > 1:
            continue  # an identical measurement: duplicate.measurement's
        matches[path].append(f"/measurements/{i} ~ /measurements/{j}")
        first_at.setdefault(path, i)
    out = [
        make(
            "duplicate.near",
            c.path,
            f"/measurements/{first_at[path]}/trials",
            f"trials, gate windows, idle baselines or trial start times repeat (or rescale) those of {path}: "
            f"{places(pairs)}",
        )
        for path, pairs in matches.items()
    ]
    # then one finding per other file not named yet, a run copied before a window shuffled: (row, file, pointer, what)
    later = [
        (
            i,
            path,
            f"/measurements/{i}/trials/{j}",
            f"trials {j} to {j + RUN_TRIALS - 1} step in duration and average power as those of "
            f"{path}#/measurements/{k}/trials/{first} to {first + RUN_TRIALS - 1} do, to within "
            f"{CROSS_COPY_REL:.0e}: a copy of them (nudged or rescaled), not a measurement",
        )
        for i, j, path, k, first in copied.get(c.path, ())
    ] + [
        (
            i,
            path,
            f"/measurements/{i}/trials",
            f"the gate window's durations and average powers, each sorted, step as those of {path}#/measurements/"
            f"{k} do, to within {CROSS_COPY_REL:.0e}: a copy of that window in another order (nudged or "
            "rescaled), not a measurement",
        )
        for i, path, k in shuffled.get(c.path, ())
    ]
    named = set(matches)
    for i, path, pointer, message in later:
        if path in named or len(seen_hash[c.hashes[i]]) > 1:
            continue
        named.add(path)
        out.append(make("duplicate.near", c.path, pointer, message))
    return out


SHOWN_PLACES = 5  # places a message names; the rest are counted


def places(items: Sequence[str], shown: int = SHOWN_PLACES, total: int | None = None) -> str:
    """The first ``shown`` of ``items`` and how many more (``total``: all of them, where ``items`` holds
    the first ones only)."""
    total = len(items) if total is None else total
    more = f" and {total - shown} more" if total > shown else ""
    return ", ".join(items[:shown]) + more
