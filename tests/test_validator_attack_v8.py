"""Attack v8: reference-table edits that reference.row_changed did not see (a row that shadows another
by its spelling, a prompt listed twice, accepted.json rows removed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_history import _codes, _run, _tables_at_base, repo  # noqa: F401 - repo is a fixture

from ecocompute import reference


def _tables(tmp_path: Path) -> Path:
    tables = tmp_path / "tables"
    shutil.copytree(reference.PACKAGE_DIR, tables, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return tables


def _append(tables: Path, name: str, listed: str, row: dict[str, Any]) -> None:
    data = json.loads((tables / name).read_text(encoding="utf-8"))
    data[listed].append(row)
    (tables / name).write_text(json.dumps(data, indent=1), encoding="utf-8")


def _row(tables: Path, name: str, listed: str, key: str, value: str) -> dict[str, Any]:
    rows = json.loads((tables / name).read_text(encoding="utf-8"))[listed]
    return dict(next(r for r in rows if r[key] == value))


@pytest.mark.parametrize(
    "name",
    [
        "nvidia h100 80gb hbm3",  # case: NVML's names are the board's, one spelling
        "NVIDIA H100 80GB HBM3 ",  # a trailing space
        "NVIDIA H100-80GB-HBM3",  # punctuation
        "NVIDIA \u041d100 80GB HBM3",  # a Cyrillic EN for the H: not ASCII
        "NVIDIA H100 80GB HBM3\u00a0",  # a no-break space
    ],
)
def test_a_board_row_cannot_shadow_another_by_its_spelling(tmp_path: Path, name: str) -> None:
    """A second H100 row spelled apart, with a 2000-W limit and idle from 1 W: a pull request's file naming
    it was judged by those limits, was no configuration of the accepted H100 rows (history.outlier never
    compared it), and reference.row_changed saw an added row only."""
    tables = _tables(tmp_path)
    h100 = _row(tables, "gpus.json", "gpus", "name", "NVIDIA H100 80GB HBM3")
    _append(tables, "gpus.json", "gpus", dict(h100, name=name, max_power_w=2000, idle_w=[1, 400]))
    with pytest.raises(reference.ReferenceError, match=r"gpus\.json"):
        reference.load(tables)


@pytest.mark.parametrize("model_id", ["qwen/qwen2.5-32b-instruct", "Qwen/Qwen2.5-32B-Instruct\u200b", "Qwen 32B"])
def test_a_model_row_cannot_shadow_another_by_its_case(tmp_path: Path, model_id: str) -> None:
    """The Hub resolves ids regardless of case: a row 'qwen/qwen2.5-32b-instruct' with 0.5B's architecture
    let a 0.5B file relabelled claim the 32B model at 0.5B's cost."""
    tables = _tables(tmp_path)
    small = _row(tables, "models.json", "models", "id", "Qwen/Qwen2.5-0.5B-Instruct")
    _append(tables, "models.json", "models", dict(small, id=model_id))
    with pytest.raises(reference.ReferenceError, match=r"models\.json"):
        reference.load(tables)


def test_a_prompt_source_is_listed_once(tmp_path: Path) -> None:
    """The loader kept the last of two rows of one source; reference.row_changed keys prompts by their hash,
    so a second builtin:v1 row (another hash, any token count) was a row added, not one changed."""
    tables = _tables(tmp_path)
    _append(tables, "prompts.json", "builtin", {"source": "builtin:v1", "sha256": "ab" * 32, "token_count_max": 10**6})
    with pytest.raises(reference.ReferenceError, match="builtin:v1"):
        reference.load(tables)


def test_the_shipped_tables_load() -> None:
    ref = reference.load(reference.PACKAGE_DIR)
    assert "NVIDIA H100 80GB HBM3" in ref.gpus and "Qwen/Qwen2.5-32B-Instruct" in ref.models


def test_a_pull_request_cannot_remove_a_row_of_accepted_json(repo: Path, valid_doc: dict[str, Any]) -> None:  # noqa: F811
    """A frozen file whose row is removed fails the current schema version and silently leaves the accepted
    pool (duplicates and history.outlier are judged against it): only reference.changed warned."""
    tables = _tables_at_base(repo, valid_doc)
    accepted = json.loads((tables / "accepted.json").read_text(encoding="utf-8"))
    assert accepted["files"]
    accepted["files"] = accepted["files"][1:]
    (tables / "accepted.json").write_text(json.dumps(accepted, indent=2), encoding="utf-8")
    code, out = _run("--base", "base")
    assert (code, _codes(out)) == (1, ["reference.changed", "reference.row_changed"])
    assert "removed" in out
