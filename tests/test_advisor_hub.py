"""eco-advise reads a Hub revision as it reads a local folder (advisor.hub): only the configs' own
Parquet files, capped from the listing before any download, then within advisor.reading's bounds; a
Hub that cannot be reached or lacks the revision is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_hub import Hub, http_error
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

from advisor import data, hub, reading

SPEC = "ecocompute/llm-energy@v1.2.0"


def _hub(build: Path, extra: dict[str, bytes] | None = None) -> Hub:
    files = {p.relative_to(build).as_posix(): p.read_bytes() for p in build.rglob("*") if p.is_file()}
    fake = Hub(files | (extra or {}))
    fake.tags["v1.2.0"] = fake.head
    return fake


def test_a_hub_revision_reads_as_the_local_folder_does(advisor_build: Path) -> None:
    fake = _hub(advisor_build, {"measurements/old/train.parquet": b"not read", "README.md": b"---\n---\n"})
    loaded = data.load(SPEC, api=fake.api)
    local = data.load(advisor_build)
    assert loaded.source == SPEC
    assert loaded.measurements == local.measurements and loaded.windows == local.windows
    assert loaded.legacy == local.legacy
    fetched = sorted(c.args[1] for c in fake.api.hf_hub_download.call_args_list)
    assert fetched == sorted(f"{c}/train-00000-of-00001.parquet" for c in ("measurements", "trials", "legacy"))
    # the tag resolved once to its commit: listing and downloads see one snapshot, even if a branch moves
    assert {c.kwargs["revision"] for c in fake.api.hf_hub_download.call_args_list} == {fake.head}
    assert {c.kwargs["revision"] for c in fake.api.list_repo_tree.call_args_list} == {fake.head}


def test_too_much_to_download_is_refused_from_the_listing(advisor_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _hub(advisor_build)
    size = sum(len(b) for p, b in fake.files.items() if p.split("/")[0] in ("measurements", "trials", "legacy"))
    monkeypatch.setattr(hub, "MAX_DOWNLOAD_BYTES", size - 1)
    with pytest.raises(data.DatasetError, match=rf"take {size} bytes, more than the 0 MiB this tool downloads"):
        data.load(SPEC, api=fake.api)
    fake.api.hf_hub_download.assert_not_called()


def test_too_many_files_are_refused_from_the_listing(advisor_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _hub(advisor_build, {"trials/train-00001-of-00001.parquet": b"x"})
    monkeypatch.setattr(reading, "MAX_FILES", 1)
    with pytest.raises(data.DatasetError, match="trials config holds 2 Parquet files, more than the 1"):
        data.load(SPEC, api=fake.api)
    fake.api.hf_hub_download.assert_not_called()


def test_a_missing_config_is_one_line(advisor_build: Path) -> None:
    fake = _hub(advisor_build)
    fake.snapshots[fake.head] = {p: b for p, b in fake.files.items() if not p.startswith("legacy/")}
    with pytest.raises(data.DatasetError, match=r"ecocompute/llm-energy@v1.2.0 has no legacy/\*.parquet"):
        data.load(SPEC, api=fake.api)


def test_a_damaged_file_is_named_by_its_hub_path(advisor_build: Path) -> None:
    fake = _hub(advisor_build)
    fake.snapshots[fake.head]["trials/train-00000-of-00001.parquet"] = b"PAR1" + b"\0" * 64
    with pytest.raises(data.DatasetError) as caught:
        data.load(SPEC, api=fake.api)
    message = str(caught.value)
    assert "ecocompute/llm-energy@v1.2.0/trials/train-00000-of-00001.parquet" in message
    assert "fake-hub-" not in message


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (http_error(404), "cannot be read from the Hub"),
        (LocalEntryNotFoundError("offline and not in the cache"), "the Hub cannot be reached"),
        (ConnectionError("Connection refused\nretry later"), "cannot be read from the Hub .Connection refused retry"),
        (HFValidationError("Cannot have -- or .. in repo_id"), "does not name a Hub repository"),
    ],
    ids=["not-found", "offline", "connection-refused", "invalid-id"],
)
def test_a_hub_failure_is_one_line(advisor_build: Path, failure: Exception, said: str) -> None:
    fake = _hub(advisor_build)
    fake.api.repo_info.side_effect = failure
    with pytest.raises(data.DatasetError, match=said) as caught:
        data.load(SPEC, api=fake.api)
    assert "\n" not in str(caught.value)


def test_a_folder_listing_without_end_is_cut_and_refused(advisor_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _hub(advisor_build, {f"trials/part/{i}.txt": b"" for i in range(20)})
    monkeypatch.setattr(hub, "MAX_LISTED", 10)
    with pytest.raises(data.DatasetError, match="trials folder lists more than 10 entries"):
        data.load(SPEC, api=fake.api)
    fake.api.hf_hub_download.assert_not_called()


def test_a_bug_is_not_dressed_as_a_hub_failure(advisor_build: Path) -> None:
    """Only the Hub's and the network's errors become one line here; anything else is a bug to see."""
    fake = _hub(advisor_build)
    fake.api.repo_info.side_effect = RuntimeError("a bug")
    with pytest.raises(RuntimeError, match="a bug"):
        data.load(SPEC, api=fake.api)
