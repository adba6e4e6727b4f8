"""Checks that need the repository layout: path policy, file names, duplicates across files."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import synthetic
from conftest import write_json

from validator.run import validate


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _codes(paths: list[Path], accepted: Path | None = None) -> list[str]:
    rel = [Path(os.path.relpath(p)) for p in paths]
    return sorted(f.code for f in validate(rel, accepted_root=accepted).findings)


def test_well_placed_file_passes(repo: Path, valid_doc: dict[str, Any]) -> None:
    path = write_json(repo / "submissions" / "synthetic-bot" / f"{valid_doc['submission_id']}.json", valid_doc)
    assert _codes([path], repo / "submissions") == []


@pytest.mark.parametrize(
    "relative",
    [
        "submissions/alice/with space.json",
        "submissions/.hidden/x.json",
        "submissions/alice/deep/x.json",
        "submissions/x.json",
    ],
)
def test_path_policy(repo: Path, valid_doc: dict[str, Any], relative: str) -> None:
    valid_doc["submission_id"] = Path(relative).stem if " " not in relative else valid_doc["submission_id"]
    path = write_json(repo / relative, valid_doc)
    assert "file.path_policy" in _codes([path])


def test_a_name_that_is_not_utf8_is_named_as_such(repo: Path, valid_doc: dict[str, Any]) -> None:
    # os.fsdecode keeps the byte 0xff as the lone surrogate \udcff, which no dataset row can hold
    name = os.fsdecode(b"bad\xff.json")
    outside = write_json(repo / "elsewhere" / name, valid_doc)
    (finding,) = validate([Path(os.path.relpath(outside))], accepted_root=None).findings
    assert finding.code == "file.name_encoding" and "bad\\udcff.json" in finding.message
    inside = write_json(repo / "submissions" / "synthetic-bot" / name, valid_doc)  # the naming policy says it there
    assert _codes([inside]) == ["file.name_mismatch", "file.path_policy"]


def test_name_must_match_submission_id(repo: Path, valid_doc: dict[str, Any]) -> None:
    path = write_json(repo / "submissions" / "synthetic-bot" / "some-other-name.json", valid_doc)
    assert _codes([path]) == ["file.name_mismatch"]


def test_handle_must_match_folder(repo: Path, valid_doc: dict[str, Any]) -> None:
    path = write_json(repo / "submissions" / "alice" / f"{valid_doc['submission_id']}.json", valid_doc)
    assert _codes([path]) == ["file.handle_mismatch"]


def test_duplicate_measurement_against_accepted(repo: Path, valid_doc: dict[str, Any]) -> None:
    write_json(repo / "submissions" / "synthetic-bot" / f"{valid_doc['submission_id']}.json", valid_doc)
    copy_doc = copy.deepcopy(valid_doc)
    copy_doc["submission_id"] = "another-submission"
    copy_doc["measurements"] = copy_doc["measurements"][:1]
    new = write_json(repo / "submissions" / "synthetic-bot" / "another-submission.json", copy_doc)
    assert _codes([new], repo / "submissions") == ["duplicate.measurement"]


def test_duplicate_submission_id_across_files(repo: Path, valid_doc: dict[str, Any]) -> None:
    write_json(repo / "submissions" / "synthetic-bot" / f"{valid_doc['submission_id']}.json", valid_doc)
    other = synthetic.submission(seed=5, n_measurements=2, n_trials=7)  # different measurements, same id
    other["submission_id"] = valid_doc["submission_id"]
    new = write_json(repo / "incoming" / f"{valid_doc['submission_id']}.json", other)
    assert _codes([new], repo / "submissions") == ["duplicate.submission_id"]


def test_missing_path_is_a_usage_error(repo: Path) -> None:
    from validator.run import UsageError

    with pytest.raises(UsageError, match="no such file"):
        validate([Path("nope.json")])


def _pathlib_relative(path: Path, root: Path | None) -> str | None:
    """repo_relative as it was written with pathlib, before it worked on strings (perf39)."""
    from validator import paths

    base = paths.absolute(root) if root is not None else paths.repository_root(path)
    try:
        return paths.absolute(path).relative_to(base).as_posix()
    except ValueError:
        return None


@pytest.mark.parametrize("root", [None, "/", "//x", ".", "..", "sub", "sub/"])
def test_repo_relative_answers_as_pathlib_did(repo: Path, root: str | None) -> None:
    """repo_relative compares strings for speed: the answer stays Path.relative_to's, the repository's
    root (a .git entry) or the working directory, '.', a sibling with the same prefix, '//' included."""
    from validator.paths import repo_relative

    (repo / "sub" / "deeper").mkdir(parents=True)
    (repo / "sub" / ".git").mkdir()
    names = ["x.json", "./sub/a.json", "sub//a/./b.json", "sub", "sub/", "subx/a.json", "../x", "sub/../sub/deeper/c"]
    names += ["/", "//x/y", "///x/y", str(repo / "sub" / "deeper"), str(repo) + "x/y", "a b/é.json"]
    for name in names:
        given = None if root is None else Path(root)
        assert repo_relative(Path(name), given) == _pathlib_relative(Path(name), given), name
