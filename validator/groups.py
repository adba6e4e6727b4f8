"""Rows measured together (schema 1.2.0 and later): eco-collect measures a group of configurations
between idle windows they share (collector/schedule.py ``Schedule._measure``). An interleaved run is one
group: one idle window before every configuration's warm-ups, then rounds of one trial per configuration,
and after each round in which configurations finished, one idle window for all of them. A sequential run
(``protocol.interleaved: false``) is a group per configuration, one after another.

So rows whose trials alternate in time are one group: they hold the same idle-before baseline, those
that finished in one round (the same idle gap follows their last trials) the same idle-after one, and
the file says it interleaved. One row's baseline raised on its own (a lower net energy for that row)
passed, as did ``interleaved: false`` over rows that alternate. Every real file holds these: its groups'
rows share their windows to the last bit (the same reading, written once per row)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

from packaging.version import Version

from ecocompute.domain import Measurement, Submission

from . import versions
from .findings import Finding, make

# eco-collect's idle window lasts protocol.idle_window_s on the trials' clock; between the trials of a
# round the board waits milliseconds (the real files: at most 0.25 s). A gap within this of the idle
# window is taken for one: a shorter one splits a round, which only asks fewer rows to agree.
WINDOW_SLACK_S = 2.0

Span = tuple[float, float, int, int]  # (start, end, row, trial) of a timed trial: timeline.trial_spans


def check(sub: Submission, file: str, spans: list[Span]) -> list[Finding]:
    """The first row of each group that contradicts the group is named."""
    out: list[Finding] = []
    for group, rounds in _groups(sub, spans):
        if len(group) < 2:
            continue
        first, other = group[0], group[1]
        if not sub.protocol.interleaved and not _resumed_sequentially(sub, group):
            out.append(
                make(
                    "protocol.session_time",
                    file,
                    "/protocol/interleaved",
                    f"the trials of /measurements/{first} and /measurements/{other} alternate in time, but the "
                    "run says it measured its configurations one after another (interleaved: false)",
                )
            )
            continue
        out += _shared(sub, file, group, rounds)
    return out


# How eco-collect's note begins (every version; collector/schedule.py SEQUENTIAL_NOTE) where --schedule
# auto measured one after another. A run resumed in a session whose free memory was short (another process
# on the board) measured the rest so, and eco-collect 0.1.0-0.5.0 wrote interleaved: false though rows of
# its first session alternate: such a file is held to its groups' idle windows, not to the label.
# eco-collect 0.6.0 labels such a run interleaved: the note excuses the label for older releases only.
RESUMED_SEQUENTIAL_NOTE = "configurations measured one after another, not interleaved"
LAST_SEQUENTIAL_LABEL_VERSION = Version("0.5.0")


def _resumed_sequentially(sub: Submission, group: list[int]) -> bool:
    """Whether ``group`` (rows that alternate) is the first session's of such a resumed run. In 0.1.0-0.5.0
    the note is the session's, put on the rows closed in the session whose 'auto' chose one after another
    (collector/schedule.py ``interleave``, decided once a session; ``_close``); a checkpointed row keeps
    the notes of the session that finished it, and an unfinished one is measured again from scratch. So
    the rows that carry it were measured one after another and never alternate; the alternating rows are
    an earlier session's, without it. (Before 7a15feb eco-collect put its last session's notes on every row,
    but timed no trial: such files have no groups.) A note on a row of the group is not what any release
    wrote (attack v26 F2: a note appended to an interleaved file's row excused its interleaved: false)."""
    noted = resumed_sequentially(sub)
    return bool(noted) and noted.isdisjoint(group)


def resumed_sequentially(sub: Submission) -> set[int]:
    """The rows of an eco-collect 0.1.0-0.5.0 file that carry the note of a session whose 'auto' measured one
    after another (``_resumed_sequentially``): where there are any, the file's other rows may be an earlier
    session's, interleaved whatever its label says. Empty for a later release, which labels such a run
    interleaved where its earlier session's rows alternate."""
    if not versions.collector_at_most(sub, LAST_SEQUENTIAL_LABEL_VERSION):
        return set()
    return noted_sequential(sub)


def noted_sequential(sub: Submission) -> set[int]:
    """The rows, in a file of any release, that carry the note of a session whose 'auto' measured one after another.
    Where some rows lack it, they may be an earlier session's that interleaved, even in a file of a release that
    labels a resumed run by its earlier session's rows (0.6.0): that label is read off rows that alternate, and a
    first session that finished one configuration leaves one row, which alternates with none, labelled
    interleaved: false, its trials apart by its round-mates' left out (review42)."""
    return {i for i, m in enumerate(sub.measurements) if any(n.startswith(RESUMED_SEQUENTIAL_NOTE) for n in m.notes)}


def _groups(sub: Submission, spans: list[Span]) -> list[tuple[list[int], dict[int, int]]]:
    """Rows whose trials alternate in time, in order of their first trial; and for each row of a group
    the idle gap (counted from the session's start) that follows its last trial."""
    idle_s = sub.protocol.idle_window_s
    extent: dict[int, list[float]] = {}  # row -> [first start, last end]
    for start, end, i, _ in spans:
        if i in extent:
            extent[i][1] = max(extent[i][1], end)
        else:
            extent[i] = [start, end]
    seen: dict[tuple[float, float], int] = {}  # an exact copy of a row is duplicate.measurement's to name
    for i, (start, end) in list(extent.items()):
        k = seen.setdefault((start, end), i)
        if k != i and sub.measurements[k] == sub.measurements[i]:
            del extent[i]
    groups = _merged((i, start, end) for i, (start, end) in extent.items())  # spans are sorted by start
    gaps = []  # where each idle-sized gap begins: the latest end before it
    latest = None
    for start, end, _, _ in spans:
        if latest is not None and start - latest >= idle_s - WINDOW_SLACK_S:
            gaps.append(latest)
        latest = end if latest is None else max(latest, end)
    out = []
    for rows in groups:
        rounds = {i: bisect_left(gaps, extent[i][1]) for i in rows}  # len(gaps): the window after the last
        out.append((rows, rounds))
    return out


def in_time_order(sub: Submission, spans: list[Span]) -> list[Span]:
    """The groups one after another, each as (its first trial's start, its last trial's end, its first row,
    the row that finished last): eco-collect measures the group's idle window before ahead of the first
    row's trials (every row of the group holds it), and its last idle window after the last row's."""
    extent: dict[int, tuple[float, float]] = {}  # row -> (first start, last end)
    for start, end, i, _ in spans:
        first, last = extent.get(i, (start, end))
        extent[i] = (first, max(last, end))
    out = []
    for rows, _ in _groups(sub, spans):
        last_row = max(rows, key=lambda i: extent[i][1])
        out.append((min(extent[i][0] for i in rows), extent[last_row][1], rows[0], last_row))
    return out


def _merged(extents: Iterable[tuple[int, float, float]]) -> list[list[int]]:
    """Rows (row, first start, last end), in order of first start, whose spans overlap: the groups."""
    groups: list[list[int]] = []
    reach = 0.0
    for i, start, end in extents:
        if groups and start < reach:
            groups[-1].append(i)
            reach = max(reach, end)
        else:
            groups.append([i])
            reach = end
    return groups


def alternate(measurements: Sequence[Measurement]) -> bool:
    """Whether the trials of two of ``measurements`` alternate in time, as this module groups rows:
    eco-collect labels a resumed run interleaved by it (its earlier session's rows may alternate whatever
    the resumed session's 'auto' decides), so the label and this check agree by construction."""
    extents = []
    for i, m in enumerate(measurements):
        timed = [(t.started_at_s, t.started_at_s + t.duration_s) for t in m.trials if t.started_at_s is not None]
        if timed:
            extents.append((min(s for s, _ in timed), max(e for _, e in timed), i))
    return any(len(rows) > 1 for rows in _merged((i, s, e) for s, e, i in sorted(extents)))


def _shared(sub: Submission, file: str, group: list[int], rounds: dict[int, int]) -> list[Finding]:
    idles = {i: sub.measurements[i].idle for i in group}
    first = group[0]
    ref = idles[first]
    if ref is None:
        return []
    for i in group[1:]:
        idle = idles[i]
        if idle is None:
            continue
        if (idle.power_before_w, idle.power_per_gpu_before_w) != (ref.power_before_w, ref.power_per_gpu_before_w):
            return [
                make(
                    "protocol.idle_window",
                    file,
                    f"/measurements/{i}/idle/power_before_w",
                    f"idle before {idle.power_before_w!r} W, but /measurements/{first}, whose trials alternate with "
                    f"these, has {ref.power_before_w!r} W: an interleaved run measures one idle window before all "
                    "its configurations",
                )
            ]
    after: dict[int, int] = {}  # round -> the first row that finished in it
    for i in group:
        idle = idles[i]
        if idle is None:
            continue
        k = after.setdefault(rounds[i], i)
        seen = idles[k]
        assert seen is not None
        if (idle.power_after_w, idle.power_per_gpu_after_w) != (seen.power_after_w, seen.power_per_gpu_after_w):
            return [
                make(
                    "protocol.idle_window",
                    file,
                    f"/measurements/{i}/idle/power_after_w",
                    f"idle after {idle.power_after_w!r} W, but /measurements/{k}, which finished in the same round "
                    f"(the same idle gap follows both), has {seen.power_after_w!r} W: an interleaved run measures one "
                    "idle window after each round for every configuration that finished in it",
                )
            ]
    return []
