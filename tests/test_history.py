"""Append-only guard and reporter driven through a real temporary git repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import synthetic
from click.testing import CliRunner
from conftest import write_json

from validator.cli import main


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, valid_doc: dict[str, Any]) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    write_json(tmp_path / "submissions" / "synthetic-bot" / f"{valid_doc['submission_id']}.json", valid_doc)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "accepted")
    git(tmp_path, "tag", "base")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def _new_doc(valid_doc: dict[str, Any], sid: str, seed: int = 1) -> dict[str, Any]:
    """A new session by bob: fresh measurements (another seed), bob's handle and id."""
    doc = synthetic.submission(seed=seed, n_measurements=len(valid_doc["measurements"]), n_trials=7)
    doc["submission_id"] = sid
    doc["contributor"]["handle"] = "bob"
    return doc


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--format", "json", *args])
    return result.exit_code, result.output


def _codes(output: str) -> list[str]:
    import json

    return sorted(f["code"] for f in json.loads(output)["findings"])


def test_added_file_is_accepted_and_validated(repo: Path, valid_doc: dict[str, Any]) -> None:
    write_json(repo / "submissions" / "bob" / "bob-h100-0001.json", _new_doc(valid_doc, "bob-h100-0001"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add")
    code, out = _run("--base", "base")
    assert (code, _codes(out)) == (0, [])
    assert "submissions/bob/bob-h100-0001.json" in out  # validated although not named


def _tables_at_base(repo: Path, valid_doc: dict[str, Any]) -> Path:
    """The package's reference tables committed into ``repo`` at ``base``, and bob's new file added: the
    tables a change may then edit."""
    import shutil

    from ecocompute import reference

    tables = repo / "ecocompute" / "reference"
    shutil.copytree(reference.PACKAGE_DIR, tables, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tables")
    git(repo, "tag", "-f", "base")
    write_json(repo / "submissions" / "bob" / "bob-h100-0001.json", _new_doc(valid_doc, "bob-h100-0001"))
    return tables


def test_a_changed_reference_table_is_shown_to_the_reviewer(repo: Path, valid_doc: dict[str, Any]) -> None:
    """A change that edits the tables judging its own file (say, a board's bandwidth) passes only with a
    warning per changed table, in the annotations a maintainer reads."""
    tables = _tables_at_base(repo, valid_doc)
    code, out = _run("--base", "base")
    assert (code, _codes(out)) == (0, [])
    (tables / "gpus.json").write_text((tables / "gpus.json").read_text(encoding="utf-8") + "\n", encoding="utf-8")
    (tables / "extra.json").write_text("{}\n", encoding="utf-8")  # untracked: shown too
    code, out = _run("--base", "base")
    assert (code, _codes(out)) == (0, ["reference.changed", "reference.changed"])
    assert "ecocompute/reference/gpus.json" in out and "ecocompute/reference/extra.json" in out


def test_untracked_added_file_is_validated(repo: Path, valid_doc: dict[str, Any]) -> None:
    bad = _new_doc(valid_doc, "bob-h100-0002", seed=2)
    bad["environment"]["software"]["torch"] = "latest"
    write_json(repo / "submissions" / "bob" / "bob-h100-0002.json", bad)
    code, out = _run("--base", "base")
    assert code == 1 and _codes(out) == ["provenance.unpinned_version"]


def test_modified_file_is_rejected(repo: Path, valid_doc: dict[str, Any]) -> None:
    path = repo / "submissions" / "synthetic-bot" / f"{valid_doc['submission_id']}.json"
    path.write_text(path.read_text().replace('"synthetic-bot"', '"mallory"'))
    git(repo, "commit", "-qam", "edit")
    code, out = _run("--base", "base")
    assert code == 1 and _codes(out) == ["history.modified"]


def test_deleted_file_is_rejected(repo: Path, valid_doc: dict[str, Any]) -> None:
    git(repo, "rm", "-q", f"submissions/synthetic-bot/{valid_doc['submission_id']}.json")
    git(repo, "commit", "-qm", "rm")
    code, out = _run("--base", "base")
    assert code == 1 and _codes(out) == ["history.deleted"]


def test_renamed_file_is_rejected(repo: Path, valid_doc: dict[str, Any]) -> None:
    (repo / "submissions" / "carol").mkdir()
    git(repo, "mv", f"submissions/synthetic-bot/{valid_doc['submission_id']}.json", "submissions/carol/")
    git(repo, "commit", "-qm", "mv")
    code, out = _run("--base", "base")
    assert code == 1 and "history.renamed" in _codes(out)


def test_accepted_file_replaced_by_symlink_is_rejected(repo: Path, valid_doc: dict[str, Any]) -> None:
    path = repo / "submissions" / "synthetic-bot" / f"{valid_doc['submission_id']}.json"
    target = repo / "elsewhere.json"
    target.write_text(path.read_text())
    path.unlink()
    path.symlink_to(target)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "link")
    code, out = _run("--base", "base")
    assert code == 1 and "history.modified" in _codes(out)


def test_added_symlink_is_rejected(repo: Path, valid_doc: dict[str, Any]) -> None:
    (repo / "submissions" / "bob").mkdir()
    (repo / "submissions" / "bob" / "x-link-00001.json").symlink_to("/etc/passwd")
    code, out = _run("--base", "base")
    assert code == 1 and _codes(out) == ["file.not_regular"]


@pytest.mark.parametrize("name", ["with space.json", "new\nline.json", 'quote"$(id).json'])
def test_awkward_file_names_are_handled_safely(repo: Path, valid_doc: dict[str, Any], name: str) -> None:
    (repo / "submissions" / "bob").mkdir()
    write_json(repo / "submissions" / "bob" / name, _new_doc(valid_doc, "bob-h100-0003", seed=3))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "odd")
    code, out = _run("--base", "base")
    assert code == 1
    assert "file.path_policy" in _codes(out)
    assert not (repo / "uid").exists()


def test_unknown_base_is_a_usage_error(repo: Path) -> None:
    result = CliRunner().invoke(main, ["--base", "no-such-ref"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def _add_bobs_file(repo: Path, valid_doc: dict[str, Any]) -> None:
    write_json(repo / "submissions" / "bob" / "bob-h100-0001.json", _new_doc(valid_doc, "bob-h100-0001"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add")


@pytest.mark.parametrize("author", ["bob", "Bob"])  # GitHub logins are case-insensitive
def test_an_author_adds_files_to_their_own_folder(repo: Path, valid_doc: dict[str, Any], author: str) -> None:
    _add_bobs_file(repo, valid_doc)
    code, out = _run("--base", "base", "--author", author)
    assert (code, _codes(out)) == (0, [])


def test_an_author_cannot_add_files_to_another_contributors_folder(repo: Path, valid_doc: dict[str, Any]) -> None:
    # the handle was compared with the folder only, which the pull request's author also picks
    _add_bobs_file(repo, valid_doc)
    code, out = _run("--base", "base", "--author", "mallory")
    assert (code, _codes(out)) == (1, ["file.handle_author"])
    assert "added by mallory to submissions/bob/" in out


def test_a_github_app_author_gets_a_finding_not_a_usage_error(repo: Path, valid_doc: dict[str, Any]) -> None:
    _add_bobs_file(repo, valid_doc)
    code, out = _run("--base", "base", "--author", "some-app[bot]")
    assert (code, _codes(out)) == (1, ["file.handle_author"])


@pytest.mark.parametrize(
    "args", [("--author", "bob"), ("--base", "base", "--author", "bob;rm"), ("--base", "base", "--author", "")]
)
def test_author_is_a_login_and_needs_base(repo: Path, args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*args, "submissions"])
    assert result.exit_code == 2
    assert "--author takes the GitHub login" in result.output


def test_an_unknown_base_is_named_in_the_usage_error(repo: Path) -> None:
    """git rev-parse --quiet says nothing: the error names the ref, not the git command that failed."""
    result = CliRunner().invoke(main, ["--base", "origin/nowhere"])
    assert result.exit_code == 2
    assert "--base origin/nowhere: no such commit" in result.output and "rev-parse" not in result.output


def test_a_git_message_of_several_lines_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """git adds hints on lines of their own: the usage error joins them, never shows an escaped '\\n'."""
    from validator import history

    said = b"fatal: ambiguous argument 'x': unknown revision\nUse '--' to separate paths from revisions\n"
    monkeypatch.setattr(history.subprocess, "run", lambda args, **_: subprocess.CompletedProcess(args, 128, b"", said))
    with pytest.raises(history.GitError) as caught:
        history.toplevel(tmp_path)
    assert (
        str(caught.value) == "fatal: ambiguous argument 'x': unknown revision Use '--' to separate paths from revisions"
    )


def test_a_row_that_judges_accepted_files_may_be_added_to_never_changed(repo: Path, valid_doc: dict[str, Any]) -> None:
    """A pull request adding submissions may add a board's row (a warning, for the maintainer); editing or
    removing an existing row is an error: every accepted file is judged by it (attack v7: a model's count
    or a board's limits loosened in the same pull request passed with a warning only)."""
    import json

    tables = _tables_at_base(repo, valid_doc)
    gpus_path = tables / "gpus.json"
    original = gpus_path.read_text(encoding="utf-8")
    gpus = json.loads(original)
    new_board = dict(gpus["gpus"][0], name="NVIDIA Imaginary 1")
    gpus["gpus"].append(new_board)
    gpus_path.write_text(json.dumps(gpus, indent=1) + "\n", encoding="utf-8")
    code, out = _run("--base", "base")
    assert (code, _codes(out)) == (0, ["reference.changed"])  # a row added: shown, not refused

    h100 = next(r for r in gpus["gpus"] if r["name"] == "NVIDIA H100 80GB HBM3")
    h100["max_power_w"] = 2000
    gpus_path.write_text(json.dumps(gpus, indent=1) + "\n", encoding="utf-8")
    code, out = _run("--base", "base")
    assert (code, _codes(out)) == (1, ["reference.changed", "reference.row_changed"])
    assert "NVIDIA H100 80GB HBM3" in out and "max_power_w" in out

    models_path = tables / "models.json"
    models = json.loads(models_path.read_text(encoding="utf-8"))
    models["models"] = models["models"][1:]  # a row removed
    models_path.write_text(json.dumps(models, indent=1) + "\n", encoding="utf-8")
    gpus_path.write_text(original, encoding="utf-8")
    code, out = _run("--base", "base")
    assert (code, _codes(out)) == (1, ["reference.changed", "reference.row_changed"])
    assert "removed" in out


def test_a_contributor_may_add_a_board_not_a_collector_release(repo: Path, valid_doc: dict[str, Any]) -> None:
    """Under --author a pull request may add its board's or model's row; a collector release (a made-up
    0.4.9 took the leniencies kept for 0.1.0-0.5.0 files) or a prompt is the maintainers' to add."""
    import json

    tables = _tables_at_base(repo, valid_doc)
    collectors_path = tables / "collectors.json"
    collectors = json.loads(collectors_path.read_text(encoding="utf-8"))
    collectors["releases"].append(
        {"name": "eco-collect", "version": "0.4.9", "released": "2026-11-22", "schema_versions": ["1.5.0"]}
    )
    collectors_path.write_text(json.dumps(collectors, indent=1) + "\n", encoding="utf-8")
    code, out = _run("--base", "base", "--author", "bob")
    assert (code, _codes(out)) == (1, ["reference.changed", "reference.row_changed"])
    assert "0.4.9" in out
    code, out = _run("--base", "base")  # a maintainer's pull request: shown, not refused
    assert (code, _codes(out)) == (0, ["reference.changed"])

    git(repo, "checkout", "--", "ecocompute/reference/collectors.json")
    gpus_path = tables / "gpus.json"
    gpus = json.loads(gpus_path.read_text(encoding="utf-8"))
    gpus["gpus"].append(dict(gpus["gpus"][0], name="NVIDIA Imaginary 1"))
    gpus_path.write_text(json.dumps(gpus, indent=1) + "\n", encoding="utf-8")
    code, out = _run("--base", "base", "--author", "bob")
    assert (code, _codes(out)) == (0, ["reference.changed"])


@pytest.mark.parametrize("table", ["models.json", "accepted.json"])
def test_a_table_linked_to_a_device_or_nested_past_the_parser_is_one_line_not_a_hang(
    repo: Path, valid_doc: dict[str, Any], table: str
) -> None:
    """The pull request's copy of a table is read as the loader reads it: a link to /dev/zero held
    eco-validate --base for ever, JSON nested 100,000 deep ended it in a RecursionError traceback. Each is
    now the loader's one-line refusal (a usage error)."""
    import signal

    tables = _tables_at_base(repo, valid_doc)
    (tables / table).unlink()
    (tables / table).symlink_to("/dev/zero")
    (tables / "gpus.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")

    def hung(_signum: int, _frame: object) -> None:
        raise TimeoutError("eco-validate --base read a device as a table")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        result = CliRunner().invoke(main, ["--format", "json", "--base", "base"])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "reference table" in result.output
