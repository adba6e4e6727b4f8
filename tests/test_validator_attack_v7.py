"""Attack v7: what a pull request can change beside its file (the reference tables it is judged by)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import write_json
from test_history import _codes, _new_doc, _run, git, repo  # noqa: F401 - repo is a fixture

from ecocompute import reference
from validator.findings import MAX_SHOWN_PER_CODE


def _tables_at_base(repo: Path) -> Path:  # noqa: F811
    tables = repo / "ecocompute" / "reference"
    shutil.copytree(reference.PACKAGE_DIR, tables, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tables")
    git(repo, "tag", "-f", "base")
    return tables


def _freeze(tables: Path, path: str, raw: bytes, version: str) -> None:
    table = json.loads((tables / "accepted.json").read_text(encoding="utf-8"))
    table["files"].append({"path": path, "sha256": hashlib.sha256(raw).hexdigest(), "schema_version": version})
    (tables / "accepted.json").write_text(json.dumps(table, indent=2), encoding="utf-8")


def test_a_pull_request_cannot_freeze_its_own_file_in_accepted_json(repo: Path, valid_doc: dict[str, Any]) -> None:  # noqa: F811
    """accepted.json exempts the exact bytes of files accepted before from the current schema version. A
    change that lists its own new file there (say, a schema 1.0.0 file without trial times) was accepted
    with a reference.changed warning only."""
    tables = _tables_at_base(repo)
    doc = _new_doc(valid_doc, "bob-h100-0001")
    doc["schema_version"], doc["collector"]["version"] = "1.4.0", "0.3.0"
    path = repo / "submissions" / "bob" / "bob-h100-0001.json"
    write_json(path, doc)
    code, out = _run("--base", "base")
    assert code == 1 and _codes(out) == ["schema.outdated_version"]
    _freeze(tables, "submissions/bob/bob-h100-0001.json", path.read_bytes(), "1.4.0")
    code, out = _run("--base", "base")
    assert code == 1 and _codes(out) == ["history.accepted_added", "reference.changed"]


def test_a_maintainer_freezes_files_the_base_holds(repo: Path, valid_doc: dict[str, Any]) -> None:  # noqa: F811
    """A schema bump freezes the files already accepted: rows for bytes the base holds pass."""
    tables = _tables_at_base(repo)
    rel = f"submissions/synthetic-bot/{valid_doc['submission_id']}.json"
    _freeze(tables, rel, (repo / rel).read_bytes(), "1.4.0")
    code, out = _run("--base", "base")
    assert _codes(out) == ["reference.changed"]
    _freeze(tables, rel, (repo / rel).read_bytes() + b" ", "1.4.0")  # other bytes at that path
    code, out = _run("--base", "base")
    assert code == 1 and "history.accepted_added" in _codes(out)


def _models_with(tmp_path: Path, edit: Any) -> Path:
    folder = tmp_path / "tables"
    shutil.copytree(reference.PACKAGE_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    table = json.loads((folder / "models.json").read_text(encoding="utf-8"))
    edit(table["models"])
    (folder / "models.json").write_text(json.dumps(table), encoding="utf-8")
    return folder


def test_a_dense_model_takes_no_active_parameter_count(tmp_path: Path) -> None:
    """active_parameter_count is for a mixture of experts: set on a dense Qwen2.5-32B row by the pull
    request that submits its file, it cut the roofline and both energy floors 33-fold (a real H200 file at
    3.8 x its throughput passed with a reference.changed warning only)."""
    import pytest

    def dense(models: list[dict[str, Any]]) -> None:
        row = next(m for m in models if m["id"] == "Qwen/Qwen2.5-32B-Instruct")
        row["active_parameter_count"] = 1_000_000_000

    with pytest.raises(reference.ReferenceError, match="active_parameter_count 1000000000 on a dense qwen2"):
        reference.load(_models_with(tmp_path / "a", dense))

    def same(models: list[dict[str, Any]]) -> None:  # equal to the total: harmless, accepted
        row = next(m for m in models if m["id"] == "Qwen/Qwen2.5-32B-Instruct")
        row["active_parameter_count"] = row["parameter_count"]

    def mixture(models: list[dict[str, Any]]) -> None:  # a type without a formula keeps its column
        models.append({**models[0], "id": "org/moe", "model_type": "mixtral", "active_parameter_count": 10**8})

    reference.load(_models_with(tmp_path / "b", same))
    assert reference.load(_models_with(tmp_path / "c", mixture)).models["org/moe"].active_parameter_count == 10**8


def test_thousands_of_rows_added_to_accepted_json_ask_git_a_bounded_number_of_times(
    repo: Path,  # noqa: F811
    valid_doc: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each new row asks git for the base's bytes at its path: a 1-MiB table holds ~10,000 rows, ~10,000
    git processes. After MAX_SHOWN_PER_CODE refused rows the rest are counted, not judged."""
    from validator import history

    tables = _tables_at_base(repo)
    for i in range(MAX_SHOWN_PER_CODE + 30):
        _freeze(tables, f"submissions/bob/f{i}.json", str(i).encode(), "1.4.0")
    asked = []
    blob = history._blob
    monkeypatch.setattr(history, "_blob", lambda *a: asked.append(a) or blob(*a))
    code, out = _run("--base", "base")
    found = [f for f in json.loads(out)["findings"] if f["code"] == "history.accepted_added"]
    assert code == 1 and len(found) == MAX_SHOWN_PER_CODE + 1
    assert "30 more row(s)" in found[-1]["message"]
    assert len(asked) <= MAX_SHOWN_PER_CODE + 2  # the base table (for two checks), one per judged row
