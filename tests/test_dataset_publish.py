"""Publishing against an autospec'd HfApi: one commit on the parent, a tag on it, retry, refusals,
a missing repository created, and the dry run that shows the commit without writing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from fake_hub import (
    GITATTRIBUTES,
    PARQUET,
    ROWS,
    STALE,
    SUBMISSIONS,
    autospec_api,
    card,
    http_error,
    make_build,
    tree,
)
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from dataset_card.publish import MANIFEST, PublishError, dry_run, publish
from dataset_card.versions import VersionError


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    return make_build(tmp_path)


def test_single_commit_on_parent_then_tag(build_dir: Path) -> None:
    api = autospec_api(["v1.0.0"], ["head1"])
    result = publish(api, "ecocompute/llm-energy", build_dir, "1.1.0")
    api.create_commit.assert_called_once()
    kwargs = api.create_commit.call_args.kwargs
    assert kwargs["parent_commit"] == "head1" and kwargs["repo_type"] == "dataset"
    api.create_repo.assert_called_once_with("ecocompute/llm-energy", repo_type="dataset", exist_ok=True)
    adds = sorted(op.path_in_repo for op in kwargs["operations"] if isinstance(op, CommitOperationAdd))
    deletes = [op.path_in_repo for op in kwargs["operations"] if isinstance(op, CommitOperationDelete)]
    assert adds == [MANIFEST, "README.md", PARQUET, SUBMISSIONS]
    assert deletes == [STALE]
    api.create_tag.assert_called_once_with(
        "ecocompute/llm-energy",
        tag="v1.1.0",
        revision=api.create_commit.return_value.oid,
        repo_type="dataset",
        tag_message="Release v1.1.0",
    )
    assert result.tag == "v1.1.0"


def test_retry_on_412_uses_the_new_head(build_dir: Path) -> None:
    api = autospec_api([], ["head1", "head2"])
    api.create_commit.side_effect = [http_error(412), SimpleNamespace(oid="d" * 40)]
    result = publish(api, "o/r", build_dir, "1.0.0", sleep=lambda s: None)
    parents = [c.kwargs["parent_commit"] for c in api.create_commit.call_args_list]
    assert parents == ["head1", "head2"] and result.commit == "d" * 40


def test_gives_up_after_bounded_retries(build_dir: Path) -> None:
    api = autospec_api([], ["h1", "h2", "h3"])
    api.create_commit.side_effect = [http_error(412)] * 3
    with pytest.raises(PublishError, match="commit to o/r failed"):
        publish(api, "o/r", build_dir, "1.0.0", sleep=lambda s: None)
    api.create_tag.assert_not_called()


def test_other_http_errors_are_not_retried(build_dir: Path) -> None:
    api = autospec_api([], ["h1"])
    api.create_commit.side_effect = http_error(403)
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
    api = autospec_api(tags, ["h1"])
    with pytest.raises((PublishError, VersionError), match=message):
        publish(api, "o/r", build_dir, version)
    with pytest.raises((PublishError, VersionError), match=message):
        dry_run(api, "o/r", build_dir, version)
    api.create_commit.assert_not_called()
    api.create_tag.assert_not_called()
    api.delete_tag.assert_not_called()


def test_refuses_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    api = autospec_api([], ["h1"])
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

    assert resolve_version(autospec_api(tags, []), "o/r", spec) == expected


@pytest.mark.parametrize(
    ("tag", "spec"), [("v" + "9" * 124 + ".0.0", "next-major"), ("v1." + "9" * 124 + ".0", "next-minor")]
)
def test_a_next_version_too_long_to_be_one_names_the_hub_s_tag(tag: str, spec: str) -> None:
    """A tag of 128 characters is a version; the one after it is not, and the build refused it as a
    version the user never typed."""
    from dataset_card.publish import resolve_version

    said = rf"^--version {spec}: the latest release tag of o/r, v[19.]{{36}}\.\.\., is a version of 128 characters; "
    with pytest.raises(PublishError, match=said):
        resolve_version(autospec_api([tag, "v1.0.0"], []), "o/r", spec)


def test_next_minor_without_the_hub_says_to_give_the_version() -> None:
    """Offline, next-minor cannot be resolved: the one line says so and names the way on (X.Y.Z)."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    from dataset_card.publish import resolve_version

    api = autospec_api([], [])
    api.list_repo_refs.side_effect = OfflineModeIsEnabled("Cannot reach the Hub: offline mode is enabled.")
    with pytest.raises(
        PublishError, match=r"enabled; --version next-minor reads the latest .* give the version as X\.Y\.Z"
    ):
        resolve_version(api, "o/r", "next-minor")


def _not_found() -> RepositoryNotFoundError:
    return RepositoryNotFoundError("404 Repository Not Found", response=mock.MagicMock(status_code=404, headers={}))


def test_a_missing_repository_is_created_then_committed_to(build_dir: Path) -> None:
    api = autospec_api([], [])  # created by create_repo, the repository has no tags yet
    api.repo_info.side_effect = [SimpleNamespace(sha="initial")]
    api.list_repo_tree.return_value = tree({".gitattributes": GITATTRIBUTES})
    result = publish(api, "o/new", build_dir, "0.1.0")
    assert api.method_calls[0] == mock.call.create_repo("o/new", repo_type="dataset", exist_ok=True)
    kwargs = api.create_commit.call_args.kwargs
    assert kwargs["parent_commit"] == "initial"
    assert not [op for op in kwargs["operations"] if isinstance(op, CommitOperationDelete)]
    assert result.tag == "v0.1.0"


def test_dry_run_shows_the_commit_and_writes_nothing(build_dir: Path) -> None:
    api = autospec_api(["v1.0.0"], ["head1"], remote=[".gitattributes", "README.md", STALE])
    plan = dry_run(api, "o/r", build_dir, "1.1.0")
    assert (plan.exists, plan.parent, plan.tag) == (True, "head1", "v1.1.0")
    assert plan.added == [MANIFEST, PARQUET, SUBMISSIONS]
    assert plan.replaced == ["README.md"] and plan.deleted == [STALE]
    text = "\n".join(plan.lines())
    assert "parent commit head1" in text and "tag v1.1.0" in text and f"delete (1): {STALE} (where" in text
    for write in (api.create_repo, api.create_commit, api.create_tag, api.upload_file, api.delete_file):
        write.assert_not_called()


def test_dry_run_of_a_repository_that_does_not_exist(build_dir: Path) -> None:
    api = autospec_api([], [])
    api.list_repo_refs.side_effect = _not_found()
    api.repo_info.side_effect = _not_found()
    plan = dry_run(api, "o/new", build_dir, "0.1.0")
    assert plan.exists is False and plan.parent is None and plan.deleted == []
    assert plan.added == [MANIFEST, "README.md", PARQUET, SUBMISSIONS]
    assert "would be created" in "\n".join(plan.lines())
    api.create_repo.assert_not_called()


def test_dry_run_without_network_shows_the_local_half(build_dir: Path) -> None:
    api = HfApi(endpoint="http://127.0.0.1:9")  # the real client; nothing listens on the discard port
    plan = dry_run(api, "o/r", build_dir, "1.0.0")
    assert plan.exists is None and "cannot reach the Hugging Face Hub" in plan.unknown
    assert plan.added == [MANIFEST, "README.md", PARQUET, SUBMISSIONS]
    # nothing of the Hub's was read: it said "delete (0)", "keep (0)" (dsattack40)
    lines = plan.lines()
    assert lines[0] == "would publish o/r as one commit, then tag v1.0.0 on it"
    assert lines[1].startswith("  remote state unknown (") and lines[2].startswith("  add (4): ")
    assert lines[3:] == [
        "  replace, delete, keep: unknown until the Hub's files are read (a release replaces files whose bytes "
        "differ and deletes only files an earlier release wrote that this build lacks)"
    ]


@pytest.mark.parametrize(
    "inputs",
    [
        "one real file",  # the plan does not depend on how much was built
        pytest.param("the repository's submissions", marks=pytest.mark.slow),  # every real file: seconds
    ],
)
def test_cli_dry_run_prints_the_plan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inputs: str) -> None:
    import json
    import shutil

    import huggingface_hub
    from click.testing import CliRunner
    from conftest import FIXTURES, ROOT

    from dataset_card.cli import main

    submissions = ROOT / "submissions"
    if inputs == "one real file":
        real = FIXTURES / "valid" / "h100-mistral7b-random-sweep.json"  # an eco-collect file of an H100
        doc = json.loads(real.read_text(encoding="utf-8"))
        submissions = tmp_path / "in" / "submissions"
        (submissions / doc["contributor"]["handle"]).mkdir(parents=True)
        shutil.copyfile(real, submissions / doc["contributor"]["handle"] / f"{doc['submission_id']}.json")
    api = autospec_api(["v1.0.0"], ["head1"], remote=[".gitattributes", "README.md"])
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: api)
    monkeypatch.chdir(tmp_path)
    args = ["publish", "--repo", "o/r", "--version", "next-minor", "--dry-run"]
    args += ["--submissions", str(submissions), "--legacy", str(ROOT / "legacy")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "would publish o/r as one commit, then tag v1.1.0 on it"
    assert lines[1] == "  parent commit head1 (the current head of main)"
    assert lines[2].startswith("  add (") and "measurements/train-00000-of-00001.parquet" in lines[2]
    assert ".eco-dataset-build" in lines[2]  # the files the build wrote: the next release may delete those only
    assert lines[3] == (
        "  replace (1): README.md (the card: eco-dataset writes it whole, edits made on the Hub are replaced)"
    )
    assert (
        lines[4] == "  delete (0)"
        and lines[5] == "  keep (1): .gitattributes (not where a build writes: never deleted)"
    )
    assert lines[6].startswith("  main holds no .eco-dataset-build (the files an earlier release wrote")
    api.create_commit.assert_not_called()
    api.create_tag.assert_not_called()


def test_an_empty_build_is_never_published(tmp_path: Path) -> None:
    """An empty or mistyped --submissions folder builds a card with 0 measurements: a release of it
    would replace the Hub's tables with empty ones under an immutable tag (attack s17b #3)."""
    empty = card({**ROWS, "measurements": 0, "trials": 0, "submissions": 0})
    build_dir = make_build(tmp_path, {"README.md": empty.encode()})
    api = autospec_api([], ["h1"])
    for attempt in (publish, dry_run):
        with pytest.raises(PublishError, match=r"the build holds no measurements \(0 submission\(s\)\)"):
            attempt(api, "o/r", build_dir, "1.0.0", allow_fewer_rows=True)
    api.create_repo.assert_not_called()
    api.create_commit.assert_not_called()
    api.create_tag.assert_not_called()


def test_fewer_rows_than_the_latest_release_are_refused_unless_allowed(build_dir: Path, tmp_path: Path) -> None:
    latest = tmp_path.parent / f"{tmp_path.name}-latest-card.md"  # beside the build: not one of its files
    latest.write_text(card({**ROWS, "measurements": 215, "submissions": 33}))
    api = autospec_api(["v1.2.0", "v1.3.0"], ["h1", "h2", "h3"])
    api.hf_hub_download.side_effect = None
    api.hf_hub_download.return_value = str(latest)
    message = (
        r"the build holds fewer rows than v1.3.0 \(measurements 215 -> 12, submissions 33 -> 3\); .*"
        r"nothing published \(--allow-fewer-rows publishes it anyway\)"
    )
    for attempt in (publish, dry_run):
        with pytest.raises(PublishError, match=message):
            attempt(api, "o/r", build_dir, "1.4.0")
    api.create_commit.assert_not_called()
    assert api.hf_hub_download.call_args.kwargs["revision"] == "v1.3.0"
    plan = dry_run(api, "o/r", build_dir, "1.4.0", allow_fewer_rows=True)
    assert plan.lines()[-1] == (
        "  rows: measurements 12, trials 90, submissions 3 (v1.3.0: measurements 215, trials 90, submissions 33)"
    )
    assert publish(api, "o/r", build_dir, "1.4.0", allow_fewer_rows=True).tag == "v1.4.0"
    latest.write_text(card(ROWS))  # as many rows as the latest release: published without the option
    api.repo_info.side_effect = [SimpleNamespace(sha="h4")]
    assert publish(api, "o/r", build_dir, "1.5.0").tag == "v1.5.0"


def test_cli_refuses_an_empty_submissions_folder_even_in_a_dry_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub
    from click.testing import CliRunner
    from conftest import ROOT

    from dataset_card.cli import main

    api = autospec_api(["v1.3.0"], ["head1"])
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: api)
    (tmp_path / "emptysub").mkdir()
    build = ["--submissions", str(tmp_path / "emptysub"), "--legacy", str(ROOT / "legacy")]
    result = CliRunner().invoke(main, ["build", *build, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith(
        "; it holds no measurements (is --submissions the repository's submissions/ folder?)"
    )
    for dry in (["--dry-run"], []):
        result = CliRunner().invoke(main, ["publish", "--repo", "o/r", "--version", "next-minor", *build, *dry])
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
        assert result.output.startswith("eco-dataset: error: the build holds no measurements")
    api.create_commit.assert_not_called()
    api.create_tag.assert_not_called()


def test_a_release_card_is_read_in_bounded_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The latest release's card comes from the Hub: a few kilobytes of YAML aliases stood for
    thousands of configs of thousands of splits each (4,000 x 4,000 summed: seconds; the 8 MiB a card
    may have: days), and a front matter of megabytes took PyYAML's pure-Python loader minutes."""
    import yaml

    from dataset_card.rowcounts import card_counts

    card = tmp_path / "README.md"
    n = 4_000
    splits, configs = ", ".join(["*d"] * n), ", ".join(["*c"] * n)
    card.write_text(
        f"---\nx: &d {{num_examples: 1}}\ny: &s [{splits}]\nz: &c {{config_name: measurements, splits: *s}}\n"
        f"dataset_info: [{configs}]\n---\n",
        encoding="utf-8",
    )
    assert card_counts(card) is None  # more configs than any card of ours, not 4,000 x 4,000 additions
    parsed: list[int] = []
    safe_load = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda text: parsed.append(len(text)) or safe_load(text))
    card.write_text("---\nbulk: [" + "1," * 100_000 + "1]\n---\nbody\n", encoding="utf-8")  # 200 KB: 10 times ours
    assert card_counts(card) is None and parsed == []  # beyond the bound: never handed to the parser


def test_a_release_card_of_another_shape_states_no_counts_and_never_raises(tmp_path: Path) -> None:
    """The latest release's card is read from the Hub after the whole build: anyone who can edit it
    broke every later publish with a traceback (a list entry that is not a mapping; YAML nested
    5,000 deep, on which PyYAML recurses). Attack s17c."""
    from dataset_card.rowcounts import card_counts

    card = tmp_path / "README.md"
    good = "---\ndataset_info:\n- config_name: measurements\n  splits:\n  - name: train\n    num_examples: 3\n---\n"
    card.write_text(good, encoding="utf-8")
    assert card_counts(card) == {"measurements": 3}
    for front in (
        "dataset_info:\n- measurements\n",
        "dataset_info:\n- [1, 2]\n",
        "dataset_info: " + "[" * 5_000 + "]" * 5_000 + "\n",
    ):
        card.write_text(f"---\n{front}---\n", encoding="utf-8")
        assert card_counts(card) is None
