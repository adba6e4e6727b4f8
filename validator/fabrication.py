"""Fabricated and duplicated numbers inside one file, and the fingerprints that find them across files.

A trial's key is its continuous raw numbers (duration, energy, average power) rounded to 6 significant
digits: two honest trials never share one (each number carries timer, counter and sampler noise far
above 1e-6), while a copy keeps it whatever the GPU uuid, notes, order or int/float spelling. A
measurement's fingerprints are the set of its gate window's keys and, per quantity, the sorted ratios of
its window's values to their largest at 9 significant digits: a copy multiplied by any factor keeps
those; and, for a copy of part of a window, each trial's key and each two consecutive trials' ratios. Across files, a measurement's idle baseline is a fingerprint too: its two averages are floats of many
digits, which a copier who adds noise to the trials tends to leave as they were (inside one file,
measurements of one model load share their baseline, so it is no evidence there). So are its trials'
start times (``timing_prints``): nanosecond readings of the session's clock, which a copier who
re-noises every energy, power and duration tends to keep, as they are or shifted by one amount.
What no number can catch: a copy with fresh noise of its own added to every value, times included.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import struct
from collections.abc import Iterable, Sequence
from operator import attrgetter

from ecocompute import catalogue
from ecocompute.cli import first_few
from ecocompute.domain import Measurement, Submission

from . import copies, madeup, tokenhashes
from .findings import Finding, make

KEY_DIGITS = 6
SHAPE_DIGITS = 9
MIN_SHAPE_VALUES = 3
MIN_SHAPE_SPREAD = 1e-6  # a window whose values agree this closely has no shape to copy
_QUANTITIES = ("duration_s", "energy_j", "power_avg_w")
# Sensor-driven numbers of honest trials spread far more than this: the H100 files' least spread of
# average power over a gate window was 0.30 % (coefficient of variation), of energy 0.20 %. A window
# whose values all lie within 0.001 % of each other was typed, not measured (durations are left out:
# a very steady GPU may repeat a fixed amount of work to a few microseconds).
MIN_SENSOR_SPREAD = 1e-5
_SENSOR_QUANTITIES = ("energy_j", "power_avg_w")
MIN_PROGRESSION_VALUES = 4  # at least two equal steps in a row: one alone could be a coincidence


_KEY_FORMAT = "|".join([f"%.{KEY_DIGITS - 1}e"] * 3)
_SHAPE_FORMAT = f"%.{SHAPE_DIGITS - 1}e"
# Two trials' ratios lie within a few per cent of 1 in every file: at SHAPE_DIGITS a million pairs
# (a dataset of 150,000 rows) would hold about one honest collision; a rescaled copy keeps them to the
# last digits a float has.
PAIR_DIGITS = 12
_PAIR_FORMAT = ",".join([f"%.{PAIR_DIGITS - 1}e"] * 2)  # duration and power (_pair)
# A trial across files is compared exactly: its three numbers packed as doubles (every double apart, an int and
# its float alike, as 17 digits spelt them, without spelling three floats a trial). At KEY_DIGITS, as inside a
# file, honest trials of one configuration collide by chance once there are many: counter energies are whole
# millijoules, so 529.215 J reads alike in two sessions, and 12,500 synthetic files of a few configurations held
# a pair of honest trials equal in all three numbers.
_exact = struct.Struct("<3d").pack
# A fingerprint: the first PRINT_BYTES of the sha256 of its kind and text (96 bits), as bytes, a measurement's joined
# in one object for the run over files (``check.Checked.fingerprints``, ``nearfiles.foreign_holders``).
PRINT_BYTES = 12
# A trial's _QUANTITIES in one C call: every rule here reads them, 17 fingerprints a measurement.
_raw = attrgetter(*_QUANTITIES)
_Raw = tuple[float, float, float]


def _digest(kind: str, text: str) -> bytes:
    return _digests(kind, (text.encode(),))[0]


def _digests(kind: str, payloads: Iterable[bytes]) -> list[bytes]:
    """The fingerprint of each of ``payloads``: one call a kind, not one a payload (four a trial, 700,000
    trials a build)."""
    prefix, sha256 = f"{kind}:".encode(), hashlib.sha256
    return [sha256(prefix + payload).digest()[:PRINT_BYTES] for payload in payloads]


def _texts(kind: str, texts: Iterable[str]) -> list[bytes]:
    """``_digests`` of each of ``texts``, UTF-8."""
    return _digests(kind, map(str.encode, texts))


@functools.lru_cache(maxsize=64)
def _shape_format(count: int) -> str:
    """One format for ``count`` values: a single % for the string, not one a value and a join."""
    return ",".join([_SHAPE_FORMAT] * count)


def _shape(values: Sequence[float]) -> str | None:
    if len(values) < MIN_SHAPE_VALUES:
        return None
    low, high = min(values), max(values)
    if low <= 0 or high / low - 1 < MIN_SHAPE_SPREAD:
        return None
    return _shape_format(len(values)) % tuple([v / high for v in sorted(values)])


def _pair(a: _Raw, b: _Raw) -> str | None:
    """The ratios of two trials' duration and power (``_raw``: indexes 0 and 2), at PAIR_DIGITS: what
    a copy of the pair keeps when each quantity is rescaled by its own factor (None: a zero, which
    physics names). Not the energy's: a rescaled counter energy is rounded back to whole millijoules
    (readings.py), which moves its ratio in the seventh digit."""
    if a[0] <= 0 or a[2] <= 0 or b[0] <= 0 or b[2] <= 0:
        return None
    return _PAIR_FORMAT % (b[0] / a[0], b[2] / a[2])


def _fingerprints(m: Measurement, raws: list[_Raw], keys: Sequence[str], clock_ms: bool = False) -> list[bytes]:
    """Fingerprints of a measurement (empty for a skipped one), given each trial's ``_raw`` numbers: its gate
    window's, every trial's exact numbers and every two consecutive trials' ratios (``_pair``). The last two find a
    copy of part of a window (four of its five trials beside a made-up one change the window's prints), as they are
    or rescaled. ``clock_ms``: no duration shape, as a millisecond_clock reads steady rows' trials in one or two
    tick counts, alike in two rows of one speed (fp16 and bf16) by chance (fphunt2 F1)."""
    if not m.trials:
        return []
    out = []
    window = [(k, r) for k, r, t in zip(keys, raws, m.trials, strict=True) if t.role == catalogue.ROLE_MEASURED]
    if window:
        out.append(_digest("window", "/".join(sorted(k for k, _ in window))))
        columns = list(zip(*(r for _, r in window), strict=True))
        for q in _judged(clock_ms):
            if (shape := _shape(columns[q])) is not None:
                out.append(_digest(_QUANTITIES[q], shape))
    out += _digests("trial", [_exact(*r) for r in raws])
    pairs = map(_pair, raws, raws[1:])
    out += _texts("pair", [p for p in pairs if p is not None])
    return out


def idle_print(m: Measurement) -> list[bytes]:
    """The idle baseline's fingerprint, for the run over files; none for round numbers (which another
    session may read alike) or a missing second window."""
    idle = m.idle
    if idle is None or idle.power_after_w is None:
        return []
    pair = (float(idle.power_before_w), float(idle.power_after_w))
    if any(v.is_integer() for v in pair):
        return []
    return [_digest("idle", f"{pair[0]!r}/{pair[1]!r}")]


# Start times: each two consecutive starts exactly, and each TIMING_RUN consecutive intervals between
# starts at the microsecond (a copy shifted by one amount keeps those). An interval is a trial's
# duration and the gap after it (others' trials, in an interleaved file): sessions of one configuration
# differ in them by milliseconds (timer, clock and host noise), so four at once collide by chance about
# once in 1e16; two honest sessions never share a start to the nanosecond.
TIMING_RUN = 4
_INTERVAL = "%.6f"  # a run of TIMING_RUN of them, joined by "|", is one fingerprint
# A clock that reads whole milliseconds has no such noise to give: time.monotonic, eco-collect's clock,
# moves in 15.625-ms ticks on Windows before Python 3.13 (GetTickCount64), so two honest sessions of one
# schedule read the same intervals (their millisecond jitter rounds away) and often the same starts.
# Intervals within COARSE_TOLERANCE_S of whole milliseconds (float error: starts are differences of
# readings near the machine's uptime) are such a clock's; a nanosecond clock's all fall there by chance
# about once in 50,000 ** (trials - 1).
COARSE_TOLERANCE_S = 1e-8


def _coarse(steps: Sequence[float]) -> bool:
    """Whether every interval between starts is a whole number of milliseconds (a coarse clock's)."""
    tolerance_ms = COARSE_TOLERANCE_S * 1e3
    return all(abs(d * 1e3 - round(d * 1e3)) <= tolerance_ms for d in steps)


def timing_prints(m: Measurement) -> list[bytes]:
    """Fingerprints of a measurement's trial start times, for the run over files (none before schema
    1.2.0, which had no start times, nor from a clock that reads whole milliseconds: ``_coarse``)."""
    starts = [t.started_at_s for t in m.trials]
    if len(starts) < 2 or any(s is None for s in starts):
        return []
    steps = [b - a for a, b in itertools.pairwise(starts)]
    if _coarse(steps):
        return []
    # each start and interval spelt once, though two starts and TIMING_RUN runs show it
    spelt = list(map(repr, starts))
    out = _texts("start", [f"{a}/{b}" for a, b in itertools.pairwise(spelt)])
    spelt = [_INTERVAL % d for d in steps]
    out += _texts("steps", ["|".join(spelt[i : i + TIMING_RUN]) for i in range(len(steps) - TIMING_RUN + 1)])
    return out


def _configuration(m: Measurement) -> tuple[str, ...]:
    return (m.model.id, m.model.revision, m.model.weights, m.precision, m.engine.name, str(m.batch_size))


def check(sub: Submission, hashes: Sequence[str], file: str) -> tuple[list[Finding], list[bytes]]:
    """Findings inside the file, and each measurement's fingerprints for the run over files (joined: PRINT_BYTES
    each; none for a measurement identical to an earlier one, reported here).

    A measurement identical to an earlier one of the file (same hash) is reported once per group as
    duplicate.measurement and left out of the other checks. Per measurement the strongest evidence
    alone is reported: a repeated trial, else a run without variance, else one too regular to be
    measured, else a near-duplicate."""
    findings: list[Finding] = []
    first_of: dict[str, int] = {}
    identical: dict[int, list[int]] = {}
    for i, h in enumerate(hashes):
        first = first_of.setdefault(h, i)
        if first != i:
            identical.setdefault(first, []).append(i)
    exact = {i for group in identical.values() for i in group}
    for first, group in identical.items():
        shown = first_few([f"/measurements/{i}" for i in group])
        findings.append(
            make(
                "duplicate.measurement",
                file,
                f"/measurements/{group[0]}",
                f"{shown}: identical to /measurements/{first}",
            )
        )
    configurations: dict[tuple[str, ...], int] = {}
    trial_owner: dict[str, tuple[int, int]] = {}
    fingerprint_owner: dict[bytes, int] = {}
    prints: list[list[bytes]] = []
    clock_ms = madeup.millisecond_clock(sub.environment)
    cells: dict[copies.Cell, copies.Place] = {}  # the file's trials by duration and power: copies.near_copy
    trials = sum(len(m.trials) for m in sub.measurements)
    within, rescaled_within = copies.near_copy_rel(trials), copies.rescaled_rel(trials)
    steps: dict[copies.Cell, list[copies.Steps]] = {}  # the file's runs of three trials: copies.rescaled_copy
    gaps: dict[copies.Cell, list[copies.Steps]] = {}  # the file's rows' sorted gaps: copies.shuffled_copy
    for i, m in enumerate(sub.measurements):
        base = f"/measurements/{i}"
        if i in exact:
            prints.append([])
            continue
        raws = list(map(_raw, m.trials))
        keys = [_KEY_FORMAT % r for r in raws]
        prints.append(_fingerprints(m, raws, keys, clock_ms))
        after = [r for r, t in zip(raws, m.trials, strict=True) if not t.is_warmup]
        first = configurations.setdefault(_configuration(m), i)
        if first != i:
            findings.append(
                make(
                    "duplicate.configuration",
                    file,
                    base,
                    f"the same model, revision, weights, precision, engine and batch size as /measurements/{first}",
                )
            )
        logs = [] if clock_ms else copies.logs_of(raws)  # a millisecond clock repeats durations honestly
        copied = copies.copied(copies.near_copy(logs, i, cells, within), within, base, file)
        in_order = copies.rescaled_copy(logs, i, steps, rescaled_within)
        shuffled = copies.shuffled_copy(logs, i, gaps, rescaled_within)
        evidence = (
            _repeated(keys, i, base, file, trial_owner)
            or _zero_variance(after, base, file, clock_ms)
            or _boards_alike(m, base, file)
            or _too_regular(
                after, base, file, clock_ms, madeup.stuck_power([t for t in m.trials if not t.is_warmup]), copied
            )
            or copied
        )
        if evidence is None:
            for fp in prints[i]:
                owner = fingerprint_owner.setdefault(fp, i)
                if owner != i:
                    evidence = make(
                        "duplicate.near",
                        file,
                        f"{base}/trials",
                        f"trials or the gate window repeat, or rescale, those of /measurements/{owner}",
                    )
                    break
            evidence = evidence or copies.rescaled(in_order, shuffled, i, rescaled_within, base, file)
        else:
            for fp in prints[i]:
                fingerprint_owner.setdefault(fp, i)
        if evidence is not None:
            findings.append(evidence)
    made = madeup.rounded_in_file(sub) + madeup.stuck_apart(sub)
    findings += [make("fabrication.too_regular", file, at, what) for at, what in made]
    findings += tokenhashes.within_file(sub, file)
    # the idle and timing fingerprints join after the checks inside the file: only other files judge them
    return findings, [
        b"".join(p + idle_print(m) + timing_prints(m)) if p else b""
        for p, m in zip(prints, sub.measurements, strict=True)
    ]


def _repeated(keys: list[str], i: int, base: str, file: str, owner: dict[str, tuple[int, int]]) -> Finding | None:
    found = None
    for j, key in enumerate(keys):
        first = owner.setdefault(key, (i, j))
        if first != (i, j) and found is None:
            found = make(
                "fabrication.repeated_trials",
                file,
                f"{base}/trials/{j}",
                f"trial {j} has the duration, energy and power of /measurements/{first[0]}/trials/{first[1]}",
            )
    return found


# A clock of whole milliseconds (``madeup.millisecond_clock``) reads a steady trial's duration as one tick count
# again and again, and one a tick or a millisecond apart in steps: its durations are judged neither for zero variance
# nor for a progression, and the line through two trials is drawn through them snapped to the millisecond (their
# floats differ in the last digits where they are one reading: an honest window read as a vertical line). Without
# this, the real files re-read by such a clock were refused 3 % of the time: 108 of 3,600 readings
# (/work/notes/leftovers39/windows_real.py).
def _judged(clock_ms: bool) -> range:
    """Which ``_QUANTITIES`` the equal-value and progression rules judge."""
    return range(1, len(_QUANTITIES)) if clock_ms else range(len(_QUANTITIES))


def _zero_variance(after: list[_Raw], base: str, file: str, clock_ms: bool = False) -> Finding | None:
    """``after``: the ``_raw`` numbers of the trials after warm-up."""
    if len(after) < 2:
        return None
    for q in _judged(clock_ms):
        quantity = _QUANTITIES[q]
        values = {r[q] for r in after}
        if len(values) == 1:
            return make(
                "fabrication.zero_variance",
                file,
                f"{base}/trials",
                f"all {len(after)} trials after warm-up have {quantity} = {values.pop()}: real trials differ",
            )
    return None


def _boards_alike(m: Measurement, base: str, file: str) -> Finding | None:
    """Trials after warm-up whose boards all read the same energy, in every such trial: each board has
    its own counter (or its own samples), and a sharded model's boards hold different layers, so two
    boards' energies over a window agree to the millijoule by coincidence only, never trial after trial
    (an even split of each total passed: only the sum and each board's idle bound it)."""
    after = [t.energy_per_gpu_j for t in m.trials if not t.is_warmup]
    if len(after) < 2 or any(len(e) < 2 or len(set(e)) != 1 for e in after):
        return None
    return make(
        "fabrication.zero_variance",
        file,
        f"{base}/trials",
        f"all {len(after)} trials after warm-up give each of their {len(after[0])} GPUs the same energy: "
        "each board's counter reads its own draw",
    )


def _too_regular(
    after: list[_Raw], base: str, file: str, clock_ms: bool, stuck: bool, copied: Finding | None
) -> Finding | None:
    """Trials after warm-up (their ``_raw`` numbers) whose sensor readings agree to within
    MIN_SENSOR_SPREAD, or whose values step by exactly the same amount from trial to trial (an
    arithmetic progression): no timer, counter or sampler produces either. Nor values rounded by hand
    (``madeup.rounded``: ``clock_ms``, a ``madeup.millisecond_clock``'s durations; ``stuck``, powers of readings
    that stood still), nor one copied from another (``copied``: named before the rule on trials made from two
    others, on whose line a copy lies) or made from two (``madeup``)."""
    if len(after) < MIN_SHAPE_VALUES:
        return None
    for quantity in _SENSOR_QUANTITIES:
        q = _QUANTITIES.index(quantity)
        values = [r[q] for r in after]
        low, high = min(values), max(values)
        if low > 0 and high / low - 1 < MIN_SENSOR_SPREAD:
            return make(
                "fabrication.too_regular",
                file,
                f"{base}/trials",
                f"the {len(after)} trials after warm-up have {quantity} from {low} to {high}: within "
                f"{MIN_SENSOR_SPREAD:.0e} of each other, closer than any sensor reads",
            )
    rounded = madeup.rounded(after, clock_ms, stuck)
    if rounded is not None:
        quantity, places = rounded
        return make(
            "fabrication.too_regular",
            file,
            f"{base}/trials",
            f"the {len(after)} trials after warm-up have every {quantity} rounded to {places} decimal place(s): "
            "typed or rounded by hand (the timer reads nanoseconds, or whole milliseconds on Windows before Python "
            "3.13; the sampler's average is an integral over the window, carrying every digit of a float)",
        )
    if copied is not None:  # a copy lies on one line with any third trial: named as what it is
        return copied
    snapped = [(round(d, madeup.MILLISECOND_PLACES), e, p) for d, e, p in after] if clock_ms else after
    between = madeup.interpolated(snapped)
    if between is not None:
        return make(
            "fabrication.too_regular",
            file,
            f"{base}/trials",
            f"trials {between} after warm-up (counted from 0) lie on one line in duration and average power: one "
            "is interpolated or extrapolated from the other two, not measured",
        )
    if len(after) < MIN_PROGRESSION_VALUES:
        return None
    for q in _judged(clock_ms):
        quantity = _QUANTITIES[q]
        values = sorted([r[q] for r in after])  # shuffled trials hide no progression
        scale = max(abs(values[0]), abs(values[-1]))  # sorted: the largest magnitude lies at an end
        first = values[1] - values[0]
        if first == 0 or abs(values[2] - values[1] - first) > 1e-9 * scale:
            continue  # the second step already differs (nearly every window): no list of steps
        steps = [b - a for a, b in itertools.pairwise(values)]
        if all(abs(d - steps[0]) <= 1e-9 * scale for d in steps):
            return make(
                "fabrication.too_regular",
                file,
                f"{base}/trials",
                f"the {len(after)} trials after warm-up, in order of size, step {quantity} by {steps[0]:.6g} every "
                "time: an arithmetic progression, not a measurement",
            )
    return None
