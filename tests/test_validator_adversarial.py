"""The validator against a careless or dishonest contributor (issue 14), in one file's content: every field
attacked, every new code that no single file can reach forced, older schema versions only for the accepted
bytes. Folders, the repository and the accepted pool are test_validator_adversarial_files.py's; output that
cannot be forged, test_validator_adversarial_output.py's. Performance is shown by
benchmarks/validate_worst_case.py, not asserted here."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import synthetic
from conftest import ROOT, write_json

from validator import check, contract
from validator.findings import MAX_SHOWN_PER_CODE
from validator.run import Report, exit_code, validate

REAL = ROOT / "submissions" / "ecocompute-bot" / "ecocompute-bot-h100-80gb-hbm3-20261122-101011.json"


def _codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


def _check(tmp_path: Path, doc: Any, name: str = "x.json") -> Report:
    return validate([write_json(tmp_path / name, doc)], accepted_root=None)


def _pointers(value: Any, at: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _pointers(v, f"{at}/{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _pointers(v, f"{at}/{i}")]
    return [(at, value)]


def _set(doc: Any, pointer: str, value: Any) -> None:
    *parents, last = pointer.strip("/").split("/")
    node = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    node[int(last) if isinstance(node, list) else last] = value


# -- every field attacked ------------------------------------------------------------------------


@pytest.mark.parametrize("payload", ["\u202e", "\x1b[31m", "\u2066", "\ud800", "\x00", "\n", "\u200b", "\U000e0001"])
def test_unsafe_characters_in_every_string_field_are_rejected(tmp_path: Path, valid_doc: dict, payload: str) -> None:
    strings = [p for p, v in _pointers(valid_doc) if isinstance(v, str)]
    assert len(strings) > 40
    for pointer in strings:
        doc = copy.deepcopy(valid_doc)
        _set(doc, pointer, "A" + payload + "B")
        path = tmp_path / "x.json"
        path.write_text(json.dumps(doc), encoding="utf-8")  # ensure_ascii: the payload travels as an escape
        codes = _codes(validate([path], accepted_root=None))
        assert codes == {"json.unsafe_text"}, (pointer, codes)


def test_unsafe_key_is_rejected(tmp_path: Path, valid_doc: dict) -> None:
    valid_doc["measurements"][0]["placement"] = {"strategy": "device_map", "device_map": {"model\u202e": 0}}
    assert _codes(_check(tmp_path, valid_doc)) == {"json.unsafe_text"}


@pytest.mark.parametrize("path", [p for p in contract.integer_paths() if "[]" not in p or p[1] == "[]"])
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30, 3.0])
def test_integers_beyond_int64_or_spelt_as_floats(tmp_path: Path, valid_doc: dict, path: tuple, value: Any) -> None:
    pointer = "/" + "/".join("0" if t in ("[]", "*") else t for t in path)
    if path[-1] == "*":  # a free-form device_map value
        valid_doc["measurements"][0]["placement"] = {"strategy": "device_map", "device_map": {"m": value}}
    elif path[-1] == "first_difference" or path[-2] == "token_check":
        return  # generate() carries no token check to attack; covered by the schema's bounds
    elif path[-2] == "quality":
        return
    else:
        _set(valid_doc, pointer, value)
    assert _codes(_check(tmp_path, valid_doc)) == {"schema.violation"}, pointer


@pytest.mark.parametrize(
    "version",
    [
        "1" + "a" * 62 + "!",  # exponential for the old pattern
        "1" + ".a" * 31 + "!",
        "\u0661.\u0662.\u0663",  # Arabic-Indic digits: \d matched them
        "\uff11.\uff12",  # fullwidth digits
        "1.2.x",
        ">=2.0",
        "2.0 ",
    ],
)
def test_versions_are_exact_ascii_and_linear(tmp_path: Path, valid_doc: dict, version: str) -> None:
    valid_doc["environment"]["software"]["torch"] = version
    assert _codes(_check(tmp_path, valid_doc)) == {"provenance.unpinned_version"}


@pytest.mark.parametrize("value", ["2026-02-30T12:00:00Z", "2026-11-22T12:00:00+00:00", "2026-11-22t12:00:00z"])
def test_timestamps_are_strict(tmp_path: Path, valid_doc: dict, value: str) -> None:
    valid_doc["created_at"] = value
    assert _codes(_check(tmp_path, valid_doc)) == {"schema.violation"}


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "1E+400"])
def test_overflowing_numbers_are_nonfinite_wherever_they_stand(tmp_path: Path, valid_doc: dict, literal: str) -> None:
    for pointer in ("/measurements/0/trials/3/host/cpu_load_1m", "/measurements/0/summary/power_w_std"):
        doc = copy.deepcopy(valid_doc)
        _set(doc, pointer, "@@")
        path = tmp_path / "x.json"
        path.write_text(json.dumps(doc).replace('"@@"', literal), encoding="utf-8")
        assert _codes(validate([path], accepted_root=None)) == {"json.nonfinite"}, pointer


def test_negative_zero_and_tiny_numbers_never_crash(tmp_path: Path, valid_doc: dict) -> None:
    for pointer in ("/measurements/0/trials/3/energy_j", "/measurements/0/trials/3/power_avg_w"):
        for value in (-0.0, 5e-324):
            doc = copy.deepcopy(valid_doc)
            _set(doc, pointer, value)
            report = _check(tmp_path, doc)
            assert report.errors and "validator.internal_error" not in _codes(report)


def test_thousands_of_trials_give_capped_findings_and_lines(tmp_path: Path) -> None:
    doc = synthetic.submission(seed=11, n_measurements=4, n_trials=1500)
    for m in doc["measurements"]:
        for t in m["trials"]:
            t["temperature_max_c"] = 150.0
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc), encoding="utf-8")  # 6,000 trials, about 4 MB
    report = validate([path], accepted_root=None)
    per_code = [f for f in report.findings if f.code == "physics.temperature"]
    assert len(per_code) == MAX_SHOWN_PER_CODE + 1
    assert "more finding(s) of this code" in per_code[-1].message
    assert all(f.line for f in per_code[:-1])


def test_a_duplicate_group_is_reported_once(tmp_path: Path, valid_doc: dict) -> None:
    valid_doc["measurements"] = [copy.deepcopy(valid_doc["measurements"][0]) for _ in range(50)]
    (finding,) = [f for f in _check(tmp_path, valid_doc).findings if f.code == "duplicate.measurement"]
    assert "and 44 more" in finding.message


def test_hostile_structures_are_rejected_before_parsing(tmp_path: Path) -> None:
    cases = {
        "wide": b"[" + b",".join([b"[[[]]]"] * 40_000) + b"]",
        "keys": json.dumps({"schema_version": "1.2.0", **{f"k{i}": {} for i in range(120_000)}}).encode(),
    }
    for name, raw in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(raw)
        assert _codes(validate([path], accepted_root=None)) == {"json.too_complex"}, name


# -- codes no single honest-looking file reaches ------------------------------------------------------


def test_an_internal_error_is_a_finding_and_the_run_goes_on(
    tmp_path: Path, valid_doc: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from validator import physics

    bad = write_json(tmp_path / "a.json", valid_doc)
    good = write_json(tmp_path / "b.json", synthetic.submission(seed=3, n_measurements=2, n_trials=7))
    real = physics.check
    monkeypatch.setattr(
        physics,
        "check",
        lambda sub, f: (_ for _ in ()).throw(RuntimeError("boom")) if f.endswith("a.json") else real(sub, f),
    )
    report = validate([bad, good], accepted_root=None)
    (finding,) = report.findings
    assert finding.code == "validator.internal_error" and finding.file.endswith("a.json") and "boom" in finding.message
    assert exit_code(report) == 1 and report.rejected_files() == {finding.file}


def test_rows_that_cannot_be_built_are_rejected(
    tmp_path: Path, valid_doc: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate converts rows with the dataset's own column types and rules: a row the builder could
    not write (an int beyond int64, a NaN) is dataset.unbuildable."""
    from ecocompute import rows

    real = rows.measurement_row
    for broken in ({"parameter_count": 2**64}, {"power_w": float("nan")}, {"throughput_tok_s": -1.0}):
        monkeypatch.setattr(rows, "measurement_row", lambda *a, b=broken: {**real(*a), **b})
        report = _check(tmp_path, valid_doc)
        assert _codes(report) == {"dataset.unbuildable"}, broken


# -- older schema versions and the collector's API ---------------------------------------------------


def test_older_schema_versions_hold_only_for_the_accepted_bytes(tmp_path: Path) -> None:
    assert validate([REAL], accepted_root=None).findings == []
    edited = tmp_path / REAL.name
    edited.write_bytes(REAL.read_bytes().replace(b'"interleaved": true', b'"interleaved":  true'))
    assert _codes(validate([edited], accepted_root=None)) == {"schema.outdated_version"}


def test_check_document_keeps_its_api(valid_doc: dict) -> None:
    assert check.check_document(valid_doc, f"{valid_doc['submission_id']}.json") == []
    bidi = copy.deepcopy(valid_doc)
    bidi["environment"]["host"]["kernel"] = "6.8\u202e"
    assert [f.code for f in check.check_document(bidi, "x.json")] == ["json.unsafe_text"]
    older = {**valid_doc, "schema_version": "1.3.0", "collector": {"name": "eco-collect", "version": "0.2.0"}}
    # eco-collect 0.2.0's protocol: at most 4 warm-ups, an early stop without evidence_min_trials
    older["protocol"] = copy.deepcopy(valid_doc["protocol"])
    older["protocol"]["warmup"]["max_trials"] = 4
    del older["protocol"]["early_stop"]["evidence_min_trials"]
    findings = check.check_document(older, "x.json")
    assert [f.code for f in findings] == ["schema.outdated_version"]


# -- rows of one model, schema forms, the sensors' agreement, old engines ------------------------------


def test_every_measurement_of_a_model_is_held_to_its_architecture(tmp_path: Path) -> None:
    doc = synthetic.submission(seed=15, n_measurements=2, n_trials=7)
    assert doc["measurements"][0]["model"]["id"] == doc["measurements"][1]["model"]["id"]
    doc["measurements"][1]["model"]["parameter_count"] //= 2
    report = _check(tmp_path, doc)
    assert _codes(report) == {"reference.parameter_count"} and report.findings[0].pointer == "/measurements/1/model"


def test_a_null_reproducibility_bound_is_a_schema_1_5_0_form(tmp_path: Path) -> None:
    """Null (equal ids, one reference run) came with 1.5.0: a 1.4.0 file must still carry the number."""
    doc = synthetic.submission(seed=3, n_measurements=1, n_trials=7)
    doc["measurements"][0]["engine"].update(
        name="cuda-graph",
        cache_implementation="static",
        compiled=False,
        cuda_graph=True,
        token_check={
            "reference": "generate",
            "new_tokens": doc["measurements"][0]["batch_size"] * doc["protocol"]["output_tokens"],
            "equal": True,
            "first_difference": None,
            "ids_sha256": "0" * 64,
            "reference_reproducible_steps": None,
        },
    )
    assert _codes(_check(tmp_path, doc)) == set()
    for version, collector in (("1.4.0", "0.3.0"), ("1.3.0", "0.2.0"), ("1.2.0", "0.2.0")):
        doc.update(schema_version=version, collector={"name": "eco-collect", "version": collector})
        report = _check(tmp_path, doc)
        assert "schema.violation" in _codes(report), version
        assert any("reference_reproducible_steps" in f.pointer for f in report.findings), version


@pytest.mark.parametrize(("share", "warned"), [(0.98, False), (1.02, True), (-0.98, False), (-1.02, True)])
def test_counter_and_sampler_may_differ_by_5_percent_plus_one_counter_step(
    tmp_path: Path, valid_doc: dict, share: float, warned: bool
) -> None:
    """A 0.5-s warm-up differs by 10-20 % with nothing wrong: the counter's energy of a window is off by
    up to one 0.1-s step of power. Beyond 5 % plus that step, high or low, the warning stands."""
    trial = next(t for t in valid_doc["measurements"][0]["trials"] if t["role"] == "warmup")
    # the sampler's average power is its energy over the window, and the step is of that power:
    # sampler = E + share x (0.05 E + 0.1 x sampler / duration)
    e, d = trial["energy_j"], trial["duration_s"]
    trial["sampler_energy_j"] = e * (1 + 0.05 * share) / (1 - 0.1 * share / d)
    trial["power_avg_w"] = trial["sampler_energy_j"] / d
    trial["power_peak_w"] = max(trial["power_peak_w"], round(1.01 * trial["power_avg_w"], 3))
    report = _check(tmp_path, valid_doc)
    assert _codes(report) == ({"physics.counter_sampler"} if warned else set())
    if warned:
        assert "allowed:" in report.findings[0].message and report.findings[0].pointer.endswith("/sampler_energy_j")


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
@pytest.mark.parametrize("dropped", ["cuda_graph", "prefill", "token_check"])
def test_an_old_version_engine_with_its_name_alone_gets_findings_not_an_internal_error(
    valid_doc: dict, version: str, dropped: str
) -> None:
    """Before schema 1.2.0 an engine's name needs none of the fields that came with it: the domain
    reads what the file gives, and the checks say what is wrong with the file (KeyError before)."""
    valid_doc["schema_version"] = version
    del valid_doc["measurements"][0]["engine"][dropped]
    codes = {f.code for f in check.check_data(valid_doc, "old.json").findings}
    assert "validator.internal_error" not in codes
    assert "schema.outdated_version" in codes
