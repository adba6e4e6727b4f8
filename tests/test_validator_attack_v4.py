"""Attack v4: each row replays eco-collect's loop over its trials (validator/replay.py); each trial's
readings are in NVML's units and the sampler's identities (validator/readings.py)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
import synthetic
from synthetic import resummarize, stretch

from ecocompute import domain
from validator import readings, replay
from validator.check import check_data

ROOT = Path(__file__).resolve().parents[1]


def _codes(doc: dict) -> set[str]:
    return {f.code for f in check_data(doc, "attack-v4.json").findings}


def test_every_real_row_replays() -> None:
    files = sorted((ROOT / "submissions").rglob("*.json"))
    assert files
    for f in files:
        assert replay.check(domain.parse(json.loads(f.read_text(encoding="utf-8"))), f.name) == [], f.name


def test_steady_trials_past_a_passing_window_are_named() -> None:
    """Ten steady trials (2 warm-ups, 3 discarded, 5 measured): the first window passed, so eco-collect
    stopped after trial 6; the made-up row goes on to trial 9."""
    doc = synthetic.submission(seed=3, n_measurements=1, n_trials=10)
    assert _codes(doc) == set()
    m = doc["measurements"][0]
    # the discarded ones as steady, each stretched by its own factor: stretched alike, the three would be the
    # three after them rescaled (copies.rescaled_copy, attack v28 R2), another finding than this test's
    for k, (t, steady) in enumerate(zip(m["trials"][2:5], m["trials"][5:8], strict=True)):
        t.update({key: v for key, v in steady.items() if key not in ("index", "role", "started_at_s")})
        stretch(t, 1.001 + 3e-4 * k)
    resummarize(m)
    assert _codes(doc) == {"protocol.stop_reason"}


def test_requests_follow_the_first_warmups_sizing() -> None:
    doc = synthetic.submission(seed=4, n_measurements=1, n_trials=7)
    m = doc["measurements"][0]
    several = copy.deepcopy(doc)
    for t in several["measurements"][0]["trials"]:
        t["requests"] *= 3
        t["generated_tokens"] *= 3
        stretch(t, 3)
    resummarize(several["measurements"][0])
    several["session"]["wall_s"] = 3600.0
    assert _codes(several) == {"protocol.trial_duration"}  # the first warm-up runs one request
    sized = copy.deepcopy(doc)
    for t in sized["measurements"][0]["trials"][1:]:
        t["requests"] *= 3
        t["generated_tokens"] *= 3
        stretch(t, 3)
    first = sized["measurements"][0]["trials"][0]
    stretch(first, 2.0 / 2.5 / first["duration_s"])  # 0.8 s a request: ceil(2 / 0.8) = 3
    resummarize(sized["measurements"][0])
    assert "protocol.trial_duration" not in _codes(sized)
    assert m["trials"][0]["requests"] == 1


def test_a_warmup_after_settling_is_named() -> None:
    doc = synthetic.submission(seed=5, n_measurements=1, n_trials=8)
    m = doc["measurements"][0]
    m["trials"][2]["role"] = "warmup"
    resummarize(m)
    assert _codes(doc) == {"protocol.warmup"}


def test_a_warmup_that_ended_unsettled_is_named() -> None:
    doc = synthetic.submission(seed=6, n_measurements=1, n_trials=7)
    stretch(doc["measurements"][0]["trials"][1], 0.9)  # 11 % faster than the first: not settled
    resummarize(doc["measurements"][0])
    assert _codes(doc) == {"protocol.warmup"}
    doc["protocol"]["warmup"]["max_trials"] = 2  # unless the maximum ends it (eco-collect 0.5.0's)
    doc["collector"]["version"] = "0.5.0"
    assert _codes(doc) == set()


def test_the_replay_of_a_long_row_is_bounded() -> None:
    """1,000 trials after warm-up (the largest budget) whose windows all fail the throughput gate
    without making passing implausible: every step runs the early-stop rule."""
    doc = synthetic.submission(seed=9, n_measurements=1, n_trials=1002)
    doc["protocol"]["gates"]["max_trials"] = 1000
    m = doc["measurements"][0]
    for k, t in enumerate(m["trials"]):
        stretch(t, 1 + 0.01 * ((k // 3) % 7))
    resummarize(m)
    sub = domain.parse(doc)
    start = time.perf_counter()
    assert replay.check(sub, "long.json") == []
    assert time.perf_counter() - start < 1.0


def test_every_real_trial_is_in_nvml_units() -> None:
    for f in sorted((ROOT / "submissions").rglob("*.json")):
        assert readings.check(domain.parse(json.loads(f.read_text(encoding="utf-8"))), f.name) == [], f.name


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("temperature_max_c", 47.5, "physics.temperature"),  # NVML: whole degrees
        ("power_peak_w", 270.0004, "physics.peak_power"),  # whole milliwatts
        ("sampler_energy_j", "counter", "physics.energy_power"),  # the sampler's is its power x duration
        ("energy_per_gpu_j", 0.0004, "physics.energy_power"),  # the counter's whole millijoules
    ],
)
def test_readings_no_board_gives_are_named(field: str, value: object, code: str) -> None:
    doc = synthetic.submission(seed=8, n_measurements=1, n_trials=7)
    assert _codes(doc) == set()
    m = doc["measurements"][0]
    t = m["trials"][3]
    if field == "sampler_energy_j":
        t["sampler_energy_j"] = t["energy_j"]  # near the counter's, as a made-up file draws it
    elif field == "energy_per_gpu_j":
        t["energy_per_gpu_j"] = [t["energy_j"] + value]
        t["energy_j"] = t["energy_per_gpu_j"][0]
    else:
        t[field] = value
    resummarize(m, units=False)
    assert code in _codes(doc)


def test_power_integration_energy_is_the_samplers() -> None:
    doc = synthetic.submission(seed=10, n_measurements=1, n_trials=7)
    doc["protocol"]["energy_method"] = "power_integration"
    m = doc["measurements"][0]
    for t in m["trials"]:
        t["sampler_energy_j"] = None
        t["energy_j"] = t["power_avg_w"] * t["duration_s"]
        t["energy_per_gpu_j"] = [t["energy_j"]]
    resummarize(m)
    assert "physics.energy_power" not in _codes(doc)
    m["trials"][3]["energy_j"] *= 1.01
    m["trials"][3]["energy_per_gpu_j"] = [m["trials"][3]["energy_j"]]
    resummarize(m, units=False)
    assert "physics.energy_power" in _codes(doc)


def test_samples_are_the_rate_times_the_window() -> None:
    doc = synthetic.submission(seed=11, n_measurements=1, n_trials=7)
    t = doc["measurements"][0]["trials"][3]
    t["sample_rate_hz"] = 20.0  # a round rate beside int(duration x 20) samples, as made-up files hold
    t["power_samples"] = int(t["duration_s"] * 20.0)
    assert "physics.sample_count" in _codes(doc)


def test_random_and_pretrained_rows_cannot_share_a_run() -> None:
    doc = synthetic.submission(seed=12, n_measurements=2, n_trials=7)
    doc["measurements"][1]["model"].update(weights="random_init", revision="config-only")
    assert _codes(doc) == {"provenance.revision"}
    doc["measurements"][0]["model"].update(weights="random_init", revision="config-only")
    assert _codes(doc) == set()


def _replayed(doc: dict, version: str) -> set[str]:
    doc["collector"]["version"] = version
    return {f.code for f in replay.check(domain.parse(doc), "attack-v4.json")}


def test_an_old_collectors_warm_up_replays_as_it_ran() -> None:
    """eco-collect 0.1.0 settled only between two consecutive full-size warm-ups: a 0.8-s sizing warm-up
    within 2 % of the first full-size one did not settle it, and a third warm-up followed. That row is
    0.1.0's (and may be 0.2.0's, numbered before the newer rule); eco-collect 0.3.0 would have stopped
    warming up one trial earlier."""
    doc = synthetic.submission(seed=7, n_measurements=1, n_trials=8)
    m = doc["measurements"][0]
    tr = m["trials"]
    rate = tr[0]["generated_tokens"] / tr[0]["duration_s"]
    stretch(tr[0], 0.8 / tr[0]["duration_s"])  # under 0.9 x 2 s: resized to ceil(2 / 0.8) = 3 requests
    for t in tr[1:]:
        t["requests"] = 3
        t["generated_tokens"] *= 3
        stretch(t, 3 * (0.8 * rate / tr[0]["generated_tokens"]) * (1 + 0.001 * t["index"]))
    extra = copy.deepcopy(tr[1])
    stretch(extra, 1.003)
    tr.insert(2, extra)
    for i, t in enumerate(tr):
        t["index"] = i
    resummarize(m)
    assert [t["role"] for t in tr[:4]] == ["warmup", "warmup", "warmup", "discarded"]
    assert _replayed(doc, "0.1.0") == set()
    assert _replayed(doc, "0.2.0") == set()
    assert _replayed(doc, "0.3.0") == {"protocol.warmup"}


def test_a_020_early_stop_that_weighed_trials_past_warm_up_only_replays() -> None:
    """7a15feb's early stop (eco-collect 0.2.0's first code) needed two gate windows of trials past
    warm-up; the rule since also counts same-size warm-ups and decides two trials sooner."""
    doc = synthetic.submission(seed=11, n_measurements=1, n_trials=12)
    m = doc["measurements"][0]
    for t in m["trials"][2:]:
        stretch(t, 1.06 if t["index"] % 2 else 0.94)  # a 6 % swing: the throughput gate fails throughout
        t["role"] = "measured" if t["index"] >= 7 else "discarded"
    resummarize(m)
    del doc["protocol"]["early_stop"]["evidence_min_trials"]  # before schema 1.4.0: two windows' worth
    assert _replayed(doc, "0.2.0") == set()
    assert _replayed(doc, "0.3.0") == {"protocol.stop_reason"}
