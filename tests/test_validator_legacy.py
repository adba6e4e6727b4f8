"""The researcher's data, translated field by field, fails for its real faults."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import write_json
from legacy_translate import from_a800_raw, from_aggregates

from validator.run import validate


def _codes(tmp_path: Path, doc: dict) -> Counter[str]:
    return Counter(f.code for f in validate([write_json(tmp_path / "t.json", doc)], accepted_root=None).findings)


@pytest.mark.parametrize(
    "meta", ["rtx4090d_metadata.json", "rtx5090_metadata.json", "a800_metadata.json", "pure_int8_metadata.json"]
)
def test_published_aggregates_fail_for_provenance_and_missing_trials(tmp_path: Path, meta: str) -> None:
    doc = from_aggregates(meta)
    codes = _codes(tmp_path, doc)
    n = len(doc["measurements"])
    # no model commit anywhere ("latest (2026-02-13)" at best), and one more where the table mixes models
    # (one eco-collect run measures one model)
    mixed = len({m["model"]["id"] for m in doc["measurements"]}) > 1
    assert codes["provenance.revision"] == n + mixed
    assert codes["stats.too_few_trials"] == n  # only aggregates survive: one "trial" per row
    assert codes["provenance.unpinned_version"] >= 4  # "4.x", "latest", "11.5.x", "3.10.x" ...
    assert "schema.violation" not in codes


def test_net_energy_rows_do_not_match_power_times_time(tmp_path: Path) -> None:
    # The RTX 4090D tables report idle-subtracted energy next to gross power.
    codes = _codes(tmp_path, from_aggregates("rtx4090d_metadata.json"))
    assert codes["physics.energy_power"] == 13


def test_gross_energy_rows_do_match_power_times_time(tmp_path: Path) -> None:
    assert "physics.energy_power" not in _codes(tmp_path, from_aggregates("rtx5090_metadata.json"))


def test_a800_raw_sweep_fails_provenance_and_two_throughput_gates(tmp_path: Path) -> None:
    doc = from_a800_raw()
    assert [len(m["trials"]) for m in doc["measurements"]] == [10] * 7
    report = validate([write_json(tmp_path / "t.json", doc)], accepted_root=None)
    codes = Counter(f.code for f in report.findings)
    assert codes["provenance.revision"] == 7
    assert codes["provenance.unpinned_version"] >= 5
    assert "stats.too_few_trials" not in codes and "physics.energy_power" not in codes
    # "CV < 2 %" is claimed for every row; batch 4 and 16 have a throughput CV above 2 %.
    failed = sorted({f.pointer for f in report.findings if f.code == "stats.gate_mismatch"})
    batches = [doc["measurements"][int(p.split("/")[2])]["batch_size"] for p in failed]
    assert sorted(set(batches)) == [4, 16]
