"""Attack v3: crashes and accepted fabrications found by fuzzing valid files (each test fails on the
code before its fix)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import synthetic
from conftest import write_json

from validator.check import check_data
from validator.run import validate


def _codes(doc: dict[str, Any]) -> set[str]:
    return {f.code for f in check_data(doc, "f.json").findings}


def test_a_row_claiming_no_throughput_is_named_not_a_crash(valid_doc: dict[str, Any]) -> None:
    # batch scaling divided by the slowest smaller batch's per-sequence speed: 0 tok/s at batch 1 ended
    # the file's checks with ZeroDivisionError (validator.internal_error)
    doc = copy.deepcopy(valid_doc)
    doc["measurements"][0]["summary"]["throughput_tok_s_mean"] = 0
    codes = _codes(doc)
    assert "validator.internal_error" not in codes
    assert "physics.throughput" in codes


def _partial_copy(tmp_path: Path, rescale: bool) -> list[str]:
    """Codes of a second file whose only row copies the first's trials (each quantity rescaled by its
    own factor when ``rescale``) but edits the gate window's last trial and nudges idle: no window,
    shape or idle print of the first file survives, only its single trials and their pairs."""
    first = synthetic.submission(seed=41, n_measurements=1)
    second = copy.deepcopy(first)
    second["submission_id"] = "synthetic-00000042"
    second["environment"]["gpu"]["uuid_sha256"] = "f" * 64
    m = second["measurements"][0]
    factors = {"duration_s": 1.1, "energy_j": 0.7, "power_avg_w": 0.7 / 1.1} if rescale else {}
    for t in m["trials"]:
        for key, factor in factors.items():
            t[key] *= factor
        t["sampler_energy_j"] *= factors.get("energy_j", 1.0)
        t["power_peak_w"] = t["power_nvml_avg_1s_w"] = t["power_avg_w"] * 1.01
        t["energy_per_gpu_j"] = [t["energy_j"]]
        t["power_samples"] = int(t["duration_s"] * t["sample_rate_hz"])
    last = m["trials"][-1]
    for key in ("duration_s", "energy_j", "sampler_energy_j"):
        last[key] *= 1.003
    last["power_avg_w"] *= 1.0004
    last["energy_per_gpu_j"] = [last["energy_j"]]
    last["power_samples"] = int(last["duration_s"] * last["sample_rate_hz"])
    m["idle"]["power_before_w"] += 0.0137
    m["idle"]["power_per_gpu_before_w"] = [m["idle"]["power_before_w"]]
    synthetic.resummarize(m)
    paths = [write_json(tmp_path / f"{d['submission_id']}.json", d) for d in (first, second)]
    report = validate(paths, accepted_root=None)
    return [f.code for f in report.findings if f.file.endswith("42.json")]


@pytest.mark.parametrize("rescale", [False, True], ids=["as_they_were", "rescaled"])
def test_trials_copied_from_another_file_beside_one_made_up_are_found(tmp_path: Path, rescale: bool) -> None:
    # nine of ten trials of an accepted row (four of the window's five) passed: only whole windows,
    # their shapes and idle baselines were compared across files
    assert _partial_copy(tmp_path, rescale) == ["duplicate.near"]


def test_a_long_duplicate_key_is_named_by_its_start(tmp_path: Path) -> None:
    # the whole key went into the message: 40 files of one 2.4-MB key twice made a 192-MB JSON report
    # and 650 MB of memory, growing with every file
    key = "\u4e00" * 100_000
    path = tmp_path / "f.json"
    path.write_text(f'{{"{key}": 1, "{key}": 2}}', encoding="utf-8")
    (finding,) = validate([path], accepted_root=None).findings
    assert finding.code == "json.duplicate_key"
    assert len(finding.message) < 200
    assert "100000 characters" in finding.message


def test_a_schema_finding_under_a_huge_key_points_at_its_object(valid_doc: dict[str, Any]) -> None:
    # the pointer named the key whole: a 3-MB device-map key made a 6-MB JSON report from one file
    doc = copy.deepcopy(valid_doc)
    doc["measurements"][0]["placement"]["device_map"] = {"a" * 1_000_000: "x"}
    findings = check_data(doc, "f.json").findings
    assert {f.code for f in findings} == {"schema.violation"}
    assert max(len(f.pointer) + len(f.message) for f in findings) < 1000
    assert "/measurements/0/placement/device_map" in {f.pointer for f in findings}


def test_honest_trials_that_agree_to_six_digits_across_files_are_no_copy(tmp_path: Path) -> None:
    """Two sessions of one configuration: a trial of each agrees in duration, energy (whole mJ) and power
    to six significant digits, by chance (found among 12,500 synthetic files). Compared across files at
    six digits that was duplicate.near; only an exact trial is a copy."""
    docs = [synthetic.submission(seed=s, n_measurements=8, n_trials=7) for s in (4677, 11168)]
    a, b = (d["measurements"][0]["trials"] for d in docs)
    same = "%.5e|%.5e|%.5e"
    keys = {same % (t["duration_s"], t["energy_j"], t["power_avg_w"]) for t in a}
    assert any(same % (t["duration_s"], t["energy_j"], t["power_avg_w"]) in keys for t in b)
    paths = [write_json(tmp_path / f"{d['submission_id']}.json", d) for d in docs]
    assert validate(paths, accepted_root=None).findings == []


def test_pairs_of_trials_that_agree_to_nine_digits_are_different_pairs() -> None:
    """Ratios of consecutive trials cluster near 1 in every file: compared at nine digits, honest pairs of
    two files would collide once the dataset holds about a million of them."""
    from validator import fabrication

    first = fabrication._pair((2.0, 500.0, 250.0), (2.0000000021, 500.0, 250.00000051))
    second = fabrication._pair((3.0, 750.0, 240.0), (3.0000000030, 750.0, 240.00000048))
    assert first is not None and second is not None and first != second
    rescaled = fabrication._pair((2.0 * 1.1, 350.0, 250.0 * 0.63), (2.0000000021 * 1.1, 350.0, 250.00000051 * 0.63))
    assert rescaled == first  # a copy rescaled quantity by quantity keeps its pair
