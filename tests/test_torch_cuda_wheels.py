"""A torch release beside a CUDA runtime PyTorch never built its wheels for (validator/versions.py with
ecocompute/reference/torch_cuda.json): ``2.11.0+cu118`` names a wheel that was never published. Only the
wheel's own +cuXYZ label is judged, and only outside the span of the release's row; a build without a
label (conda-forge, source, NVIDIA's containers), a pre-release and a release newer than the table pass. And a
torch_cuda that names no CUDA torch was built with ('0': attack v27 N4)."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ecocompute import domain, reference
from validator import versions
from validator.check import check_data

ROOT = Path(__file__).resolve().parents[1]
CODE = "provenance.software_versions"


def _findings(doc: dict[str, Any], torch: str, torch_cuda: str) -> list[str]:
    sub = domain.parse(doc)
    software = {**sub.environment.software, "torch": torch, "torch_cuda": torch_cuda}
    env = replace(sub.environment, software=software)
    return [f.message for f in versions.check(replace(sub, environment=env), "f.json") if f.code == CODE]


@pytest.mark.parametrize(
    ("torch", "torch_cuda", "rejected"),
    [
        ("2.11.0+cu118", "11.8", True),  # cu118 wheels ended at 2.7
        ("2.11.0+cu124", "12.4", True),  # below 2.11's oldest, 12.6
        ("2.8.0+cu130", "13.0", True),  # cu130 wheels began at 2.9 (the 2.8 NGC pre-release has no label)
        ("2.12.1+cu134", "13.4", True),  # newer than 2.12's newest, 13.2
        ("2.5.1+cu126", "12.6", True),  # 2.5: 11.8, 12.1, 12.4
        ("2.8.0+cu118", "11.8", True),  # 2.8 dropped CUDA 11.8
        ("2.2.0+cu117", "11.7", True),  # 2.2: 11.8, 12.1
        # PyTorch's own wheels
        ("2.11.0+cu130", "13.0", False),  # the real files' environment, as pip from the cu130 index spells it
        ("2.11.0+cu126", "12.6", False),
        ("2.7.1+cu118", "11.8", False),
        ("2.8.0+cu129", "12.9", False),
        ("2.2.0+cu118", "11.8", False),  # attack v14's driver fixture
        ("2.12.0+cu132", "13.2", False),
        ("2.9.1+cu129", "12.9", False),  # published outside the matrix (test-infra#7352): inside the span
        # not judged
        ("2.11.0", "11.8", False),  # no label: conda-forge or a source build may be anything
        ("2.11.0", "12.9", False),  # conda-forge's pytorch 2.11.0 cuda129 build
        ("2.12.0.dev20260301+cu118", "11.8", False),  # a nightly
        ("2.11.0a0+gitabc1234", "11.8", False),  # a source build's label
        ("2.15.0+cu118", "11.8", False),  # newer than the table
        ("2.11.0+rocm7.2", "none", False),  # no CUDA label
    ],
)
def test_wheel_of_release(valid_doc: dict[str, Any], torch: str, torch_cuda: str, rejected: bool) -> None:
    found = [m for m in _findings(valid_doc, torch, torch_cuda) if "release matrix" in m]
    assert bool(found) is rejected, found


def test_the_message_names_the_release_and_its_runtimes(valid_doc: dict[str, Any]) -> None:
    (message,) = _findings(valid_doc, "2.11.0+cu118", "11.8")
    assert "'2.11.0+cu118'" in message and "CUDA 11.8" in message and "2.11 for CUDA 12.6, 12.8, 13.0" in message


def test_a_label_contradicting_torch_cuda_is_still_its_own_finding(valid_doc: dict[str, Any]) -> None:
    messages = _findings(valid_doc, "2.11.0+cu118", "13.0")
    assert len(messages) == 2 and any("torch_cuda says" in m for m in messages)


def test_the_table_starts_at_eco_collects_floor_and_cites_its_source() -> None:
    table = reference.torch_cuda()
    floor = versions.COLLECT_FLOORS["torch"].release[:2]
    assert min(table) == floor
    assert list(table) == sorted(table)
    raw = json.loads((ROOT / "ecocompute" / "reference" / "torch_cuda.json").read_text(encoding="utf-8"))
    # the file as read (the loader sorts each row itself: its rows read oldest first, as the table says)
    for row in raw["releases"]:
        runtimes = [tuple(map(int, c.split("."))) for c in row["cuda"]]
        assert runtimes == sorted(set(runtimes)), row["torch"]
    assert "aa6104e2a21e72f83ce217ea93e8e69884e22b04" in json.dumps(raw["sources"])
    assert all(re.search(r"[0-9a-f]{9}|RELEASE\.md", row["source"]) for row in raw["releases"])


def test_every_real_file_names_a_published_wheel() -> None:
    for path in sorted((ROOT / "submissions").rglob("*.json")):
        sub = domain.parse(json.loads(path.read_text(encoding="utf-8")))
        assert not [f for f in versions.check(sub, path.name) if "release matrix" in f.message], path.name


def test_a_broken_table_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = json.loads((ROOT / "ecocompute" / "reference" / "torch_cuda.json").read_text(encoding="utf-8"))
    raw["releases"].append(dict(raw["releases"][0]))
    (tmp_path / "torch_cuda.json").write_text(json.dumps(raw), encoding="utf-8")
    monkeypatch.setattr(reference, "PACKAGE_DIR", tmp_path)
    reference.torch_cuda.cache_clear()
    try:
        with pytest.raises(reference.ReferenceError, match="listed twice"):
            reference.torch_cuda()
        raw["releases"][-1] = {"torch": "2.x", "cuda": ["12.6"], "source": "s"}
        (tmp_path / "torch_cuda.json").write_text(json.dumps(raw), encoding="utf-8")
        with pytest.raises(reference.ReferenceError, match=r"major\.minor"):
            reference.torch_cuda()
    finally:
        reference.torch_cuda.cache_clear()


@pytest.mark.parametrize(
    ("torch_cuda", "codes"),
    [
        ("0", {CODE}),  # attack v27 N4: accepted before
        ("10.2", {CODE}),  # no torch 2.2+ builds against CUDA 10
        ("12", {CODE}),  # torch.version.cuda reads '<major>.<minor>'
        ("12.4a", {CODE}),
        ("0.0", {CODE}),
        ("abc", {"provenance.unpinned_version"}),  # not a version at all: that code alone
        ("", {"schema.violation"}),  # the schema's minLength
        ("none", {"provenance.unpinned_version"}),  # eco-collect's word for a torch without CUDA
        ("11.0", set()),  # the oldest CUDA torch 2.2 builds with from source
        ("12.4.1", set()),
        ("13.0", set()),  # the real files'
    ],
)
def test_torch_cuda_that_is_no_cuda_version(valid_doc: dict[str, Any], torch_cuda: str, codes: set[str]) -> None:
    doc = copy.deepcopy(valid_doc)
    doc["environment"]["software"].update(torch="2.11.0", torch_cuda=torch_cuda)
    found = {f.code for f in check_data(doc, "x.json").findings if f.code.startswith(("provenance.", "schema."))}
    assert found == codes
