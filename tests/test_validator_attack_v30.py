"""Attack v30: what a forger edits that no rule judged. Each test names its attack (T: trial timings, S: power
readings that stood still, Q: quantization, I: ids, C: copies across files)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from datetime import UTC, datetime, timedelta

import pytest
import synthetic
import test_validator_attack_v29 as v29
from conftest import ROOT
from synthetic import resummarize, stretch

from ecocompute import domain, stats
from validator import check, findings, madeup, nearfiles, timeline
from validator.check import Checked

SEQUENTIAL = ROOT / "submissions" / "ecocompute-bot" / "ecocompute-bot-h200-20261125-034955.json"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _codes(doc: dict) -> set[str]:
    return {f.code for f in check.check_data(doc, "subs/mallory/x.json", NOW).findings}


def _errors(doc: dict) -> set[str]:
    return {f.code for f in check.check_data(doc, "subs/mallory/x.json", NOW).findings if f.severity.value == "error"}


def _shortened(factor: float, roles: tuple[str, ...] = ("measured",)) -> dict:
    """SEQUENTIAL with its first row's trials of ``roles`` lasting ``factor`` as long, energies along (stretch:
    the same power), start times kept."""
    doc = json.loads(SEQUENTIAL.read_text())
    for t in doc["measurements"][0]["trials"]:
        if t["role"] in roles:
            stretch(t, factor)
    return doc


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("factor", [0.93, 0.9, 0.7])
def test_t1_durations_shortened_with_their_start_times_kept_are_refused(factor: float, interleaved: bool) -> None:
    """T1: a real row's gate-window trials 7-30 % shorter (a faster board), start times kept: the next trial now
    starts 0.33-1.4 s after one ends, where eco-collect's starts it 4-22 ms later. Before, such a file passed
    once summarised (tests/fixtures: the synthetic one). Labelled interleaved, gaps too short to hold a trial left
    out or an idle window (2 s and 4.75 s here) are judged alike."""
    doc = _shortened(factor)
    doc["protocol"]["interleaved"] = interleaved
    found = [f for f in check.check_data(doc, "subs/mallory/x.json", NOW).findings if f.code == "protocol.trial_gap"]
    assert len(found) == 1 and found[0].pointer.startswith("/measurements/0/trials/")
    assert "median gap" in found[0].message


@pytest.mark.parametrize("factor", [0.52, 0.45])
def test_t1_in_a_sequential_run_no_gap_between_a_rows_trials_is_explained(factor: float) -> None:
    """T1: trials after warm-up made twice as fast (still over half of trial_min_duration_s) leave gaps of a
    trial's length. In an interleaved run a round-mate's trial left out (skipped, or measured again after a
    --resume) leaves such gaps; in a run that measured one configuration after another nothing does, so each is
    judged."""
    doc = _shortened(factor)
    assert "protocol.trial_gap" in _codes(doc)
    doc["protocol"]["interleaved"] = True
    assert "protocol.trial_gap" not in _codes(doc)


def test_t1_a_row_of_a_resumed_runs_interleaved_first_session_is_judged_as_interleaved() -> None:
    """In a file labelled sequential whose other rows carry the note of a resumed session that measured one after
    another (eco-collect 0.6.0 writes such a file where its first session interleaved and finished one row), the
    row without it may hold its round-mates' trials left out between its own (review42): gaps that long are not
    judged there. Trials shortened by hand still leave gaps too short for a trial left out between."""
    doc = json.loads(SEQUENTIAL.read_text())
    assert len(doc["measurements"]) > 1 and not doc["protocol"]["interleaved"]
    note = "configurations measured one after another, not interleaved: all 2 precisions at once need about 9 GiB"
    for m in doc["measurements"][1:]:
        m["notes"].append(note)
    trials = doc["measurements"][0]["trials"]
    for k in range(1, len(trials)):  # a round-mate's 2.5-s trial left out before each of the row's trials
        for t in trials[k:]:
            t["started_at_s"] += 2.5 + 0.01
    later = [t for m in doc["measurements"][1:] for t in m["trials"]]
    for t in later:
        t["started_at_s"] += 2.51 * (len(trials) - 1)
    assert "protocol.trial_gap" not in _codes(doc)
    for m in doc["measurements"][1:]:
        m["notes"].remove(note)  # no note, no earlier session: each gap judged
    assert "protocol.trial_gap" in _codes(doc)
    shortened = _shortened(0.9)
    for m in shortened["measurements"][1:]:
        m["notes"].append(note)
    assert "protocol.trial_gap" in _codes(shortened)


@pytest.mark.parametrize("factor", [0.93, 0.7])
def test_t1_a_note_of_a_trial_measured_again_excuses_no_gap_shorter_than_its_failed_attempt(factor: float) -> None:
    """A trial eco-collect measured again follows its failed attempt, of the same requests: a gap about that trial's
    length (timeline.RETRIED_GAP) is not judged (review42). The note on every trial of a row whose trials were
    shortened by hand excuses nothing: each gap is what the trial lost, under half of what is left."""
    doc = _shortened(factor)
    row = doc["measurements"][0]
    row["notes"] += [f"the power sampler took no reading in 4.0 s during trial {j}; measured again" for j in range(50)]
    assert "protocol.trial_gap" in _codes(doc)


def test_t1_a_gap_as_long_as_the_trial_measured_again_after_it_is_not_judged() -> None:
    doc = json.loads(SEQUENTIAL.read_text())
    row = doc["measurements"][0]
    later = [t for m in doc["measurements"] for t in m["trials"]]
    for trial in row["trials"][1:]:  # a failed attempt, of the trial's length, before each
        start = trial["started_at_s"]
        for t in later:
            t["started_at_s"] += trial["duration_s"] if t["started_at_s"] >= start else 0.0
    assert "protocol.trial_gap" in _codes(doc)
    row["notes"] += [
        f"the NVML energy counter could not be read (x) during trial {j}; measured again" for j in range(50)
    ]
    assert "protocol.trial_gap" not in _codes(doc)


def test_t1_the_code_says_the_bound_the_rule_holds_to() -> None:
    """The codes table (CONTRIBUTING) said 0.1 s, attack v30's bound, after the merge set MAX_GAP_S to 0.25 s."""
    assert f"more than {timeline.MAX_GAP_S} s" in findings.CATALOGUE["protocol.trial_gap"].title


def test_t1_the_real_files_leave_milliseconds_between_trials() -> None:
    """Every real file (sequential and interleaved, 0.2.0-0.6.0) keeps a row's median gap under a sixth of
    MAX_GAP_S: the bound is not at the edge of what eco-collect does."""
    worst = 0.0
    for path in sorted((ROOT / "submissions").glob("*/*.json")):
        sub = domain.parse(json.loads(path.read_text()))
        rows = timeline.row_gaps(sub, timeline.trial_spans(sub)).values()
        worst = max([worst, *(sorted(row)[len(row) // 2][0] for row in rows)])
    assert 0.0 < worst < timeline.MAX_GAP_S / 6  # the worst median: 16 ms


def test_t1_one_long_gap_is_a_hiccup_not_a_forgery() -> None:
    """A window measured again (eco-collect notes it), a garbage collection or a slow NVML read leaves one long gap:
    the row's other trials follow at once, and nothing is refused."""
    doc = json.loads(SEQUENTIAL.read_text())
    trials = doc["measurements"][0]["trials"]
    for t in trials[3:]:
        t["started_at_s"] += 2.5
    assert "protocol.trial_gap" not in _codes(doc)


def test_t1_an_idle_window_between_two_trials_of_a_row_is_no_gap() -> None:
    """In an interleaved run an idle window follows a round in which configurations finished: a row's next trial
    then starts idle_window_s later (the real files: 5.0-5.7 s), which is not judged."""
    doc = json.loads(SEQUENTIAL.read_text())
    doc["protocol"]["interleaved"] = True
    every = [t for m in doc["measurements"] for t in m["trials"]]
    trials = doc["measurements"][0]["trials"]
    idle_s = doc["protocol"]["idle_window_s"]
    for k in range(1, len(trials)):  # an idle window before each of the row's trials but its first
        start = trials[k]["started_at_s"]
        for t in every:
            t["started_at_s"] += idle_s if t["started_at_s"] >= start else 0.0
    assert "protocol.trial_gap" not in _codes(doc)


def _stuck(t: dict, watts: float) -> None:
    """A trial whose power reading (nvmlDeviceGetPowerUsage) stood still at ``watts`` all window long."""
    t.update(power_reading="nvml_power_usage", power_avg_w=watts, power_peak_w=watts)
    t["sampler_energy_j"] = watts * t["duration_s"]


def test_s1_back_to_back_trials_whose_readings_stood_still_at_values_of_their_own_are_refused() -> None:
    """S1: every trial of a real file given a reading that stood still (peak = average) at its average rounded to
    0.1 W, summaries recomputed: judged at whole watts only, it passed. The one reading eco-collect takes between two
    trials is both windows', so back-to-back trials whose readings stood still read one value."""
    doc = json.loads(SEQUENTIAL.read_text())
    for m in doc["measurements"]:
        for t in m["trials"]:
            _stuck(t, round(t["power_avg_w"], 1))
        if m["trials"]:
            resummarize(m, units=False)
    found = [f for f in check.check_data(doc, "subs/mallory/x.json", NOW).findings if "stood still" in f.message]
    assert [f.code for f in found] == ["fabrication.too_regular"]
    assert found[0].pointer.endswith("/power_avg_w")


def _row_stuck(values: list[float | None], gap_after: int | None = None) -> domain.Submission:
    """A synthetic file whose first row's first trials read powers that stood still at ``values`` (None: a trial left
    as it was, its reading moving); with ``gap_after``, the trials after that one start 0.2 s later."""
    doc = synthetic.submission(seed=3)
    trials = doc["measurements"][0]["trials"]
    for t, watts in zip(trials, values, strict=False):
        if watts is not None:
            _stuck(t, watts)
    if gap_after is not None:
        for t in trials[gap_after + 1 :]:
            t["started_at_s"] += 0.2
    return domain.parse(doc)


def test_s1_fewer_than_three_pairs_apart_or_pairs_with_time_between_are_not_judged() -> None:
    """Readings in a gap, the value moving between them, part two windows: rare (under 1e-3 a pair at the real
    files' gaps), so MIN_STUCK_APART pairs are asked for, each within STUCK_GAP_S."""
    assert madeup.MIN_STUCK_APART == 3
    assert madeup.stuck_apart(_row_stuck([250.123, 251.456, 249.789, 250.5]))  # three pairs apart
    assert not madeup.stuck_apart(_row_stuck([250.123, 251.456, 249.789]))  # two
    assert not madeup.stuck_apart(_row_stuck([250.123, 251.456, 249.789, 250.5], gap_after=1))  # one 0.2 s apart
    assert not madeup.stuck_apart(_row_stuck([250.123, 250.123, 250.123, 250.123]))  # one value: zero_variance's


def test_s1_pairs_apart_that_are_few_of_the_pairs_whose_readings_stood_still_are_not_judged() -> None:
    """A reading that stands still longer than a trial but less than two parts each pair that holds its update: the
    trials beside such a pair moved. One that stands still for several trials gives most pairs one value. Either way
    pairs apart are few of the back-to-back pairs holding a reading that stood still; a forger's are all of them
    (review42: eco-collect's files were refused so, tests/test_collector_held_power_reading.py)."""
    a, b, c, d, e, f = 250.123, 251.456, 249.789, 250.5, 252.25, 248.75
    assert not madeup.stuck_apart(_row_stuck([a, b, None, c, d, None, e, f, None, None]))  # 3 of 8 pairs apart
    assert not madeup.stuck_apart(_row_stuck([a, a, a, b, b, b, c, c, c, d]))  # 3 of 9
    assert madeup.stuck_apart(_row_stuck([a, b, c, d, e, f, None]))  # 5 of 6: typed by hand


@pytest.mark.parametrize("storage", ["bfloat16", "int3", "None"])
def test_q1_a_four_bit_storage_dtype_eco_collect_never_records_is_refused(storage: str) -> None:
    """Q1: bnb_4bit_quant_storage took any string of 32 characters. eco-collect passes none to BitsAndBytesConfig,
    whose default (uint8 since transformers 4.39; eco-collect needs 4.45) every real file records."""
    doc = json.loads(SEQUENTIAL.read_text())
    rows = [m for m in doc["measurements"] if m["quantization"]["method"] == "bitsandbytes"]
    assert rows and all(m["quantization"]["bnb_4bit_quant_storage"] == "uint8" for m in rows)
    assert "provenance.quantization_mismatch" not in _codes(doc)
    rows[0]["quantization"]["bnb_4bit_quant_storage"] = storage
    assert "provenance.quantization_mismatch" in _codes(doc)


@pytest.mark.parametrize("hours", [-3, 1])
def test_i1_created_at_moved_without_the_name_is_refused(hours: int) -> None:
    """I1: a real file's created_at and session start moved by hand (its wall time kept, every other timestamp
    rule held) passed on its own; eco-collect names the file from the second it writes as created_at."""
    doc = json.loads(SEQUENTIAL.read_text())
    assert "provenance.submission_id" not in _codes(doc)
    for key, container in (("created_at", doc), ("started_at", doc["session"])):
        moved = datetime.strptime(container[key], "%Y-%m-%dT%H:%M:%SZ") + timedelta(hours=hours)
        container[key] = moved.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _errors(doc) == {"provenance.submission_id"}


def test_i1_an_id_without_eco_collects_time_is_left_to_the_other_rules() -> None:
    """tests/synthetic.py's ids (synthetic-<seed>) carry no time: nothing to compare."""
    doc = synthetic.submission(seed=4)
    assert doc["submission_id"] == "synthetic-00000004"
    assert "provenance.submission_id" not in _codes(doc)


def _shuffled_copy(nudge: float, duration_k: float = 1.0, power_k: float = 1.0) -> dict:
    """Attack v29's copy of an accepted file as mallory's (each duration and average power nudged by up to
    ``nudge``, optionally rescaled), its gate windows' trials then put in another order (readings and all), start
    times laid out again with the gaps the trials had, summaries recomputed."""
    doc = v29._copied(nudge, duration_k, power_k)
    keys = ("duration_s", "energy_j", "energy_per_gpu_j", "power_avg_w", "power_peak_w", "sampler_energy_j")
    keys += ("sample_rate_hz", "power_samples", "power_nvml_avg_1s_w", "temperature_max_c", "generated_tokens")
    keys += ("sm_clock_mhz_mean", "mem_clock_mhz_mean")
    for m in doc["measurements"]:
        trials = m["trials"]
        gaps = [b["started_at_s"] - a["started_at_s"] - a["duration_s"] for a, b in itertools.pairwise(trials)]
        window = [t for t in trials if t["role"] == "measured"]
        values = [{k: t[k] for k in keys} for t in window]
        # the even trials first, then the odd: no two neighbours stay neighbours, so no run of trials in order
        for t, v in zip(window, values[::2] + values[1::2], strict=True):
            t.update(v)
        for a, b, gap in zip(trials, trials[1:], gaps, strict=False):
            b["started_at_s"] = a["started_at_s"] + a["duration_s"] + gap
    sub = domain.parse(doc)
    for m, md in zip(sub.measurements, doc["measurements"], strict=True):
        if md["idle"] is not None:
            idle_w = (md["idle"]["power_before_w"] + md["idle"]["power_after_w"]) / 2
            md["summary"] = dataclasses.asdict(stats.summarize(m.trials, idle_w))
    return doc


@pytest.mark.parametrize(("nudge", "duration_k", "power_k"), [(1e-8, 1.0, 1.0), (2e-7, 1.0, 1.0), (1e-8, 1.02, 0.97)])
def test_c1_an_accepted_file_copied_with_its_gate_windows_shuffled_is_a_near_duplicate(
    nudge: float, duration_k: float, power_k: float
) -> None:
    """C1: attack v29's nudged copy (found by runs of four trials in order) with each gate window's trials shuffled
    passed, alone and against the accepted file it copies; sorted, its windows step as that file's do."""
    doc = _shuffled_copy(nudge, duration_k, power_k)
    assert check.check_data(doc, "subs/mallory/copy.json", v29.NOW).accepted
    errors = v29._across(doc)
    assert [f.code for f in errors] == ["duplicate.near"]
    assert "each sorted" in errors[0].message and v29.SOURCE.name in errors[0].message


def test_c1_no_two_files_of_the_real_and_synthetic_ones_share_a_sorted_window_at_100_times_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Honest gate windows of two files lie 3.1e-4 apart at the closest (the real files and 100 synthetic ones)."""
    monkeypatch.setattr(nearfiles, "CROSS_COPY_REL", 100 * nearfiles.CROSS_COPY_REL)
    docs = [json.loads(f.read_text()) for f in sorted((ROOT / "submissions").glob("*/*.json"))]
    docs += [synthetic.submission(seed) for seed in range(40)]
    pool = [
        Checked(f"{k}.json", [], f"{k}", [], copy_windows=nearfiles.windows_of(domain.parse(d)))
        for k, d in enumerate(docs)
    ]
    assert sum(len(c.copy_windows) for c in pool) > 700
    assert nearfiles.copied_windows(pool, {c.path for c in pool}) == {}


def test_c1_windows_of_a_millisecond_clock_are_left_out() -> None:
    doc = json.loads(v29.SOURCE.read_text())
    assert nearfiles.windows_of(domain.parse(doc))
    doc["environment"]["host"]["os"] = "Windows 11"
    doc["environment"]["software"]["python"] = "3.12.7"
    assert nearfiles.windows_of(domain.parse(doc)) == ()


def _on_windows(doc: dict) -> dict:
    """``doc`` relabelled as eco-collect writes a Windows 11 host with Python 3.12 (os: platform.system() and
    release, no /etc/os-release), whose time.monotonic reads whole milliseconds."""
    doc["environment"]["host"].update(os="Windows 11", kernel="11")
    doc["environment"]["software"]["python"] = "3.12.7"
    return doc


@pytest.mark.parametrize("nudge", [1e-8, 1e-7])
def test_w1_a_nudged_copy_relabelled_windows_python_3_12_is_refused(nudge: float) -> None:
    """W1: claiming a millisecond clock turns off the copy rules on durations (within and across files): attack v29's
    nudged copy relabelled so passed, alone and against the accepted file it copies. Its nanosecond durations are no
    such clock's."""
    doc = _on_windows(v29._copied(nudge))
    errors = v29._across(doc)
    assert {f.code for f in errors} == {"protocol.session_time"}
    assert "not a whole number of milliseconds" in errors[0].message and "Windows 11" in errors[0].message


def test_w1_timings_read_in_whole_milliseconds_pass() -> None:
    """The same file read by a clock of 15.625-ms ticks in whole milliseconds, as on such a host: every duration and
    start on the grid (to float rounding at an uptime of 271,234 s), nothing refused for its grain."""
    doc = _on_windows(synthetic.submission(seed=6, n_measurements=3))

    def read(t: float) -> float:
        return math.floor(math.floor((t * 1e3 + 271_234_567.0) / 15.625) * 15.625) / 1e3

    for m in doc["measurements"]:
        for t in m["trials"]:
            t0, t1 = read(t["started_at_s"]), read(t["started_at_s"] + t["duration_s"])
            t["started_at_s"], t["duration_s"] = t0 - read(0.0), t1 - t0
            t["sampler_energy_j"] = t["power_avg_w"] * t["duration_s"]
        resummarize(m)
    assert timeline.millisecond_grain(domain.parse(doc), "f.json") == []
    doc["measurements"][1]["trials"][3]["started_at_s"] += 2e-6
    (found,) = timeline.millisecond_grain(domain.parse(doc), "f.json")
    assert found.pointer == "/measurements/1/trials/3/started_at_s"


@pytest.mark.parametrize(
    ("pointer", "value", "reason"),
    [
        (("measurements", 0, "trials", 0, "duration_s"), 1.7e308, "is greater than the maximum of"),
        (("measurements", 0, "model", "id"), "a/" + "b" * 5000, "is longer than 256 characters"),
    ],
)
def test_m1_a_schema_finding_on_a_long_value_keeps_its_reason(pointer: tuple, value: object, reason: str) -> None:
    """M1: jsonschema-rs quotes the value first and the reason last; 1.7e308 spelt in 309 digits, or a long string,
    cut at 300 characters left the contributor no reason. The message keeps its start and its end, bounded."""
    doc = synthetic.submission(seed=2)
    node = doc
    for key in pointer[:-1]:
        node = node[key]
    node[pointer[-1]] = value
    found = [f for f in check.check_data(doc, "x.json", NOW).findings if f.code == "schema.violation"]
    assert found and all(f.message.endswith(reason) or reason in f.message[-60:] for f in found)
    assert max(len(f.message) for f in found) < 400
