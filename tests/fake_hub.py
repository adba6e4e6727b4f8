"""A Hugging Face Hub for the publish tests, without a network: an autospec'd HfApi (its calls keep the
real signatures) and a small build to publish."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import yaml
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError

from dataset_card import outdir


def card(counts: dict[str, int]) -> str:
    """A card's front matter stating these rows per config, as card.front_matter writes it."""
    info = [{"config_name": k, "splits": [{"name": "train", "num_examples": n}]} for k, n in counts.items()]
    return "---\n" + yaml.safe_dump({"license": "cc-by-4.0", "dataset_info": info}) + "---\n"


ROWS = {"measurements": 12, "trials": 90, "submissions": 3, "legacy": 101}
PARQUET = "measurements/train-00000-of-00001.parquet"


def make_build(folder: Path) -> Path:
    """A small built dataset: a card stating ``ROWS``, one Parquet file, and the local build marker."""
    (folder / "measurements").mkdir()
    (folder / "README.md").write_text(card(ROWS))
    (folder / PARQUET).write_bytes(b"PAR1")
    (folder / outdir.MARKER).write_text("{}")  # a local build's marker is never published
    return folder


def autospec_api(tags: list[str], heads: list[str], remote: list[str] | None = None) -> mock.MagicMock:
    api = mock.create_autospec(HfApi, instance=True)
    api.list_repo_refs.return_value = SimpleNamespace(tags=[SimpleNamespace(name=t) for t in tags])
    api.repo_info.side_effect = [SimpleNamespace(sha=h) for h in heads]
    paths = remote or [".gitattributes", "README.md", "old/stale.parquet"]
    api.list_repo_files.return_value = paths
    api.create_commit.return_value = SimpleNamespace(oid="c0ffee" * 6 + "abcd")
    api.hf_hub_download.side_effect = entry_not_found()  # the latest release's card: none unless a test says
    return api


def entry_not_found() -> RemoteEntryNotFoundError:
    return RemoteEntryNotFoundError("404 Entry Not Found", response=mock.MagicMock(status_code=404, headers={}))


def http_error(status: int) -> HfHubHTTPError:
    response = mock.MagicMock(status_code=status, headers={})  # the HTTP client differs across hub versions
    return HfHubHTTPError(f"{status} error", response=response)
