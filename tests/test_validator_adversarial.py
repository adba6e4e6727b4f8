"""The validator against a careless or dishonest contributor (issue 14): every field attacked, every
new code that no single file can reach forced, output that cannot be forged, paths and tables from
the repository wherever the command starts. Performance is shown by benchmarks/validate_worst_case.py,
not asserted here."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import synthetic
from click.testing import CliRunner
from conftest import FIXTURES, ROOT, write_json

from validator import check, contract, reporters
from validator.cli import main
from validator.findings import MAX_SHOWN_PER_CODE, make
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


def test_fifo_and_symlinked_folders_are_not_followed(tmp_path: Path, valid_doc: dict) -> None:
    outside = tmp_path / "outside"
    write_json(outside / "x.json", valid_doc)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    os.mkfifo(folder / "pipe.json")
    report = validate([folder], accepted_root=None)
    # the link to a folder is listed (never followed): data behind it would otherwise go unchecked
    assert [Path(f).name for f in report.files] == ["linked", "pipe.json"]
    assert _codes(report) == {"file.not_regular"}
    assert any("is a symbolic link" in f.message for f in report.findings if Path(f.file).name == "linked")


def test_a_folder_nested_deeper_than_the_stack_is_walked(tmp_path: Path, valid_doc: dict) -> None:
    """os.walk recursed per level: 1,000 nested folders raised RecursionError before Python 3.12."""
    deep = tmp_path
    for _ in range(1200):  # pathlib's and os.makedirs' parents=True recurse too
        deep = deep / "d"
        deep.mkdir()
    (deep / "x.json").write_text(json.dumps(valid_doc), encoding="utf-8")
    write_json(tmp_path / "a.json", valid_doc)
    from validator.run import discover

    try:
        assert discover([tmp_path]) == [tmp_path / "a.json", deep / "x.json"]
    finally:  # shutil.rmtree, as pytest removes old temporary folders, recurses per level too
        (deep / "x.json").unlink()
        while deep != tmp_path:
            deep.rmdir()
            deep = deep.parent


def test_a_refused_build_names_each_file_as_written(tmp_path: Path, valid_doc: dict) -> None:
    """The build's refusal is one line (the error handler joins its lines): a line break or U+2028 in a
    file name was split there and joined by a space, naming a file that does not exist."""
    from dataset_card.build import BuildError, validated_tables
    from ecocompute.cli import describe

    folder = tmp_path / "submissions"
    write_json(folder / "someone" / "evil\nfile\u2028x.json", valid_doc)
    with pytest.raises(BuildError) as caught:
        validated_tables(folder)
    line = describe(caught.value)
    assert "evil\\nfile\\u2028x.json: file.path_policy" in line
    assert "evil file x" not in line


def test_a_folder_that_cannot_be_listed_fails_the_run_and_the_build(
    tmp_path: Path, valid_doc: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contributor's folder the walk cannot read (permissions, an I/O error) held files nobody
    checked: eco-validate passed and eco-dataset built a dataset without them, exit 0."""
    from dataset_card.build import BuildError, validated_tables

    folder = tmp_path / "submissions"
    write_json(folder / "someone" / "ok.json", valid_doc)
    (folder / "hidden").mkdir()
    real = os.scandir

    def scandir(path: Any = ".") -> Any:  # root reads a chmod-000 folder, so the test refuses it itself
        if Path(path).name == "hidden":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = validate([folder], accepted_root=None)
    hidden = [f for f in report.findings if Path(f.file).name == "hidden"]
    assert [f.code for f in hidden] == ["file.not_regular"] and exit_code(report) == 1
    assert "cannot be listed (Permission denied)" in hidden[0].message
    with pytest.raises(BuildError, match=r"file\.not_regular"):
        validated_tables(folder)


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


def test_no_file_checked_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    report = validate([empty], accepted_root=None)
    assert _codes(report) == {"run.no_files"} and exit_code(report) == 1
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["empty"])
    assert result.exit_code == 1 and "run.no_files" in result.output and "0 file(s) checked" in result.output


def _pool(tmp_path: Path, accepted: dict) -> Path:
    root = tmp_path / "pool"
    write_json(root / accepted["contributor"]["handle"] / f"{accepted['submission_id']}.json", accepted)
    return root


def test_one_gpu_identity_per_uuid_across_the_pool(tmp_path: Path, valid_doc: dict) -> None:
    pool = _pool(tmp_path, valid_doc)
    other = synthetic.submission(seed=12, n_measurements=2, n_trials=7)
    other["environment"]["gpu"].update(
        name="NVIDIA H200", memory_total_mib=143771, uuid_sha256=valid_doc["environment"]["gpu"]["uuid_sha256"]
    )
    for t in (t for m in other["measurements"] for t in m["trials"]):
        t["mem_clock_mhz_mean"] = 3201.0  # an H200's HBM3e (the synthetic trials read an H100's)
    report = validate([write_json(tmp_path / "new.json", other)], accepted_root=pool)
    assert _codes(report) == {"duplicate.gpu_identity"}


def test_a_rescaled_copy_of_an_accepted_measurement_is_a_near_duplicate(tmp_path: Path, valid_doc: dict) -> None:
    pool = _pool(tmp_path, valid_doc)
    copied = synthetic.submission(seed=13, n_measurements=2, n_trials=7)
    m = copied["measurements"][0]
    m["trials"] = copy.deepcopy(valid_doc["measurements"][0]["trials"])
    for t in m["trials"]:
        synthetic.stretch(t, 1.3)  # 30 % longer at the same power: every throughput off by the same factor
    synthetic.resummarize(m)
    report = validate([write_json(tmp_path / "new.json", copied)], accepted_root=pool)
    assert _codes(report) == {"duplicate.near"}
    assert "/measurements/0 ~ /measurements/0" in report.findings[0].message


def test_respelt_copy_with_new_gpu_and_notes_is_still_found(tmp_path: Path, valid_doc: dict) -> None:
    """Fingerprints ignore the GPU uuid, notes, key order and int/float spelling."""
    pool = _pool(tmp_path, valid_doc)
    copied = synthetic.submission(seed=14, n_measurements=2, n_trials=7)
    m = copied["measurements"][1] = copy.deepcopy(valid_doc["measurements"][1])
    m["notes"] = ["measured on a quiet afternoon"]
    for t in m["trials"]:
        t["energy_j"] = float(round(t["energy_j"], 7))
    report = validate([write_json(tmp_path / "new.json", copied)], accepted_root=pool)
    assert _codes(report) == {"duplicate.near"}


# -- paths, tables and versions from the repository -------------------------------------------------


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    return repo


def test_path_policy_holds_from_any_working_directory(
    tmp_path: Path, valid_doc: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    write_json(repo / "submissions" / "synthetic-bot" / "bad name.json", valid_doc)
    monkeypatch.chdir(repo / "submissions")
    report = validate([Path("synthetic-bot/bad name.json")], accepted_root=None)
    assert "file.path_policy" in _codes(report)
    monkeypatch.chdir(repo / "submissions" / "synthetic-bot")
    write_json(repo / "submissions" / "synthetic-bot" / "other-name-001.json", valid_doc)
    assert _codes(validate([Path("other-name-001.json")], accepted_root=None)) == {"file.name_mismatch"}


def test_a_new_board_is_accepted_once_the_pull_request_adds_its_row(
    tmp_path: Path, valid_doc: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    tables = repo / "ecocompute" / "reference"
    shutil.copytree(ROOT / "ecocompute" / "reference", tables, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    valid_doc["environment"]["gpu"]["name"] = "NVIDIA Imaginary X1"
    write_json(repo / "submissions" / "synthetic-bot" / f"{valid_doc['submission_id']}.json", valid_doc)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, ["--format", "json", "submissions"])
    assert result.exit_code == 1 and json.loads(result.output)["counts"] == {"reference.unknown_gpu": 1}
    gpus = json.loads((tables / "gpus.json").read_text())
    row = {**next(g for g in gpus["gpus"] if g["name"] == "NVIDIA H100 80GB HBM3"), "name": "NVIDIA Imaginary X1"}
    gpus["gpus"].append(row)
    (tables / "gpus.json").write_text(json.dumps(gpus))
    assert CliRunner().invoke(main, ["submissions"]).exit_code == 0
    gpus["gpus"].append({"name": "broken"})
    (tables / "gpus.json").write_text(json.dumps(gpus))
    result = CliRunner().invoke(main, ["submissions"])
    assert result.exit_code == 2 and "gpus.json row" in result.output and "Traceback" not in result.output


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


# -- output cannot be forged ---------------------------------------------------------------------


def _evil_report() -> Report:
    name = "sub\nmissions/evil\x1b[2J\u202e.json"
    f = make("json.syntax", name, "/x", "bad [click](https://evil.example) | **ok** <img src=x> `code` \x1b]8;;x\x07")
    return Report(files=[name], findings=[f])


def test_text_output_escapes_control_ansi_and_bidi() -> None:
    out = reporters.render_text(_evil_report())
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert out.count("\n") == 3  # finding, fix, verdict


def test_json_output_is_ascii_and_parses() -> None:
    out = reporters.render_json(_evil_report())
    assert out.isascii() and json.loads(out)["files"] == _evil_report().files


def test_step_summary_escapes_markdown_and_html() -> None:
    out = reporters.render_step_summary(_evil_report())
    row = out.splitlines()[-1]
    assert "](https" not in row and "<img" not in row and "**ok**" not in row and "`code`" not in row
    assert row.count(" | ") == 4 and "\\|" in row


def test_the_step_summary_stays_within_githubs_limit() -> None:
    """GitHub drops a step summary above 1 MiB: 12,000 findings made 1.4 MB."""
    many = [make("json.syntax", f"submissions/x/{i:05d}.json", "/x", "y" * 100) for i in range(12_000)]
    out = reporters.render_step_summary(Report(files=[f.file for f in many], findings=many))
    assert len(out.encode()) <= reporters.STEP_SUMMARY_MAX_BYTES
    shown = sum(line.startswith("| submissions") for line in out.splitlines())
    assert 0 < shown < 12_000 and out.rstrip().endswith(
        f"{12_000 - shown} more finding(s) not shown here; see the JSON report."
    )
    few = reporters.render_step_summary(Report(files=["a"], findings=many[:3]))
    assert "not shown" not in few and few.count("| submissions") == 3


def test_odd_file_names_are_reported_safely(tmp_path: Path, valid_doc: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    odd = os.fsdecode(b"bad\xff\n\x1b[31mname.json")
    (tmp_path / odd).write_text("{", encoding="utf-8")
    for fmt in ("text", "json", "github"):
        result = CliRunner().invoke(main, ["--format", fmt, "."])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "\x1b" not in result.output and result.output.count("\n") <= 3 + (fmt == "json") * 40


def test_every_valid_fixture_still_passes_with_line_numbers_untouched() -> None:
    for path in (FIXTURES / "valid").glob("*.json"):
        assert validate([path], accepted_root=None).errors == [], path.name


def test_an_unreadable_file_is_a_finding(tmp_path: Path, valid_doc: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_json(tmp_path / "x.json", valid_doc)

    real_open = os.open

    def denied(file: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)  # as root, chmod 0 would not stop the read
    report = validate([path], accepted_root=None)
    assert _codes(report) == {"file.not_regular"} and "Permission denied" in report.findings[0].message


def test_every_measurement_of_a_model_is_held_to_its_architecture(tmp_path: Path) -> None:
    doc = synthetic.submission(seed=15, n_measurements=2, n_trials=7)
    assert doc["measurements"][0]["model"]["id"] == doc["measurements"][1]["model"]["id"]
    doc["measurements"][1]["model"]["parameter_count"] //= 2
    report = _check(tmp_path, doc)
    assert _codes(report) == {"reference.parameter_count"} and report.findings[0].pointer == "/measurements/1/model"


def _layout(value: Any, pointer: str, line: int, out: dict[str, int]) -> int:
    """Lines of json.dumps(value, indent=1): each value starts on its own line; returns the last line."""
    out[pointer] = line
    items = (
        list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    )
    if not items:
        return line
    last = line
    for key, child in items:
        token = str(key).replace("~", "~0").replace("/", "~1")
        last = _layout(child, f"{pointer}/{token}", last + 1, out)
    return last + 1  # the closing bracket


def test_lines_of_maps_every_pointer_in_one_pass() -> None:
    import random

    from validator.jsonpos import lines_of

    rng = random.Random(5)

    def build(level: int) -> Any:
        if level > 5 or rng.random() < 0.3:
            return rng.choice([1, "a/b~c", None, 2.5, "", "\\u00e9"])
        if rng.random() < 0.5:
            return [build(level + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(["k", "a/b", "t~1", "é", ""]) + str(i): build(level + 1) for i in range(rng.randint(0, 4))}

    for _ in range(300):
        doc = build(0)
        expected: dict[str, int] = {}
        _layout(doc, "", 1, expected)
        text = json.dumps(doc, indent=1, ensure_ascii=rng.random() < 0.5)
        asked = [*expected, "/nope", "/0/999"]
        found = lines_of(text, asked)
        assert {p: found[p] for p in expected} == expected
        assert "/nope" not in found


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
