"""The data kept byte for byte survives a checkout that converts line endings (core.autocrlf=true, Git for
Windows' default): eco-dataset build checks legacy/ against legacy/SHA256SUMS and eco-validate the accepted
files against the sha256 accepted.json freezes, and a checkout with CRLF failed both (review30 F2)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from conftest import ROOT
from test_history import git

from dataset_card import legacy

SUBMISSION = "submissions/bob/bob-h100-0001.json"


def test_a_checkout_converting_line_endings_leaves_the_data_as_committed(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    shutil.copy(ROOT / ".gitattributes", origin / ".gitattributes")
    shutil.copytree(ROOT / "legacy", origin / "legacy")
    (origin / SUBMISSION).parent.mkdir(parents=True)
    (origin / SUBMISSION).write_bytes(b'{\n  "schema_version": "1.0.0"\n}\n')
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "data")
    clone = tmp_path / "clone"
    git(tmp_path, "-c", "core.autocrlf=true", "clone", "-q", str(origin), str(clone))
    assert legacy.load(clone / "legacy").rows  # read, and every file holds the bytes SHA256SUMS lists
    held = hashlib.sha256((clone / SUBMISSION).read_bytes()).hexdigest()
    assert held == hashlib.sha256((origin / SUBMISSION).read_bytes()).hexdigest()
