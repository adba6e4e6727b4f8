"""Publishing against an autospec'd HfApi: one commit on the parent, a tag on it, retry, refusals,
a missing repository created, and the dry run that shows the commit without writing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from dataset_card import outdir
from dataset_card.publish import PublishError, dry_run, publish
from dataset_card.versions import VersionError


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    (tmp_path / "measurements").mkdir()
    (tmp_path / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n")
    (tmp_path / "measurements" / "train-00000-of-00001.parquet").write_bytes(b"PAR1")
    (tmp_path / outdir.MARKER).write_text("{}")  # a local build's marker is never published
    return tmp_path


def _api(tags: list[str], heads: list[str], remote: list[str] | None = None) -> mock.MagicMock:
    api = mock.create_autospec(HfApi, instance=True)
    api.list_repo_refs.return_value = SimpleNamespace(tags=[SimpleNamespace(name=t) for t in tags])
    api.repo_info.side_effect = [SimpleNamespace(sha=h) for h in heads]
    api.list_repo_files.return_value = remote or [".gitattributes", "README.md", "old/stale.parquet"]
    api.create_commit.return_value = SimpleNamespace(oid="c0ffee" * 6 + "abcd")
    return api


def _http_error(status: int) -> HfHubHTTPError:
    response = mock.MagicMock(status_code=status, headers={})  # the HTTP client differs across hub versions
    return HfHubHTTPError(f"{status} error", response=response)


def test_single_commit_on_parent_then_tag(build_dir: Path) -> None:
    api = _api(["v1.0.0"], ["head1"])
    result = publish(api, "ecocompute/llm-energy", build_dir, "1.1.0")
    api.create_commit.assert_called_once()
    kwargs = api.create_commit.call_args.kwargs
    assert kwargs["parent_commit"] == "head1" and kwargs["repo_type"] == "dataset"
    api.create_repo.assert_called_once_with("ecocompute/llm-energy", repo_type="dataset", exist_ok=True)
    adds = sorted(op.path_in_repo for op in kwargs["operations"] if isinstance(op, CommitOperationAdd))
    deletes = [op.path_in_repo for op in kwargs["operations"] if isinstance(op, CommitOperationDelete)]
    assert adds == ["README.md", "measurements/train-00000-of-00001.parquet"]
    assert deletes == ["old/stale.parquet"]
    api.create_tag.assert_called_once_with(
        "ecocompute/llm-energy",
        tag="v1.1.0",
        revision=api.create_commit.return_value.oid,
        repo_type="dataset",
        tag_message="Release v1.1.0",
    )
    assert result.tag == "v1.1.0"


def test_retry_on_412_uses_the_new_head(build_dir: Path) -> None:
    api = _api([], ["head1", "head2"])
    api.create_commit.side_effect = [_http_error(412), SimpleNamespace(oid="d" * 40)]
    result = publish(api, "o/r", build_dir, "1.0.0", sleep=lambda s: None)
    parents = [c.kwargs["parent_commit"] for c in api.create_commit.call_args_list]
    assert parents == ["head1", "head2"] and result.commit == "d" * 40


def test_gives_up_after_bounded_retries(build_dir: Path) -> None:
    api = _api([], ["h1", "h2", "h3"])
    api.create_commit.side_effect = [_http_error(412)] * 3
    with pytest.raises(PublishError, match="commit to o/r failed"):
        publish(api, "o/r", build_dir, "1.0.0", sleep=lambda s: None)
    api.create_tag.assert_not_called()


def test_other_http_errors_are_not_retried(build_dir: Path) -> None:
    api = _api([], ["h1"])
    api.create_commit.side_effect = _http_error(403)
    with pytest.raises(PublishError):
        publish(api, "o/r", build_dir, "1.0.0", sleep=lambda s: None)
    assert api.create_commit.call_count == 1


@pytest.mark.parametrize(
    ("tags", "version", "message"),
    [
        (["v1.0.0"], "1.0.0", "already has v1.0.0"),
        (["v1.2.0"], "1.1.9", "not above the latest release 1.2.0"),
        ([], "1.0", "not a semantic version"),
        ([], "1.0.0-rc.1", "not a release"),
        ([], "1.0.0+build.5", "not a release"),
        ([], "01.0.0", "not a semantic version"),
    ],
)
def test_refusals_touch_nothing(build_dir: Path, tags: list[str], version: str, message: str) -> None:
    api = _api(tags, ["h1"])
    with pytest.raises((PublishError, VersionError), match=message):
        publish(api, "o/r", build_dir, version)
    with pytest.raises((PublishError, VersionError), match=message):
        dry_run(api, "o/r", build_dir, version)
    api.create_commit.assert_not_called()
    api.create_tag.assert_not_called()
    api.delete_tag.assert_not_called()


def test_refuses_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    api = _api([], ["h1"])
    with pytest.raises(PublishError, match="not a built dataset"):
        publish(api, "o/r", tmp_path, "1.0.0")


@pytest.mark.parametrize(
    ("tags", "spec", "expected"),
    [
        (["v1.2.3", "v1.10.0", "junk"], "next-minor", "1.11.0"),
        (["v1.2.3"], "next-major", "2.0.0"),
        ([], "next-minor", "0.1.0"),
        (["v1.0.0"], "3.1.4", "3.1.4"),
    ],
)
def test_resolve_version(tags: list[str], spec: str, expected: str) -> None:
    from dataset_card.publish import resolve_version

    assert resolve_version(_api(tags, []), "o/r", spec) == expected


def _not_found() -> RepositoryNotFoundError:
    return RepositoryNotFoundError("404 Repository Not Found", response=mock.MagicMock(status_code=404, headers={}))


def test_a_missing_repository_is_created_then_committed_to(build_dir: Path) -> None:
    api = _api([], [])
    api.list_repo_refs.side_effect = _not_found()  # before create_repo the repository is not there
    api.repo_info.side_effect = [SimpleNamespace(sha="initial")]
    api.list_repo_files.return_value = [".gitattributes"]
    result = publish(api, "o/new", build_dir, "0.1.0")
    assert api.method_calls[0] == mock.call.create_repo("o/new", repo_type="dataset", exist_ok=True)
    kwargs = api.create_commit.call_args.kwargs
    assert kwargs["parent_commit"] == "initial"
    assert not [op for op in kwargs["operations"] if isinstance(op, CommitOperationDelete)]
    assert result.tag == "v0.1.0"


def test_dry_run_shows_the_commit_and_writes_nothing(build_dir: Path) -> None:
    api = _api(["v1.0.0"], ["head1"], remote=[".gitattributes", "README.md", "old/stale.parquet"])
    plan = dry_run(api, "o/r", build_dir, "1.1.0")
    assert (plan.exists, plan.parent, plan.tag) == (True, "head1", "v1.1.0")
    assert plan.added == ["measurements/train-00000-of-00001.parquet"]
    assert plan.replaced == ["README.md"] and plan.deleted == ["old/stale.parquet"]
    text = "\n".join(plan.lines())
    assert "parent commit head1" in text and "tag v1.1.0" in text and "delete (1): old/stale.parquet" in text
    for write in (api.create_repo, api.create_commit, api.create_tag, api.upload_file, api.delete_file):
        write.assert_not_called()


def test_dry_run_of_a_repository_that_does_not_exist(build_dir: Path) -> None:
    api = _api([], [])
    api.list_repo_refs.side_effect = _not_found()
    api.repo_info.side_effect = _not_found()
    plan = dry_run(api, "o/new", build_dir, "0.1.0")
    assert plan.exists is False and plan.parent is None and plan.deleted == []
    assert plan.added == ["README.md", "measurements/train-00000-of-00001.parquet"]
    assert "would be created" in "\n".join(plan.lines())
    api.create_repo.assert_not_called()


def test_dry_run_without_network_shows_the_local_half(build_dir: Path) -> None:
    api = HfApi(endpoint="http://127.0.0.1:9")  # the real client; nothing listens on the discard port
    plan = dry_run(api, "o/r", build_dir, "1.0.0")
    assert plan.exists is None and "cannot reach the Hugging Face Hub" in plan.unknown
    assert plan.added == ["README.md", "measurements/train-00000-of-00001.parquet"]


def test_cli_dry_run_prints_the_plan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub
    from click.testing import CliRunner
    from conftest import ROOT

    from dataset_card.cli import main

    api = _api(["v1.0.0"], ["head1"], remote=[".gitattributes", "README.md"])
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: api)
    monkeypatch.chdir(tmp_path)
    args = ["publish", "--repo", "o/r", "--version", "next-minor", "--dry-run"]
    args += ["--submissions", str(ROOT / "submissions"), "--legacy", str(ROOT / "legacy")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "would publish o/r as one commit, then tag v1.1.0 on it"
    assert lines[1] == "  parent commit head1 (the current head of main)"
    assert "measurements/train-00000-of-00001.parquet" in lines[2] and ".eco-dataset-build" not in result.output
    assert lines[3] == "  replace (1): README.md" and lines[4] == "  delete (0)"
    api.create_commit.assert_not_called()
    api.create_tag.assert_not_called()
