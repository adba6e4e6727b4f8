"""Idle windows of one board a short while apart (schema 1.2.0 and later): a board whose memory runs at one
clock idles alike from one group of rows to the next.

eco-collect measures a group of rows (one row in a sequential run) between an idle window before its
warm-ups and one after its last trials (collector/schedule.py ``Schedule._measure``). Between one group's
last idle window after and the next group's idle window before, no trial runs: the next configuration's
model is loaded and its engine prepared, on the same board, minutes at most. Each row's net energy takes its
own two windows, so in a sequential file one row's windows raised on their own (124 -> 164 W on an H100,
inside the board's idle range) lowered that row's net energy per token 16 % and passed (attack v19 R1).
Such a row steps up from the window before it and down to the window after it."""

from __future__ import annotations

from itertools import pairwise

from ecocompute.domain import Submission
from ecocompute.reference import Reference

from . import groups, hardware
from .findings import Finding, make
from .groups import Span

# The real files' margins cited here are those of submissions/ to ...-20261124-233950: more files may widen them.
# The higher of two consecutive windows is at most 1.2 x the lower, or 15 W per GPU above it where that is
# more. What moves a board's idle is its temperature (leakage): the real H100 files' idle after a row rises
# about 0.5 W per degree of that row's hottest trial (the H200's less), and a board cools after a heavy row.
# Their pairs of consecutive groups (H100 and H200, 10-187 s apart, a model load between many of them) step by
# 0.909-1.098 x (next idle before / last idle after; the lowest, 131.6 -> 119.7 W, after a 444-W row and a
# 32B model's int8 load, 135 s): at most 1.10 x either way, so 1.2 leaves 9 %. Windows further apart differ
# more, so only consecutive ones are judged: two windows of one real file up to 1.162 x (132.2 W before a
# Qwen2.5-14B row, 153.6 W after a 546-W row at 78 degrees C), and across sessions days apart the H100's files
# idle within 116.9-153.6 W (1.31 x, trials at 35-80 degrees C), the H200's within 1.13 x. The 15 W (a swing of
# about 30 degrees at 0.5 W a degree) keeps a board idling at 25-75 W (V100, A100, the PCIe and NVL boards)
# from being refused for a few watts. A one-row raise beyond about 20 % of the idle (15 W on a low-idle board)
# is refused at one of its edges.
IDLE_STEP_RATIO = 1.2
IDLE_STEP_FLOOR_W = 15.0  # per GPU measured
# Judged where the next group's first trial starts at most this long after the last group's last trial
# ended (the real files: 10-187 s, each gap holding two 5-s windows, a load and warm-ups). A longer pause
# (a run resumed later, another process on the board in between) is not judged.
IDLE_STEP_GAP_S = 300.0


def check(sub: Submission, file: str, ref: Reference, spans: list[Span]) -> list[Finding]:
    """Each pair of consecutive groups of rows, on a data-centre board with HBM (one memory clock, no idle
    power state to step between: a GDDR board, a desktop one or a T4, drops its memory clock at idle and
    may read 10-20 W either side of a load). The higher window of a pair out of bounds is named.
    ``spans``: ``timeline.trial_spans(sub)``, sorted once a file (check.py) for this and the session's clock."""
    board = ref.gpus.get(sub.environment.gpu.name)
    if sub.session is None or board is None or not hardware.one_memory_clock(board):
        return []
    floor_w = IDLE_STEP_FLOOR_W * max(sub.environment.gpu.count, 1)
    out = []
    for (_, ended, _, last), (started, _, first, _) in pairwise(groups.in_time_order(sub, spans)):
        after, before = sub.measurements[last].idle, sub.measurements[first].idle
        gap = started - ended
        if after is None or before is None or after.power_after_w is None or not 0 <= gap <= IDLE_STEP_GAP_S:
            continue
        a, b = after.power_after_w, before.power_before_w
        lower = min(a, b)
        if max(a, b) <= max(IDLE_STEP_RATIO * lower, lower + floor_w):
            continue
        span = (
            f"/measurements/{last}'s last trial ended at {ended:.1f} s and /measurements/{first}'s first began at "
            f"{started:.1f} s, {gap:.1f} s later, no trial between"
        )
        if b > a:
            where = f"/measurements/{first}/idle/power_before_w"
            what = f"idle before {b:.1f} W, {_times(b, a)} the {a:.1f} W idle after /measurements/{last} ({span})"
        else:
            where = f"/measurements/{last}/idle/power_after_w"
            what = f"idle after {a:.1f} W, {_times(a, b)} the {b:.1f} W idle before /measurements/{first} ({span})"
        out.append(
            make(
                "physics.idle_step",
                file,
                where,
                f"{what}; consecutive idle windows of one {board.name} minutes apart differ by at most "
                f"{IDLE_STEP_RATIO} x, or {floor_w:.0f} W where that is more: a board whose memory runs at one clock "
                "idles alike",
            )
        )
    return out


def _times(higher: float, lower: float) -> str:
    return f"{higher / lower:.2f} x" if lower > 0 else "above"  # an idle of 0 W: physics.idle_range names it too
