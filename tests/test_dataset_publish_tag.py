"""Publishing when the tag fails after the release commit landed (attack s17b #9): the error names the
commit and the command that tags it, and a re-run tags main's head instead of committing again while that
head holds exactly the build's files; a head that moved is committed to again. Against ``fake_hub.Hub``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fake_hub import GITATTRIBUTES, PARQUET, Hub, http_error, make_build, released

from dataset_card.publish import MANIFEST, Published, PublishError, dry_run, publish


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    return make_build(tmp_path)


def _fix(commit: str, tag: str = "v1.1.0") -> str:
    return (
        f"""tag it with `python -c "from huggingface_hub import HfApi; HfApi().create_tag('o/r', tag='{tag}', """
        f"""revision='{commit}', repo_type='dataset', tag_message='Release {tag}')"` (or re-run this publish: """
        "it tags main's head without a new commit while the head holds this build)"
    )


@pytest.mark.parametrize(
    ("failure", "cause"),
    [
        (http_error(502), "the Hugging Face Hub answered with an error: 502 error"),
        (ConnectionResetError(104, "Connection reset by peer"), "Connection reset by peer"),
    ],
)
def test_a_tag_failure_after_the_commit_names_the_commit_and_how_to_tag_it(
    build_dir: Path, failure: Exception, cause: str
) -> None:
    """The commit landed, the tag did not: the error says so and how to mend it (attack s17b #9)."""
    hub = Hub({".gitattributes": GITATTRIBUTES, "README.md": b"the card of v1.0.0"})
    hub.tags["v1.0.0"] = hub.head
    hub.tag_failures.append(failure)
    with pytest.raises(PublishError) as raised:
        publish(hub.api, "o/r", build_dir, "1.1.0")
    landed = hub.head
    assert hub.commits == 1 and hub.files == released(build_dir) and "v1.1.0" not in hub.tags
    assert str(raised.value) == (
        f"the release commit {landed} landed on o/r's main but is not tagged v1.1.0 ({cause}); {_fix(landed)}"
    )


def test_a_rerun_after_a_tag_failure_tags_main_without_a_second_commit(build_dir: Path) -> None:
    hub = Hub({".gitattributes": GITATTRIBUTES})
    hub.tag_failures += [http_error(502), http_error(503)]
    with pytest.raises(PublishError, match="landed"):
        publish(hub.api, "o/r", build_dir, "1.1.0")
    landed = hub.head
    plan = dry_run(hub.api, "o/r", build_dir, "1.1.0")
    assert plan.current and plan.lines()[:2] == [
        f"would tag v1.1.0 on {landed}, the current head of o/r's main, without a commit:",
        "  it already holds exactly this build (an earlier publish whose tag failed?)",
    ]
    with pytest.raises(PublishError) as raised:  # the tag fails again: nothing committed, still said
        publish(hub.api, "o/r", build_dir, "1.1.0")
    assert str(raised.value) == (
        f"{landed}, the head of o/r's main, holds exactly this build but is not tagged v1.1.0 "
        f"(the Hugging Face Hub answered with an error: 503 error); {_fix(landed)}"
    )
    assert publish(hub.api, "o/r", build_dir, "1.1.0") == Published(landed, "v1.1.0", committed=False)
    assert hub.commits == 1 and hub.tags == {"v1.1.0": landed} and hub.head == landed


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])  # same size, other content: only the ids tell them apart


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(lambda f: {**f, "README.md": _flip(f["README.md"])}, id="card edited (git blob id)"),
        pytest.param(lambda f: {**f, PARQUET: _flip(f[PARQUET])}, id="parquet replaced (LFS sha256)"),
        pytest.param(lambda f: {**f, MANIFEST: f[MANIFEST] + b"\n"}, id="manifest edited"),
        pytest.param(lambda f: {k: v for k, v in f.items() if k != PARQUET}, id="file removed"),
    ],
)
def test_a_rerun_after_main_moved_commits_again(build_dir: Path, move: Callable[[dict], dict]) -> None:
    hub = Hub({".gitattributes": GITATTRIBUTES})
    hub.tag_failures.append(http_error(502))
    with pytest.raises(PublishError, match="landed"):
        publish(hub.api, "o/r", build_dir, "1.1.0")
    hub.move(move(hub.files))
    plan = dry_run(hub.api, "o/r", build_dir, "1.1.0")
    assert not plan.current and plan.lines()[:2] == [
        "would publish o/r as one commit, then tag v1.1.0 on it",
        f"  parent commit {'e' * 40} (the current head of main)",
    ]
    result = publish(hub.api, "o/r", build_dir, "1.1.0")
    assert result == Published(hub.head, "v1.1.0", committed=True) and hub.commits == 2
    assert hub.api.create_commit.call_args.kwargs["parent_commit"] == "e" * 40
    assert hub.files == released(build_dir) and hub.tags == {"v1.1.0": hub.head}


def test_cli_says_the_commit_landed_then_tags_it_on_a_rerun(
    monkeypatch: pytest.MonkeyPatch, build_dir: Path, tmp_path: Path
) -> None:
    import shutil

    import huggingface_hub
    from click.testing import CliRunner

    from dataset_card import cli

    hub = Hub({".gitattributes": GITATTRIBUTES})
    hub.tag_failures.append(http_error(502))
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: hub.api)
    # the build itself is tested elsewhere (and deterministic): here, the same small build each run
    monkeypatch.setattr(cli, "_run_build", lambda *args, **kwargs: shutil.copytree(build_dir, args[3]))
    monkeypatch.chdir(tmp_path)
    args = ["publish", "--repo", "o/r", "--version", "1.1.0"]
    first = CliRunner().invoke(cli.main, args)
    landed = hub.head
    assert first.exit_code == 1 and first.output == (
        f"eco-dataset: error: the release commit {landed} landed on o/r's main but is not tagged v1.1.0 "
        f"(the Hugging Face Hub answered with an error: 502 error); {_fix(landed)}\n"
    )
    dry = CliRunner().invoke(cli.main, [*args, "--dry-run"])
    assert dry.exit_code == 0 and dry.output.startswith(f"would tag v1.1.0 on {landed}, the current head"), dry.output
    again = CliRunner().invoke(cli.main, args)
    assert again.exit_code == 0 and again.output == (
        f"published o/r@v1.1.0 by tagging commit {landed}, main's head, which already held exactly this build "
        "(no new commit)\n"
    )
    assert hub.commits == 1 and hub.tags == {"v1.1.0": landed}


@pytest.mark.slow
def test_a_rerun_of_a_real_build_tags_the_landed_commit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two builds of the same inputs give the same files, so a re-run after a failed tag finds them on main."""
    import huggingface_hub
    from click.testing import CliRunner
    from conftest import ROOT

    from dataset_card.cli import main

    hub = Hub({".gitattributes": GITATTRIBUTES})
    hub.tag_failures.append(http_error(502))
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: hub.api)
    monkeypatch.chdir(tmp_path)
    args = ["publish", "--repo", "o/r", "--version", "next-minor"]
    args += ["--submissions", str(ROOT / "submissions"), "--legacy", str(ROOT / "legacy")]
    assert CliRunner().invoke(main, args).exit_code == 1
    landed = hub.head
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and f"by tagging commit {landed}" in again.output, again.output
    assert hub.commits == 1 and hub.tags == {"v0.1.0": landed}
