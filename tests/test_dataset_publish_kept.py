"""A release keeps every submission of the one before it, each with its file: compared id by id, not
by counts (a build that dropped some submissions and held as many others passed the count check)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_hub import (
    GITATTRIBUTES,
    ROWS,
    SUBMISSIONS,
    SUBMITTED,
    Hub,
    card,
    make_build,
    released,
    submissions_parquet,
)
from huggingface_hub import RepoFile, RepoFolder

from advisor import hub as advisor_hub
from dataset_card import kept
from dataset_card import publish as publish_module
from dataset_card.publish import PublishError, dry_run, publish


def _released_hub(tmp_path: Path, files: dict[str, bytes] | None = None) -> Hub:
    """A Hub whose v1.0.0 is a release of make_build's folder (or ``files``)."""
    first = tmp_path / "first"
    first.mkdir()
    hub = Hub(files if files is not None else released(make_build(first)))
    hub.tags["v1.0.0"] = hub.head
    return hub


def _build(tmp_path: Path, submitted: dict[str, str]) -> Path:
    folder = tmp_path / "build"
    folder.mkdir()
    make_build(folder, {SUBMISSIONS: submissions_parquet(submitted)})
    return folder


def _refused(hub: Hub, build: Path, match: str) -> None:
    before = (hub.head, dict(hub.tags), hub.commits)
    for attempt in (publish, dry_run):
        with pytest.raises(PublishError, match=match):
            attempt(hub.api, "o/r", build, "1.1.0")
    assert (hub.head, dict(hub.tags), hub.commits) == before


def test_a_build_dropping_submissions_is_refused_even_with_as_many_rows(tmp_path: Path) -> None:
    hub = _released_hub(tmp_path)
    swapped = {**{k: v for k, v in SUBMITTED.items() if k != "2026-11-01-alice"}, "2026-11-09-mallory": "9" * 64}
    build = _build(tmp_path, swapped)
    _refused(
        hub,
        build,
        r"^the build drops 1 submission\(s\) of v1\.0\.0 \(2026-11-01-alice\); submissions/ is append-only, .*"
        r"nothing published \(--allow-fewer-rows publishes it anyway\)$",
    )
    assert publish(hub.api, "o/r", build, "1.1.0", allow_fewer_rows=True).tag == "v1.1.0"


def test_a_build_holding_another_file_under_a_released_id_is_refused(tmp_path: Path) -> None:
    hub = _released_hub(tmp_path)
    build = _build(tmp_path, {**SUBMITTED, "2026-11-02-alice": "f" * 64})
    _refused(hub, build, r"^the build holds another file for 1 submission\(s\) of v1\.0\.0 \(2026-11-02-alice\);")


def test_a_build_keeping_every_submission_is_published_and_the_plan_says_so(tmp_path: Path) -> None:
    hub = _released_hub(tmp_path)
    build = _build(tmp_path, {**SUBMITTED, "2026-11-09-bob": "b" * 64})
    assert dry_run(hub.api, "o/r", build, "1.1.0").rows.endswith(
        "; all 3 submission(s) of v1.0.0 kept, each with its file"
    )
    assert publish(hub.api, "o/r", build, "1.1.0").tag == "v1.1.0"
    assert hub.files[SUBMISSIONS] == (build / SUBMISSIONS).read_bytes()


@pytest.mark.parametrize("readme", [b"an early card", card(ROWS).encode()])
def test_a_release_without_a_submissions_config_is_not_compared_and_the_plan_says_so(
    tmp_path: Path, readme: bytes
) -> None:
    """Said whether or not the release's card states its rows (the plan was silent when it did)."""
    hub = _released_hub(tmp_path, {".gitattributes": GITATTRIBUTES, "README.md": readme})
    build = _build(tmp_path, SUBMITTED)
    plan = dry_run(hub.api, "o/r", build, "1.1.0")
    assert "kept" not in plan.rows
    assert plan.rows.endswith("; v1.0.0 has no submissions config: its submissions are not compared")
    assert publish(hub.api, "o/r", build, "1.1.0").tag == "v1.1.0"


def test_a_release_whose_submissions_cannot_be_read_or_are_too_large_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "first"
    first.mkdir()
    files = released(make_build(first))
    hub = Hub({**files, SUBMISSIONS: b"PAR1 not parquet PAR1"})
    hub.tags["v1.0.0"] = hub.head
    build = _build(tmp_path, SUBMITTED)
    _refused(
        hub,
        build,
        r"^v1\.0\.0's submissions config cannot be read \(submissions/train-00000-of-00001\.parquet [^/]*\): "
        r"its submissions .*--allow-fewer-rows publishes without",
    )  # named as on the Hub, not in the temporary folder it was read from and that is gone
    hub = Hub(files)
    hub.tags["v1.0.0"] = hub.head
    monkeypatch.setattr(kept, "MAX_DOWNLOAD_BYTES", 100)
    _refused(hub, build, r"^v1\.0\.0's submissions config holds 1 file\(s\) of \d+ bytes, more than a release's")
    downloaded = [c.args[1] for c in hub.api.hf_hub_download.call_args_list]
    assert SUBMISSIONS not in downloaded  # refused from the listing, before the download


def test_ids_from_the_hub_are_shown_escaped_and_capped(tmp_path: Path) -> None:
    """The release's ids are whatever the Hub holds: a line break cannot start a line of its own."""
    hostile = {f"s{i}\n::error::forged": f"{i}" * 64 for i in range(7)}
    first = tmp_path / "first"
    first.mkdir()
    make_build(first, {SUBMISSIONS: submissions_parquet(hostile)})
    hub = Hub(released(first))
    hub.tags["v1.0.0"] = hub.head
    with pytest.raises(PublishError) as raised:
        publish(hub.api, "o/r", _build(tmp_path, SUBMITTED), "1.1.0")
    message = str(raised.value)
    assert "\n" not in message and "s0\\n::error::forged" in message and "and 2 more" in message


def test_a_card_that_cannot_be_downloaded_is_not_a_card_without_counts(tmp_path: Path) -> None:
    """hf_hub_download answers a network failure with LocalEntryNotFoundError, an EntryNotFoundError:
    it was taken for a release card stating no counts, so the row check was skipped without a word
    (and the dry run said the rows of v1.0.0 were unknown) while the network was down."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    hub = _released_hub(tmp_path)
    build = _build(tmp_path, SUBMITTED)
    real = hub.api.hf_hub_download.side_effect

    def offline(repo_id: str, filename: str, **kwargs: object) -> str:
        if filename == "README.md":
            raise LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub")
        return real(repo_id, filename, **kwargs)

    hub.api.hf_hub_download.side_effect = offline
    before = (hub.head, dict(hub.tags), hub.commits)
    with pytest.raises(LocalEntryNotFoundError):
        publish(hub.api, "o/r", build, "1.1.0")
    assert (hub.head, dict(hub.tags), hub.commits) == before
    plan = dry_run(hub.api, "o/r", build, "1.1.0")
    assert plan.exists is None and "locate the file on the Hub" in plan.unknown and plan.rows == ""


def test_only_the_files_the_comparison_reads_are_downloaded(tmp_path: Path) -> None:
    """The comparison reads submissions/*.parquet: a file in a subfolder of the release's config (none
    a build writes) is neither downloaded nor read."""
    first = tmp_path / "first"
    first.mkdir()
    files = released(make_build(first))
    hub = Hub({**files, "submissions/old/train-00000-of-00001.parquet": b"PAR1 not parquet PAR1"})
    hub.tags["v1.0.0"] = hub.head
    assert publish(hub.api, "o/r", _build(tmp_path, SUBMITTED), "1.1.0").tag == "v1.1.0"
    downloaded = [c.args[1] for c in hub.api.hf_hub_download.call_args_list]
    assert SUBMISSIONS in downloaded and "submissions/old/train-00000-of-00001.parquet" not in downloaded


def _endless(hub: Hub, under: str | None) -> None:
    """The listing of ``under`` (None: the whole repository) never ends: a test fails, not hangs, on
    code that reads it all."""
    listing = hub.api.list_repo_tree.side_effect

    def endless(repo_id: str, path_in_repo: str | None = None, **kw: Any) -> Iterator[RepoFile | RepoFolder]:
        yield from listing(repo_id, path_in_repo, **kw)
        if path_in_repo != under:
            return
        for n in itertools.count():
            assert n < 1000, "the listing was read past its cap"
            yield RepoFile(path=f"{under or 'junk'}/x/{n}.txt", size=1, oid=f"{n:040x}")

    hub.api.list_repo_tree.side_effect = endless


@pytest.mark.parametrize(
    ("under", "said"),
    [("submissions", "o/r@v1.0.0's submissions folder lists more than 20 entries"), (None, "o/r's repository lists")],
)
def test_the_release_s_listings_are_read_no_further_than_their_cap(
    tmp_path: Path, under: str | None, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The latest release's submissions folder (kept.released) and the repository at main's head (the
    plan) were listed in full before any cap, as advisor.hub no longer does."""
    monkeypatch.setattr(advisor_hub, "MAX_LISTED", 20)
    monkeypatch.setattr(publish_module, "MAX_LISTED", 20, raising=False)  # raising: the old code had none
    hub = _released_hub(tmp_path)
    _endless(hub, under)
    _refused(hub, _build(tmp_path, SUBMITTED), re.escape(said) + ".* nothing published")
