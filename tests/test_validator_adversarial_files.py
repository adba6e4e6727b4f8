"""The validator against a careless or dishonest contributor (issue 14), in what it reads besides a file's
content: folders that are links, pipes, too deep or unreadable, the repository's paths and reference tables
wherever the command starts, and the pool of accepted files a new one is compared with. The content of one
file is test_validator_adversarial.py's; the reports, test_validator_adversarial_output.py's."""

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
from conftest import ROOT, write_json
from test_validator_adversarial import _codes

from validator.cli import main
from validator.run import exit_code, validate

# -- folders and files -----------------------------------------------------------------------------


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


def test_no_file_checked_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    report = validate([empty], accepted_root=None)
    assert _codes(report) == {"run.no_files"} and exit_code(report) == 1
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["empty"])
    assert result.exit_code == 1 and "run.no_files" in result.output and "0 file(s) checked" in result.output


# -- paths and tables from the repository ----------------------------------------------------------


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


# -- the pool of accepted files --------------------------------------------------------------------


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
