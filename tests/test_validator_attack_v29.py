"""Attack v29 X1: an accepted file copied as a new contributor's, every trial's duration and average power nudged
below the fingerprints' digits (and rescaled or not), passed the run over files; validator/nearfiles.py finds runs
of four gate-window trials stepping as another file's do, to CROSS_COPY_REL."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT

from ecocompute import domain, stats
from validator import check, nearfiles
from validator.check import Checked
from validator.run import report_for

SOURCE = ROOT / "submissions" / "ecocompute-bot" / "ecocompute-bot-h200-20261125-010714.json"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _copied(nudge: float, duration_k: float = 1.0, power_k: float = 1.0, seed: int = 1) -> dict:
    """SOURCE as mallory's: new id and board, idle moved by 1e-4, start times by 0.3 ms, each duration and average
    power moved by up to ``nudge`` (after x ``duration_k`` and ``power_k``), energies recomputed to whole mJ."""
    rng = random.Random(seed)
    doc = json.loads(SOURCE.read_text())
    doc["contributor"]["handle"] = "mallory"
    doc["submission_id"] = "mallory-nvidia-h200-20261125-010714"
    doc["environment"]["gpu"]["uuid_sha256"] = f"{rng.getrandbits(256):064x}"
    doc["session"]["wall_s"] *= duration_k
    created, started = datetime.fromisoformat(doc["created_at"]), datetime.fromisoformat(doc["session"]["started_at"])
    started = created - timedelta(seconds=round((created - started).total_seconds() * duration_k))
    doc["session"]["started_at"] = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    for m in doc["measurements"]:
        idle = m["idle"]
        for key in ("power_before_w", "power_after_w"):
            idle[key] *= 1 + rng.uniform(-1e-4, 1e-4)
            idle[key.replace("power_", "power_per_gpu_")] = [idle[key]]
        for t in m["trials"]:
            t["duration_s"] *= duration_k * (1 + nudge * rng.uniform(-1, 1))
            t["power_avg_w"] *= power_k * (1 + nudge * rng.uniform(-1, 1))
            t["power_peak_w"] = round(t["power_peak_w"] * power_k, 3)
            t["sampler_energy_j"] = t["power_avg_w"] * t["duration_s"]
            t["sample_rate_hz"] = t["power_samples"] / t["duration_s"]
            t["energy_j"] = round(t["energy_j"] * duration_k * power_k * 1000 + rng.choice([11, -13, 17])) / 1000
            t["energy_per_gpu_j"] = [t["energy_j"]]
            t["started_at_s"] = t["started_at_s"] * duration_k + rng.uniform(-3e-4, 3e-4)
    sub = domain.parse(doc)
    for m, md in zip(sub.measurements, doc["measurements"], strict=True):
        idle_w = (md["idle"]["power_before_w"] + md["idle"]["power_after_w"]) / 2
        md["summary"] = dataclasses.asdict(stats.summarize(m.trials, idle_w))
    return doc


def _across(doc: dict) -> list:
    """The candidate's findings, its own and over files, against SOURCE as the accepted pool."""
    candidate = check.check_data(doc, "subs/mallory/copy.json", NOW)
    accepted = check.check_file(SOURCE, NOW)
    assert accepted.accepted
    return report_for([candidate], [accepted]).errors


@pytest.mark.parametrize(
    ("nudge", "duration_k", "power_k"),
    [(1e-8, 1.0, 1.0), (1e-7, 1.0, 1.0), (2e-7, 1.0, 1.0), (1e-8, 1.02, 0.97)],
    ids=["nudged-1e-8", "nudged-1e-7", "nudged-2e-7", "rescaled-and-nudged-1e-8"],
)
def test_an_accepted_file_copied_and_nudged_is_a_near_duplicate(nudge: float, duration_k: float, power_k: float):
    errors = _across(_copied(nudge, duration_k, power_k))
    assert [f.code for f in errors] == ["duplicate.near"]
    assert "step in duration and average power as those of" in errors[0].message
    assert str(SOURCE.name) in errors[0].message


def test_the_copy_alone_passes_its_own_checks():
    """What made it an attack: judged alone (no accepted pool), the copy raises no error."""
    assert check.check_data(_copied(1e-8), "subs/mallory/copy.json", NOW).accepted


def test_a_copy_with_noise_above_the_bound_is_not_judged():
    """The documented limit: noise of 1e-5 on every value is as a sensor's; the rule does not reach it."""
    assert _across(_copied(1e-5)) == []


def _checked(path: str, runs: tuple) -> Checked:
    return Checked(path, [], path, [f"{path}#{i}" for i in range(20)], copy_runs=runs)


def test_runs_of_a_millisecond_clock_are_left_out():
    """Windows with Python before 3.13 reads whole milliseconds: durations repeat honestly (madeup.millisecond_clock)."""
    doc = json.loads(SOURCE.read_text())
    assert nearfiles.runs_of(domain.parse(doc))
    doc["environment"]["host"]["os"] = "Windows 11"
    doc["environment"]["software"]["python"] = "3.12.7"
    assert nearfiles.runs_of(domain.parse(doc)) == ()


def test_a_run_is_matched_across_files_only_and_named_once_per_file():
    run = (0, 2, 0.01, -0.002, 0.003, 0.004, -0.005, 0.006)
    near = (1, 3, *(v + 0.9e-6 for v in run[2:]))
    far = (1, 3, *(v - 1.1e-6 for v in run[2:]))  # 2e-6 from near
    pool = [_checked("a.json", (run, run)), _checked("b.json", (near,)), _checked("c.json", (far,))]
    found = nearfiles.copied_runs(pool, {"a.json", "b.json", "c.json"})
    assert found == {"b.json": [(1, 3, "a.json", 0, 2)]}  # a.json's own two runs are copies.py's to judge


def test_the_real_files_share_no_run_at_100_times_the_bound(monkeypatch: pytest.MonkeyPatch):
    """Honest runs of two files lie 4.8e-4 apart at the closest (every trial; gate windows 7e-4)."""
    monkeypatch.setattr(nearfiles, "CROSS_COPY_REL", 100 * nearfiles.CROSS_COPY_REL)
    files = sorted((ROOT / "submissions").glob("*/*.json"))
    pool = [_checked(str(f), nearfiles.runs_of(domain.parse(json.loads(f.read_text())))) for f in files]
    assert sum(len(c.copy_runs) for c in pool) > 900
    assert nearfiles.copied_runs(pool, {c.path for c in pool}) == {}
