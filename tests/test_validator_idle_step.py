"""physics.idle_step: one board's idle windows from one group of rows to the next (attack v19 R1: in a sequential
file one row's idle windows raised on their own, 124 -> 164 W on an H100, lowered its net energy 16 % and passed)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from itertools import pairwise
from typing import Any

import pytest
from conftest import ROOT

from ecocompute import domain, reference, stats
from ecocompute.domain import Idle, Submission, Trial
from ecocompute.gates import Gates, evaluate, status_for
from validator import groups, idlesteps, timeline
from validator.check import check_data
from validator.findings import Finding

H100, V100, RTX_4090, T4 = "NVIDIA H100 80GB HBM3", "Tesla V100-SXM2-16GB", "NVIDIA GeForce RTX 4090", "Tesla T4"
REAL_SEQUENTIAL = "20261123-232842"  # Qwen2.5-14B on an H100: fp16, bf16, nf4, nf4-dq at batch 1 and 8, one by one


def _real(name: str) -> dict[str, Any]:
    return json.loads(next(ROOT.glob(f"submissions/*/*{name}.json")).read_bytes())


def _raised(doc: dict[str, Any], row: int, watts: float) -> dict[str, Any]:
    """Row ``row``'s two idle windows ``watts`` higher, its summary and gate recomputed as eco-collect would."""
    doc = copy.deepcopy(doc)
    m = doc["measurements"][row]
    idle = m["idle"]
    for side in ("before", "after"):
        idle[f"power_{side}_w"] += watts
        idle[f"power_per_gpu_{side}_w"] = [idle[f"power_{side}_w"]]
    summary = stats.summarize([Trial.from_dict(t) for t in m["trials"]], Idle.from_dict(idle).power_w)
    assert summary is not None
    gate = evaluate(summary, Gates.from_mapping(doc["protocol"]["gates"]))
    m.update(summary=summary.to_dict(), gate=gate.to_dict(), status=status_for(gate))
    return doc


def _errors(doc: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in check_data(doc, "f.json").findings:
        if f.severity.value == "error":
            found.setdefault(f.code, []).append(f.pointer)
    return found


@pytest.mark.parametrize(
    ("watts", "pointers"),
    [
        (20.0, ["/measurements/2/idle/power_after_w"]),
        (40.0, ["/measurements/2/idle/power_before_w", "/measurements/2/idle/power_after_w"]),
    ],
)
def test_one_row_of_a_real_sequential_file_raised_on_its_own_is_refused(watts: float, pointers: list[str]) -> None:
    # attack v19 R1 (p02_sequential_idle.py): the bf16 batch-1 row +20 / +40 W, its net energy per token 8 / 16 %
    # lower, was accepted; it steps up from the row before and down to the row after
    doc = _real(REAL_SEQUENTIAL)
    assert _errors(doc) == {}
    assert _errors(_raised(doc, 2, watts)) == {"physics.idle_step": pointers}


def _two_rows(valid_doc: dict[str, Any], after: float, before: float, gpu: str = H100, count: int = 1) -> Submission:
    """The valid file's two sequential rows, 15 s apart: the first row's idle after ``after``, the second's
    idle before ``before`` (its other windows alike), on ``count`` x ``gpu``."""
    sub = domain.parse(valid_doc)
    first, second = sub.measurements
    assert first.idle and second.idle
    environment = replace(sub.environment, gpu=replace(sub.environment.gpu, name=gpu, count=count))
    return replace(
        sub,
        environment=environment,
        measurements=(
            replace(first, idle=replace(first.idle, power_after_w=after)),
            replace(second, idle=replace(second.idle, power_before_w=before)),
        ),
    )


def _judged(sub: Submission, file: str = "f.json") -> list[Finding]:
    """idlesteps.check as check.py calls it: with the file's trial spans, sorted once."""
    return idlesteps.check(sub, file, reference.default(), timeline.trial_spans(sub))


def _flagged(sub: Submission) -> list[str]:
    return [f.pointer for f in _judged(sub)]


@pytest.mark.parametrize(
    ("after", "before", "gpu", "count", "pointers"),
    [
        (100.0, 119.9, H100, 1, []),
        (100.0, 120.1, H100, 1, ["/measurements/1/idle/power_before_w"]),
        (119.9, 100.0, H100, 1, []),
        (120.1, 100.0, H100, 1, ["/measurements/0/idle/power_after_w"]),
        # a board idling low keeps 15 W a GPU where 1.2 x is less: 30 -> 44.9 W passes though 1.5 x
        (30.0, 44.9, V100, 1, []),
        (30.0, 45.1, V100, 1, ["/measurements/1/idle/power_before_w"]),
        (45.1, 30.0, V100, 1, ["/measurements/0/idle/power_after_w"]),
        (60.0, 89.9, V100, 2, []),
        (60.0, 90.1, V100, 2, ["/measurements/1/idle/power_before_w"]),
    ],
)
def test_consecutive_windows_differ_by_at_most_1_2_x_or_15_w_a_gpu(
    valid_doc: dict[str, Any], after: float, before: float, gpu: str, count: int, pointers: list[str]
) -> None:
    assert _flagged(_two_rows(valid_doc, after, before, gpu, count)) == pointers


@pytest.mark.parametrize("gpu", [RTX_4090, T4])
def test_boards_whose_memory_clock_steps_down_at_idle_are_not_judged(valid_doc: dict[str, Any], gpu: str) -> None:
    # a desktop board (and a GDDR data-centre one) idles in a lower power state that a window may or may not catch
    assert _flagged(_two_rows(valid_doc, 10.0, 40.0, gpu)) == []
    assert _flagged(_two_rows(valid_doc, 10.0, 40.0, "a board not in the table")) == []


def _second_row_later(sub: Submission, seconds: float) -> Submission:
    first, second = sub.measurements
    trials = tuple(replace(t, started_at_s=(t.started_at_s or 0.0) + seconds) for t in second.trials)
    return replace(sub, measurements=(first, replace(second, trials=trials)))


def test_a_pause_beyond_300_s_is_not_judged(valid_doc: dict[str, Any]) -> None:
    sub = _two_rows(valid_doc, 70.0, 120.0)
    spans = timeline.trial_spans(sub)
    gap = groups.in_time_order(sub, spans)[1][0] - groups.in_time_order(sub, spans)[0][1]
    assert _flagged(_second_row_later(sub, idlesteps.IDLE_STEP_GAP_S - gap - 1.0)) != []
    assert _flagged(_second_row_later(sub, idlesteps.IDLE_STEP_GAP_S - gap + 1.0)) == []


def test_missing_times_and_windows_are_passed_over(valid_doc: dict[str, Any]) -> None:
    sub = _two_rows(valid_doc, 70.0, 120.0)
    first, second = sub.measurements
    assert first.idle is not None
    assert _flagged(replace(sub, session=None)) == []
    untimed = tuple(replace(t, started_at_s=None) for t in second.trials)
    assert _flagged(replace(sub, measurements=(first, replace(second, trials=untimed)))) == []
    assert _flagged(replace(sub, measurements=(first, replace(second, idle=None)))) == []
    no_after = replace(first, idle=replace(first.idle, power_after_w=None))
    assert _flagged(replace(sub, measurements=(no_after, second))) == []
    # an idle of 0 W (physics.idle_range's too) is named, never divided by
    (f,) = _judged(_two_rows(valid_doc, 0.0, 120.0))
    assert "idle before 120.0 W, above the 0.0 W idle after /measurements/0" in f.message


def test_an_interleaved_group_is_judged_by_the_window_after_its_last_round(valid_doc: dict[str, Any]) -> None:
    """Rows 0 and 1 alternate (one group: one window before, the window after the round each finished in), row 2
    follows: its idle before is compared with the window after the group's last round, row 1's."""
    sub = domain.parse(valid_doc)
    a, b = sub.measurements
    assert a.idle and b.idle
    start = a.trials[0].started_at_s or 0.0
    a_trials = tuple(replace(t, started_at_s=start + 40.0 * k) for k, t in enumerate(a.trials))
    b_trials = tuple(replace(t, started_at_s=start + 40.0 * k + 20.0) for k, t in enumerate(b.trials))
    c_start = (b_trials[-1].started_at_s or 0.0) + b_trials[-1].duration_s + 20.0
    c_trials = tuple(replace(t, started_at_s=c_start + 10.0 * k) for k, t in enumerate(a.trials))
    shared = Idle(70.0, 100.0, (70.0,), (100.0,))
    rows = (
        replace(a, idle=replace(shared, power_after_w=70.0, power_per_gpu_after_w=(70.0,)), trials=a_trials),
        replace(b, idle=shared, trials=b_trials),
        replace(a, batch_size=3, idle=Idle(90.0, 90.0, (90.0,), (90.0,)), trials=c_trials),
    )
    grouped = replace(sub, measurements=rows, protocol=replace(sub.protocol, interleaved=True))
    assert groups.in_time_order(grouped, timeline.trial_spans(grouped))[0][2:] == (0, 1)
    assert _flagged(grouped) == []  # 100 -> 90 W; row 0's 70 W after came a round earlier
    low = replace(rows[2], idle=Idle(80.0, 80.0, (80.0,), (80.0,)))
    assert _flagged(replace(grouped, measurements=(*rows[:2], low))) == ["/measurements/1/idle/power_after_w"]


def test_the_finding_says_which_windows_when_and_how_to_fix(valid_doc: dict[str, Any]) -> None:
    (f,) = _judged(_two_rows(valid_doc, 70.0, 100.0))
    assert f.code == "physics.idle_step" and f.pointer == "/measurements/1/idle/power_before_w"
    assert (
        "idle before 100.0 W, 1.43 x the 70.0 W idle after /measurements/0 (/measurements/0's last trial" in f.message
    )
    assert "s later, no trial between); consecutive idle windows of one NVIDIA H100 80GB HBM3" in f.message
    assert "at most 1.2 x, or 15 W where that is more" in f.message
    assert "never raise one row's idle windows by hand" in f.as_dict()["fix"]


def test_the_real_files_keep_a_wide_margin_from_the_bounds() -> None:
    """Every pair of consecutive groups in the real files (H100 and H200, with trial start times) steps by at most
    1.10 x either way, 10-187 s apart: 1.2 x leaves 9 %, and 300 s 1.6 x the longest pause. Windows further apart
    are not held to anything: two of one file differ by up to 1.162 x (132.2 and 153.6 W, a Qwen2.5-14B session on
    an H100 whose rows reached 73-80 degrees C), too close to 1.2 x for a rule over a whole file."""
    steps, gaps = [], []
    for path in sorted(ROOT.glob("submissions/*/*.json")):
        sub = domain.parse(json.loads(path.read_bytes()))
        if sub.session is None:
            continue
        assert _judged(sub, path.name) == [], path.name
        order = groups.in_time_order(sub, timeline.trial_spans(sub))
        for (_, ended, _, last), (started, _, first, _) in pairwise(order):
            after, before = sub.measurements[last].idle, sub.measurements[first].idle
            assert after and after.power_after_w and before
            steps.append(
                max(after.power_after_w, before.power_before_w) / min(after.power_after_w, before.power_before_w)
            )
            gaps.append(started - ended)
    assert len(steps) >= 36
    assert max(steps) < idlesteps.IDLE_STEP_RATIO / 1.08  # 1.0994
    assert max(gaps) < idlesteps.IDLE_STEP_GAP_S / 1.5  # 187.5 s


def test_a_files_trial_spans_are_sorted_once(valid_doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The idle steps and the session's clock read one sorted list: check.py sorts it once a file (it was
    sorted twice, once by each)."""
    calls = []

    def counted(sub: Submission) -> list[groups.Span]:
        calls.append(sub.submission_id)
        return spans(sub)

    spans = timeline.trial_spans
    monkeypatch.setattr(timeline, "trial_spans", counted)
    assert check_data(valid_doc, "f.json").accepted
    assert calls == [valid_doc["submission_id"]]
