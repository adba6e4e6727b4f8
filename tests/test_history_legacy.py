"""legacy/ is append-only: the researcher's files, imported unchecked into the dataset's legacy config, and
their SHA256SUMS (attack v19: a pull request adding a submission also edited a published number, its checksum
line and removed a file, and eco-validate --base judged submissions/ and the reference tables only)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, write_json
from test_history import _codes, _new_doc, _run, git, repo  # noqa: F401 (repo: the fixture)

SUMS = "SHA256SUMS"


@pytest.fixture
def legacy(repo: Path) -> Path:  # noqa: F811
    """The project's legacy/ committed at ``base``."""
    folder = repo / "legacy"
    shutil.copytree(ROOT / "legacy", folder)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "legacy")
    git(repo, "tag", "-f", "base")
    return folder


def _edit_a_published_number(folder: Path) -> None:
    table = folder / "published_aggregates.csv"
    text = table.read_text(encoding="utf-8")
    table.write_text(text.replace(",94.87,", ",194.87,", 1), encoding="utf-8")
    new = hashlib.sha256(table.read_bytes()).hexdigest()
    lines = (folder / SUMS).read_text(encoding="utf-8").splitlines()
    fixed = [
        f"{new}  published_aggregates.csv" if line.endswith("  published_aggregates.csv") else line for line in lines
    ]
    (folder / SUMS).write_text("\n".join(fixed) + "\n", encoding="utf-8")


@pytest.mark.parametrize("author", [[], ["--author", "bob"]], ids=["maintainer", "contributor"])
def test_an_edited_legacy_number_and_its_checksum_are_refused(
    repo: Path,  # noqa: F811
    legacy: Path,
    valid_doc: dict[str, Any],
    author: list[str],
) -> None:
    write_json(repo / "submissions" / "bob" / "bob-h100-0001.json", _new_doc(valid_doc, "bob-h100-0001"))
    _edit_a_published_number(legacy)
    git(repo, "rm", "-q", "legacy/rtx4090d_metadata.json")
    code, out = _run("--base", "base", *author)
    assert (code, _codes(out)) == (1, ["history.legacy_changed"] * 3)
    for name in ("published_aggregates.csv", SUMS, "rtx4090d_metadata.json"):
        assert f"legacy/{name} is " in out


def test_a_maintainer_may_add_a_copy_with_its_checksum_and_edit_the_project_notes(
    repo: Path,  # noqa: F811
    legacy: Path,
    valid_doc: dict[str, Any],
) -> None:
    write_json(repo / "submissions" / "bob" / "bob-h100-0001.json", _new_doc(valid_doc, "bob-h100-0001"))
    (legacy / "new_metadata.json").write_text("{}\n", encoding="utf-8")
    digest = hashlib.sha256(b"{}\n").hexdigest()
    with (legacy / SUMS).open("a", encoding="utf-8") as sums:
        sums.write(f"{digest}  new_metadata.json\n")
    (legacy / "README.md").write_text("notes\n", encoding="utf-8")
    code, out = _run("--base", "base")
    assert (code, _codes(out)) == (0, [])
    code, out = _run("--base", "base", "--author", "bob")  # a contributor changes nothing there
    assert (code, _codes(out)) == (1, ["history.legacy_changed"] * 3)


def test_removing_the_checksums_is_refused_as_what_they_are(repo: Path, legacy: Path) -> None:  # noqa: F811
    # review30: the finding called SHA256SUMS "one of the researcher's, listed in SHA256SUMS"
    git(repo, "rm", "-q", "legacy/SHA256SUMS")
    code, out = _run("--base", "base")
    assert (code, _codes(out)) == (1, ["history.legacy_changed"])
    assert "legacy/SHA256SUMS is removed since base: it holds the checksums of the researcher's files" in out
    assert "listed in SHA256SUMS" not in out


def test_many_changes_under_legacy_are_capped_with_a_summary(repo: Path, legacy: Path) -> None:  # noqa: F811
    """tidy31 (review30 N3): a contributor adding 60 files there got 60 findings, not capped as other codes."""
    from validator.findings import MAX_SHOWN_PER_CODE

    for n in range(60):
        (legacy / f"extra_{n:02d}.csv").write_text(f"{n}\n", encoding="utf-8")
    code, out = _run("--base", "base", "--author", "bob")
    assert (code, _codes(out)) == (1, ["history.legacy_changed"] * (MAX_SHOWN_PER_CODE + 1))
    assert f"{60 - MAX_SHOWN_PER_CODE} more change(s) under legacy/ not shown" in out
