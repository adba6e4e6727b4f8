"""A Hub revision downloaded by huggingface_hub (``huggingface-cli download``, ``snapshot_download``) and
given to eco-advise as a local folder, offline: its cache's snapshot holds links into the cache's blobs,
followed there and nowhere else (review36 F1: every link in a --dataset folder was refused)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from advisor import data

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cached(build: Path, cache: Path) -> Path:
    """``build`` laid out as huggingface_hub's cache holds a downloaded revision: each file of the snapshot
    a relative link to ``blobs/<sha256>``. The snapshot folder."""
    repo = cache / "datasets--ecocompute--llm-energy"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for file in sorted(p for p in build.rglob("*.parquet")):
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(build)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def test_a_hub_snapshot_given_as_a_folder_is_read(
    tmp_path: Path, advisor_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = _cached(advisor_build, tmp_path / "hub")
    built = data.load(advisor_build)
    assert data.load(snapshot).measurements == built.measurements
    monkeypatch.chdir(snapshot.parent)  # named relative to the working folder: still its cache's snapshot
    assert data.load(COMMIT).legacy == built.legacy


def test_a_link_out_of_a_snapshots_blobs_is_refused(tmp_path: Path, advisor_build: Path) -> None:
    snapshot = _cached(advisor_build, tmp_path / "hub")
    link = next((snapshot / "trials").glob("*.parquet"))
    elsewhere = tmp_path / "elsewhere.parquet"
    shutil.copyfile(link, elsewhere)
    link.unlink()
    link.symlink_to(elsewhere)  # the same bytes, outside the cache: not huggingface_hub's
    with pytest.raises(data.DatasetError, match=f"{link} is a symbolic link: links in a dataset folder are never"):
        data.load(snapshot)
