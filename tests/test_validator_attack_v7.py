"""Attack v7: what a pull request can change beside its file (the reference tables it is judged by)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from conftest import write_json
from test_history import _codes, _new_doc, _run, git, repo  # noqa: F401 - repo is a fixture

from ecocompute import reference


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
