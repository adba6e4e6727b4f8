"""tidy31 (attack c18 O3): where eco-validate --output may write. Never inside the submissions/ of the
repository that would hold the report, whatever --accepted says and wherever the command runs: the next
run over the folder, and the dataset build, would read it as a submission. A JSON report beside a file
checked alone, outside any submissions/, is the user's choice and allowed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, usage_error

from validator.cli import main

VALID = FIXTURES / "valid" / "h100-mistral7b-random-sweep.json"


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / ".git").mkdir(parents=True)  # a work tree, as paths.root_of_folder finds one
    (root / "submissions" / "alice").mkdir(parents=True)
    shutil.copy(VALID, root / "submissions" / "alice")
    return root


@pytest.mark.parametrize("name", ["alice/report.json", "report.json", "alice/report.txt"])
def test_no_report_inside_the_repository_s_submissions(
    repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Run from outside the checkout, with --accepted elsewhere, on the one file: the report was written
    into submissions/ (the folder rule saw no folder among PATHS, and --accepted was not it)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    output = repository / "submissions" / name
    checked = repository / "submissions" / "alice" / VALID.name
    result = CliRunner().invoke(main, [str(checked), "--accepted", str(elsewhere), "--output", str(output)])
    assert "lies inside" in usage_error(result) and not output.exists()


def test_a_json_report_beside_a_file_checked_alone_is_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(VALID, folder)
    (tmp_path / "accepted").mkdir()
    monkeypatch.chdir(tmp_path)
    args = [str(folder / VALID.name), "--accepted", str(tmp_path / "accepted"), "--output", str(folder / "report.json")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1) and (folder / "report.json").exists(), result.output
