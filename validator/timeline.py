"""When things happened: a session's wall time against its timestamps, its trials inside it and one
after another, and the idle windows eco-collect measures around them (schema 1.2.0 and later)."""

from __future__ import annotations

import itertools
import math
import re

from ecocompute import catalogue
from ecocompute.domain import Submission

from . import groups, loadavg, madeup
from .contract import parse_utc
from .findings import Finding, make
from .groups import Span

# created_at and session.started_at are written to the second; wall_s is exact.
CLOCK_SLACK_S = 2.0
# Trials are timed on one monotonic clock, one after another: a millisecond covers rounding only.
OVERLAP_SLACK_S = 0.001
# eco-collect starts a trial as soon as the one before has been read (collector/runner.py ``Runner.trial``: the
# sampler's window, the host's CPU times, the gates over the window). The real files leave 3.8-36 ms between one
# trial's end and the next one's start, once 249 ms (1,100 such gaps of 0.2.0-0.6.0, sequential and interleaved),
# and a row's median gap is at most 16 ms. Durations shortened by hand (a faster board; energies scaled along)
# leave their start times behind: a 5-s trial shortened by 10 % leaves 0.5 s before the next one, and a file so
# edited passed every rule (attack v30). A row most of whose gaps (at least MIN_GAPS of them) exceed MAX_GAP_S is
# refused: one long gap is a host's hiccup (a collection, a slow NVML read, a window measured again), most are not.
# MAX_GAP_S is seven times the longest median seen, not three: the gap holds the sampler's next reading (its
# 50-ms period), an NVML energy read per board and the host's CPU times, each slower on hosts no real file comes
# from yet (several boards, Windows' WDDM driver, a loaded desktop); a trial shortened by 6 % or more still leaves it.
# In a run that measured its configurations one after another (``sequential_rows``) a row's trials follow one
# another with nothing between: every gap between two of them is judged. Elsewhere a gap that may hold what
# eco-collect did not write is not: an idle window (an interleaved round in which configurations finished; its
# sleep lasts idle_window_s, read as 15.6-ms ticks on Windows), or a trial left out (a round-mate skipped, or
# unfinished in a session that a --resume measured again), which lasts at least TRIAL_DURATION_FRACTION of
# trial_min_duration_s (a shorter one after warm-up skips its configuration, and a configuration's warm-ups all
# run before the rounds: one gap).
MAX_GAP_S = 0.25
MIN_GAPS = 3
IDLE_GAP_FRACTION = 0.95
# A trial eco-collect measured again (collector/runner.py ``_failed``: a counter read that failed, a sampler that
# took no reading, one note on its row each) follows its failed attempt, which ran the same requests: the gap before
# it is about that trial's length, whatever the schedule. A host whose windows fail often (a sampler starved every
# other window) measured most of a row's trials again, and the file eco-collect wrote of a run that measured its
# configurations one after another was refused (review42). A gap before a trial its row's notes name so, of
# RETRIED_GAP times that trial's duration, is not judged: the failed attempt may run longer (a host stall, the first
# request's compilation), hardly shorter; a trial shortened by hand leaves a gap of what it lost, which matches only
# a trial cut to between a third and two thirds of its length, every one noted as measured again.
RETRIED_GAP = (0.5, 2.0)
_RETRIED = re.compile(r" during trial ([0-9]{1,7}); measured again\Z", re.ASCII)


def check(sub: Submission, file: str, spans: list[Span]) -> list[Finding]:
    """The session's clock: its wall time, and every trial and idle window inside it, one at a time.
    ``spans``: ``trial_spans(sub)``, sorted once a file for every rule that reads them (idlesteps too)."""
    assert sub.session is not None
    out = []
    elapsed = (parse_utc(sub.created_at) - parse_utc(sub.session.started_at)).total_seconds()
    if abs(elapsed - sub.session.wall_s) > CLOCK_SLACK_S:
        out.append(
            make(
                "protocol.session_time",
                file,
                "/session/wall_s",
                f"wall_s {sub.session.wall_s:.1f} s, but created_at - started_at is {elapsed:.0f} s",
            )
        )
    for i, m in enumerate(sub.measurements):
        for j, t in enumerate(m.trials):
            if t.started_at_s is not None and t.started_at_s + t.duration_s > sub.session.wall_s + CLOCK_SLACK_S:
                out.append(
                    make(
                        "protocol.session_time",
                        file,
                        f"/measurements/{i}/trials/{j}/started_at_s",
                        f"trial ends at {t.started_at_s + t.duration_s:.1f} s, after the session ({sub.session.wall_s:.1f} s)",
                    )
                )
            previous = m.trials[j - 1] if j else None
            if (
                previous is not None
                and previous.started_at_s is not None
                and t.started_at_s is not None
                and t.started_at_s < previous.started_at_s + previous.duration_s
            ):
                out.append(
                    make(
                        "protocol.session_time",
                        file,
                        f"/measurements/{i}/trials/{j}/started_at_s",
                        f"trial {j} starts at {t.started_at_s:.3f} s, before trial {j - 1} ended",
                    )
                )
    return (
        out
        + _idle_windows(sub, file, spans)
        + _overlap(sub, file, spans)
        + _gaps(sub, file, spans)
        + groups.check(sub, file, spans)
        + loadavg.check(sub, file, spans, sub.session.wall_s + CLOCK_SLACK_S)
    )


# eco-collect times trials on time.monotonic (collector/runner.py ``Clock``), which on Windows before Python 3.13 is
# GetTickCount64: whole milliseconds. Every duration there is the difference of two such readings, and every start
# one less the session's first: whole milliseconds to float rounding (1e-10 s at a day's uptime, 1e-7 s at 30
# years'). A file naming such a host (``madeup.millisecond_clock``) is judged at that clock's grain (durations may
# repeat: no copy rule on them within or across files, no duration shape), so a file of nanosecond timings relabelled
# "Windows 11" with Python 3.12 escaped those rules: an accepted file copied with every duration and power nudged by
# 1e-8 passed (attack v30 W1). A duration or start more than MS_GRID_SLACK_S off whole milliseconds is no such
# clock's: a nanosecond clock's value lands that close once in 500.
MS_GRID_SLACK_S = 1e-6


def millisecond_grain(sub: Submission, file: str) -> list[Finding]:
    """The first duration or start time finer than the whole milliseconds the file's named host reads (see above)."""
    if not madeup.millisecond_clock(sub.environment):
        return []
    slack = MS_GRID_SLACK_S * 1e3
    for i, m in enumerate(sub.measurements):
        for j, t in enumerate(m.trials):
            for name, value in (("duration_s", t.duration_s), ("started_at_s", t.started_at_s)):
                if value is None or not math.isfinite(value) or abs(value * 1e3 - round(value * 1e3)) <= slack:
                    continue
                host = sub.environment.host.os
                python = sub.environment.software.get("python", "?")
                return [
                    make(
                        "protocol.session_time",
                        file,
                        f"/measurements/{i}/trials/{j}/{name}",
                        f"{name} {value!r} s is not a whole number of milliseconds, yet the host the file names "
                        f"({host}, Python {python}) reads no finer: time.monotonic, eco-collect's clock, is "
                        "GetTickCount64 there before Python 3.13; the host or the timings were edited",
                    )
                ]
    return []


def sequential_rows(sub: Submission) -> set[int]:
    """The rows that no other row's trials can have run between (``protocol.interleaved`` false), save those of a
    resumed file that its earlier session measured (``groups.noted_sequential``: where the resumed session's
    'auto' measured one after another, its rows carry the note and the earlier session's do not). That session
    may have interleaved: the trials of its round-mates left unfinished, measured again after the --resume, lie
    between its rows' trials. In every release: eco-collect 0.6.0 labels such a file interleaved only where two
    of its earlier session's rows alternate, and a session that finished one configuration leaves one row
    (review42: a file it wrote so was refused, every round's gap a left-out trial long)."""
    if sub.protocol.interleaved:
        return set()
    return groups.noted_sequential(sub) or set(range(len(sub.measurements)))


def row_gaps(sub: Submission, spans: list[Span]) -> dict[int, list[tuple[float, int]]]:
    """Each row's judged gaps, (the gap after one of its trials, that trial): in a ``sequential_rows`` row, before
    its next trial; in another, before the next of any row (an interleaved round alternates them), where sooner
    than an idle window or a trial left out could take (see MAX_GAP_S); none before a trial measured again that its
    failed attempt fills (RETRIED_GAP). ``spans``: ``trial_spans(sub)``."""
    proto = sub.protocol
    bound = min(proto.idle_window_s * IDLE_GAP_FRACTION, catalogue.TRIAL_DURATION_FRACTION * proto.trial_min_duration_s)
    strict = sequential_rows(sub)
    retried = _retried(sub)
    low, high = RETRIED_GAP
    gaps: dict[int, list[tuple[float, int]]] = {}
    for (_, end, i, j), (start, next_end, k, n) in itertools.pairwise(spans):
        if (k, n) in retried and low * (next_end - start) <= start - end <= high * (next_end - start):
            continue  # its failed attempt: see RETRIED_GAP
        if (k == i) if i in strict else start - end < bound:
            gaps.setdefault(i, []).append((start - end, j))
    return gaps


def _retried(sub: Submission) -> set[tuple[int, int]]:
    """(row, trial) of each trial its row's notes say eco-collect measured again (``RETRIED_GAP``)."""
    return {
        (i, int(found[1]))
        for i, m in enumerate(sub.measurements)
        for note in m.notes
        if (found := _RETRIED.search(note)) is not None
    }


def _gaps(sub: Submission, file: str, spans: list[Span]) -> list[Finding]:
    """The first row after most of whose trials (``row_gaps``) the next trial starts more than MAX_GAP_S later,
    named at the first such trial's duration, which, shortened, opened the gap."""
    for i, row in sorted(row_gaps(sub, spans).items()):
        wide = [(gap, j) for gap, j in row if gap > MAX_GAP_S]
        if len(row) >= MIN_GAPS and 2 * len(wide) > len(row):
            median = sorted(gap for gap, _ in row)[len(row) // 2]
            between = "" if i in sequential_rows(sub) else ", too soon for an idle window or a trial left out between"
            return [
                make(
                    "protocol.trial_gap",
                    file,
                    f"/measurements/{i}/trials/{wide[0][1]}/duration_s",
                    f"after {len(wide)} of {len(row)} trials of /measurements/{i} the next trial starts more than "
                    f"{MAX_GAP_S} s later{between} (median gap {median:.3f} s): eco-collect starts the next trial "
                    "within milliseconds of one's end (the real files: at most 0.25 s); durations shortened, or start "
                    "times moved, by hand",
                )
            ]
    return []


def _idle_windows(sub: Submission, file: str, spans: list[Span]) -> list[Finding]:
    """eco-collect measures an idle window before a configuration's (or an interleaved group's) first
    trial and another after its last: no trial starts within the session's first idle window, and
    none ends within its last (an idle window of a day in an hour's session, or a first trial at 0 s,
    passed). The real files leave 43 s or more before their first trial and 0.36 s to spare after.
    ``spans``: ``trial_spans(sub)``."""
    assert sub.session is not None
    idle_s, wall_s = sub.protocol.idle_window_s, sub.session.wall_s
    # a skipped row has no trials; any that it had would follow an idle window too
    if not spans:
        return []
    start, _, i, j = spans[0]
    if start < idle_s - CLOCK_SLACK_S:
        return [
            make(
                "protocol.session_time",
                file,
                f"/measurements/{i}/trials/{j}/started_at_s",
                f"the first trial starts at {start:.1f} s, before the idle window of {idle_s} s measured ahead of it "
                "(protocol.idle_window_s) could end",
            )
        ]
    _, end, i, j = max(spans, key=lambda span: span[1])
    if end > wall_s - idle_s + CLOCK_SLACK_S:
        return [
            make(
                "protocol.session_time",
                file,
                f"/measurements/{i}/trials/{j}/started_at_s",
                f"the last trial ends at {end:.1f} s, leaving {wall_s - end:.1f} s of the session ({wall_s:.1f} s) for "
                f"the idle window of {idle_s} s measured after it",
            )
        ]
    return _between_rows(spans, idle_s, file)


def _between_rows(spans: list[Span], idle_s: float, file: str) -> list[Finding]:
    """Between two configurations (or interleaved groups) that follow one another, eco-collect measures
    the first one's idle window after and the next one's before: a row whose trials start after every
    earlier trial ended, but sooner than two idle windows later, had no time for them (rows packed
    back to back passed). The rows of one interleaved group overlap in time: no gap to judge. The real
    files' closest rows leave 10.04 s at 5-s windows."""
    rows: dict[int, tuple[float, float, int]] = {}  # row -> (first start, last end, its first timed trial)
    for start, end, i, j in spans:
        first, last, k = rows.get(i, (start, end, j))
        rows[i] = (first, max(last, end), k)
    latest: tuple[float, int] | None = None  # the latest end so far, and its row
    for i, (start, end, j) in sorted(rows.items(), key=lambda item: item[1]):
        if latest is not None and start > latest[0] and start - latest[0] < 2 * idle_s - CLOCK_SLACK_S:
            return [
                make(
                    "protocol.session_time",
                    file,
                    f"/measurements/{i}/trials/{j}/started_at_s",
                    f"its first trial starts {start - latest[0]:.1f} s after the trials of /measurements/{latest[1]} "
                    f"ended: too soon for the idle window of {idle_s} s measured after those and another before these",
                )
            ]
        if latest is None or end > latest[0]:
            latest = (end, i)
    return []


def _alike(sub: Submission, known: dict[tuple[int, int], bool], k: int, i: int) -> bool:
    """Whether measurements ``k`` and ``i`` are equal, compared once a pair (``known``: the answers so far)."""
    pair = (min(k, i), max(k, i))
    if pair not in known:
        known[pair] = sub.measurements[k] == sub.measurements[i]
    return known[pair]


def trial_spans(sub: Submission) -> list[Span]:
    """(start, end, row, trial) of every timed trial, in order of start (then end)."""
    return sorted(
        (t.started_at_s, t.started_at_s + t.duration_s, i, j)
        for i, m in enumerate(sub.measurements)
        for j, t in enumerate(m.trials)
        if t.started_at_s is not None
    )


def _overlap(sub: Submission, file: str, spans: list[Span]) -> list[Finding]:
    """One board set runs one trial at a time: the trials of different measurements (interleaved or one
    after another) never overlap. The first overlap is named; within a measurement check names it.
    ``spans``: ``trial_spans(sub)``. Two rows are compared once however many of their trials overlap:
    compared at every trial, two copies of a row of 2,000 trials took 4.7 s for a 5-MB file (attack v23)."""
    latest = None  # the span ending last so far: a long trial may reach past several later ones
    alike: dict[tuple[int, int], bool] = {}  # (row, row) -> the two measurements are equal
    for span in spans:
        start, _, k, n = span
        if latest is not None:
            _, end, i, j = latest
            # an exact copy of a measurement overlaps itself: duplicate.measurement names that
            if k != i and start < end - OVERLAP_SLACK_S and not _alike(sub, alike, k, i):
                return [
                    make(
                        "protocol.session_time",
                        file,
                        f"/measurements/{k}/trials/{n}/started_at_s",
                        f"trial starts at {start:.3f} s, before trial {j} of measurement {i} ended ({end:.3f} s): "
                        "one GPU runs one trial at a time",
                    )
                ]
        if latest is None or span[1] > latest[1]:
            latest = span
    return []
