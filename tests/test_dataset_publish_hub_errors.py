"""The Hub's 'not found' answers to publish (dsattack39): once publish has created the repository, or for a
gated one, such an answer is an error, never 'no repository, so no release to check against'."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from fake_hub import GITATTRIBUTES, Hub, make_build, released
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from dataset_card.publish import PublishError, dry_run, publish


def _not_found(kind: type[RepositoryNotFoundError]) -> RepositoryNotFoundError:
    return kind(f"{kind.__name__} for o/r", response=mock.MagicMock(status_code=404, headers={}))


def _released_hub(tmp_path: Path) -> tuple[Hub, Path]:
    """A repository holding the release v1.0.0, and a new build of other bytes."""
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old = make_build(tmp_path / "old")
    hub = Hub({".gitattributes": GITATTRIBUTES, **released(old)})
    hub.tags["v1.0.0"] = hub.head
    return hub, make_build(tmp_path / "new", extra={"figures/new.png": b"new"})


@pytest.mark.parametrize(("call", "version"), [("list_repo_refs", "0.5.0"), ("repo_info", "2.0.0")])
@pytest.mark.parametrize("kind", [RepositoryNotFoundError, GatedRepoError])
def test_not_found_after_the_repository_was_created_publishes_nothing(
    tmp_path: Path, call: str, version: str, kind: type[RepositoryNotFoundError]
) -> None:
    """The tags read as 'no repository' were taken as none: a version below the latest release (or the latest
    itself) passed, with no row check, and a 'Release v0.5.0' tag landed on a commit above v1.0.0's. main's head
    read so was committed to with no parent: every file added, none of an earlier release's deleted."""
    hub, build_dir = _released_hub(tmp_path)
    getattr(hub.api, call).side_effect = _not_found(kind)
    with pytest.raises(HfHubHTTPError, match=f"{kind.__name__} for o/r"):
        publish(hub.api, "o/r", build_dir, version, sleep=lambda s: None)
    assert hub.commits == 0 and hub.tags == {"v1.0.0": "0" * 40}


@pytest.mark.parametrize("call", ["list_repo_refs", "repo_info"])
def test_a_gated_repository_is_no_missing_one_in_a_dry_run(tmp_path: Path, call: str) -> None:
    """A GatedRepoError is a RepositoryNotFoundError: the dry run said 'the repository does not exist: it would
    be created' (or, from the tags, planned a release with no version or row check)."""
    hub, build_dir = _released_hub(tmp_path)
    getattr(hub.api, call).side_effect = _not_found(GatedRepoError)
    plan = dry_run(hub.api, "o/r", build_dir, "2.0.0")
    assert plan.exists is None and "GatedRepoError for o/r" in plan.unknown


def test_a_repository_that_is_not_found_in_a_dry_run_may_be_a_private_one(tmp_path: Path) -> None:
    hub, build_dir = _released_hub(tmp_path)
    hub.api.list_repo_refs.side_effect = hub.api.repo_info.side_effect = _not_found(RepositoryNotFoundError)
    assert dry_run(hub.api, "o/r", build_dir, "2.0.0").lines()[1] == (
        "  the repository does not exist (or the token cannot see it: the Hub answers so for a private repository "
        "too): it would be created, then committed to"
    )


def test_a_tag_made_meanwhile_is_not_to_be_made_again(tmp_path: Path) -> None:
    """The Hub's 409 on create_tag: another publish took the version since this one read the tags. The error
    told the user to tag the commit with that version, which fails the same way."""
    hub, build_dir = _released_hub(tmp_path)
    hub.tag_failures.append(HfHubHTTPError("409 Conflict: tag exists", response=mock.MagicMock(status_code=409)))
    with pytest.raises(PublishError) as raised:
        publish(hub.api, "o/r", build_dir, "1.1.0")
    assert hub.commits == 1 and "v1.1.0" not in hub.tags
    assert str(raised.value) == (
        f"the release commit {hub.head} landed on o/r's main but is not tagged v1.1.0: the Hub holds a tag v1.1.0 "
        "already (the Hugging Face Hub answered with an error: 409 Conflict: tag exists), made since this publish "
        "read the tags (by another publish?); releases are immutable: publish again with a new --version (main's "
        "head, while it holds exactly this build, is tagged without a new commit)"
    )
    assert publish(hub.api, "o/r", build_dir, "1.2.0").committed is False  # as the error says
