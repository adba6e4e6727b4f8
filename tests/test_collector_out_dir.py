"""eco-collect run --out-dir submissions/<handle> wrote submissions/<handle>/<handle>/<id>.json, which CI refuses
(file.path_policy), after the whole run: refused before anything is measured, naming the folder to give
(attackds2 N6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector import cli, submission
from collector.errors import CollectOptionError


def _refusal(given: str, why: str, instead: str) -> str:
    """eco-collect's one line for an --out-dir ``given`` that nests the handle's folder (handle alice)."""
    return (
        f"--out-dir {given} {why}: the file goes to a folder named after the handle inside --out-dir, here "
        f"{given}/alice, which CI refuses (file.path_policy); nothing measured: give --out-dir {instead}, the folder "
        "that holds the handles' folders"
    )


@pytest.mark.parametrize(
    ("given", "why", "instead"),
    [
        ("submissions/alice", "lies inside submissions/alice", "submissions"),
        ("repo/submissions/Alice/run-1", "lies inside submissions/Alice", "repo/submissions"),
    ],
)
def test_an_out_dir_that_is_the_handles_own_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, why: str, instead: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CollectOptionError) as caught:
        submission.check_out_dir(Path(given), "alice")
    assert str(caught.value) == _refusal(given, why, instead)
    for fine in ("submissions", "alice-results", "submissions/bob/../", "results/alice"):
        submission.check_out_dir(Path(fine), "alice")
    (tmp_path / "submissions" / "alice").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "submissions" / "alice")  # "." is the handle's folder too
    with pytest.raises(CollectOptionError, match=f"give --out-dir {tmp_path / 'submissions'}, "):
        submission.check_out_dir(Path("."), "alice")


def test_the_cli_refuses_the_handles_folder_in_one_line_before_anything(tmp_path: Path) -> None:
    out = tmp_path / "submissions" / "alice"
    args = ["run", "--model", "Qwen/Qwen2.5-3B-Instruct", "--weights", "random", "--handle", "alice"]
    result = CliRunner().invoke(cli.main, [*args, "--out-dir", str(out)])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"eco-collect: error: --out-dir {out} lies inside submissions/alice: ")
    assert line.endswith(f"give --out-dir {out.parent}, the folder that holds the handles' folders")
    assert not out.exists() and not (tmp_path / ".eco-collect").exists()


def test_an_out_dir_is_judged_where_it_leads_and_with_its_dots_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link to submissions/alice nested the file as that folder does, and passed; submissions/alice/.. (the
    folder to give) and Submissions/alice (the same folder on a case-insensitive disk) were judged by the
    letters as typed (attackv24)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo" / "submissions" / "alice").mkdir(parents=True)
    (tmp_path / "mine").symlink_to(tmp_path / "repo" / "submissions" / "alice")
    real = tmp_path.resolve() / "repo" / "submissions"
    for given in ("mine", "mine/run-1"):
        with pytest.raises(
            CollectOptionError, match=f"--out-dir {given} lies inside submissions/alice: .* {re.escape(str(real))}, "
        ):
            submission.check_out_dir(Path(given), "alice")
    with pytest.raises(
        CollectOptionError, match=r"lies inside Submissions/alice: .* give --out-dir repo/Submissions, "
    ):
        submission.check_out_dir(Path("repo/Submissions/alice"), "alice")
    submission.check_out_dir(Path("repo/submissions/alice/.."), "alice")


def test_another_handles_folder_in_a_checkouts_submissions_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out-dir submissions/bob with --handle alice wrote submissions/bob/alice/<id>.json, which CI refuses
    (file.path_policy), after the whole run (leftovers33). Outside a git checkout a folder named submissions
    is the user's own."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo" / "submissions" / "bob").mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    for given, why in (("repo/submissions/bob", "submissions/bob"), ("repo/submissions/new/x", "submissions/new")):
        with pytest.raises(CollectOptionError) as caught:
            submission.check_out_dir(Path(given), "alice")
        assert str(caught.value) == _refusal(given, f"lies inside {why}", "repo/submissions")
    monkeypatch.chdir(tmp_path / "repo" / "submissions")
    with pytest.raises(CollectOptionError, match=f"give --out-dir {tmp_path / 'repo' / 'submissions'}, "):
        submission.check_out_dir(Path("bob"), "alice")
    monkeypatch.chdir(tmp_path)
    for fine in ("repo/submissions", "repo/results/bob", "repo/submissions/bob/.."):
        submission.check_out_dir(Path(fine), "alice")
    (tmp_path / "repo" / ".git").rmdir()
    submission.check_out_dir(Path("repo/submissions/bob"), "alice")


def test_only_the_nearest_checkouts_submissions_counts(tmp_path: Path) -> None:
    """A checkout kept in a folder named submissions of a home that is itself under git (dotfiles): its own
    folders are not another handle's folder; its own submissions/ still is."""
    home = tmp_path / "home"
    (home / ".git").mkdir(parents=True)
    repo = home / "submissions" / "ecocompute"
    (repo / ".git").mkdir(parents=True)
    (repo / "submissions" / "bob").mkdir(parents=True)
    for fine in (repo / "submissions", repo / "results"):
        submission.check_out_dir(fine, "alice")
    with pytest.raises(CollectOptionError, match=f"give --out-dir {re.escape(str(repo / 'submissions'))}, "):
        submission.check_out_dir(repo / "submissions" / "bob", "alice")


@pytest.mark.parametrize("where", ["below a file", "read-only"])
def test_an_out_dir_no_file_can_be_written_into_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A path of the wrong kind, or one the tool will not write, is a usage error in every command (exit 2);
    eco-collect said so in one line, but as a run that failed (exit 1)."""
    import os

    if where == "below a file":
        (tmp_path / "notes.txt").write_text("a file", encoding="utf-8")
        out = tmp_path / "notes.txt" / "submissions"
    else:  # the mode bits as a user other than root meets them (root writes through them)
        out = tmp_path / "locked" / "submissions"
        out.parent.mkdir()
        access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != out.parent and access(path, mode))
    args = ["run", "--model", "Qwen/Qwen2.5-3B-Instruct", "--weights", "random", "--handle", "alice"]
    result = CliRunner().invoke(cli.main, [*args, "--out-dir", str(out)])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"eco-collect: error: --out-dir {out}")
    end = "give the folder submissions go to" if where == "below a file" else "give a folder you can write in"
    assert line.endswith(f"nothing measured: {end}")
