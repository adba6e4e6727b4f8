"""A Hub revision of the dataset, downloaded within bounds and read as a local folder: a repository
named on the command line may hold anything, so it gets the bounds a local folder gets
(advisor.reading) and a cap on what is downloaded, checked from the listing before any download.

Only the configs' own Parquet files are downloaded (``<config>/*.parquet``, what reading reads), into
the Hub's cache, where a second run finds them.

``guarded`` wraps an HfApi for every command that talks to the Hub (this reader, eco-dataset publish):
huggingface_hub raises a bare ValueError for answers it cannot read (a proxy's or a mirror's HTML page where
JSON was due: JSONDecodeError) and for what it refuses (an LFS batch error), and a KeyError for JSON of another
shape (a mirror's ``{}``), which ended the command in a traceback; such an error becomes one line naming the call.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from huggingface_hub import RepoFile
from huggingface_hub.errors import EntryNotFoundError, HFValidationError, LocalEntryNotFoundError, OfflineModeIsEnabled

from ecocompute import hubenv
from ecocompute.cli import EcoError, describe, is_known, printable

from . import reading
from .reading import DatasetError, DatasetSpecError

# Parquet as a build writes it is smaller than its columns once read; reading.MAX_READ_BYTES bounds those.
MAX_DOWNLOAD_BYTES = reading.MAX_READ_BYTES
MAX_LISTED = 4 * reading.MAX_FILES  # entries of one config's folder listed (its files and any subfolder's)


class HubCallError(EcoError):
    """A huggingface_hub call that failed with a ValueError or KeyError of its own: an answer it could not read, or a
    refusal."""


# What huggingface_hub raises on an answer it cannot read or a request it refuses; not TypeError, which a call
# of the tools' own with wrong arguments raises (a bug).
_LIBRARY_ERRORS = (ValueError, KeyError)


def _call_error(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], exc: Exception) -> Exception:
    """HubCallError naming the call, or ``exc`` itself where it is known already (the Hub's HTTP errors: a 400 is
    a BadRequestError, an HfHubHTTPError and a ValueError, which the callers tell by its status) or no answer of the
    Hub's: a repository id or revision refused by huggingface_hub's validators (the callers name the option), or a
    malformed variable of huggingface_hub's environment (ecocompute.cli names it)."""
    if is_known(exc) or isinstance(exc, HFValidationError) or hubenv.blame(exc) is not None:
        return exc
    repo = kwargs.get("repo_id", args[0] if args else None)
    on = f" on {printable(str(repo), limit=120)}" if isinstance(repo, str) else ""
    return HubCallError(
        f"huggingface_hub's {name}{on} failed ({type(exc).__name__}: {describe(exc)}): an answer it could not read "
        "(is HF_ENDPOINT, or a proxy, answering for the Hub?) or a request it refused"
    )


class _Guarded:
    """An HfApi whose calls raise HubCallError for the library's own ValueError or KeyError, while they run or while
    the listing they return is read (list_repo_tree pages lazily)."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.api, name)
        return self._call(name, method) if callable(method) else method

    @staticmethod
    def _call(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = method(*args, **kwargs)
            except _LIBRARY_ERRORS as exc:
                raise _call_error(name, args, kwargs, exc) from exc
            return _pages(name, args, kwargs, result) if isinstance(result, Iterator) else result

        return call


def _pages(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], pages: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from pages
    except _LIBRARY_ERRORS as exc:
        raise _call_error(name, args, kwargs, exc) from exc


def guarded(api: Any) -> Any:
    """``api`` (an HfApi, or a test's stand-in) whose huggingface_hub ValueErrors and KeyErrors are HubCallError."""
    return api if isinstance(api, _Guarded) else _Guarded(api)


def folder(api: Any, repo: str, revision: str, configs: tuple[str, ...]) -> Path:
    """The snapshot folder holding ``configs``' Parquet files of ``repo`` at ``revision``."""
    shown = printable(f"{repo}@{revision}")
    api = guarded(api)
    try:
        # One commit for the listing and every download: a branch moved between them would download
        # files other than those the caps were checked on.
        commit = api.repo_info(repo, repo_type="dataset", revision=revision).sha
        files = [entry for config in configs for entry in config_files(api, shown, repo, commit, config)]
        _bounded(shown, files, configs)
        paths = [Path(api.hf_hub_download(repo, e.path, repo_type="dataset", revision=commit)) for e in files]
    except DatasetError:
        raise
    except HFValidationError as exc:  # e.g. owner/na--me: the spec's pattern lets some through
        raise DatasetSpecError(f"{shown} does not name a Hub repository ({describe(exc)})") from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise DatasetError(
            f"{shown}: the Hub cannot be reached ({describe(exc)}); give a local folder eco-dataset build "
            "wrote, or try again online"
        ) from None
    except Exception as exc:
        if not is_known(exc):  # a bug, not the Hub's or the network's answer: the CLI shows it as such
            raise
        raise DatasetError(f"{shown} cannot be read from the Hub ({describe(exc)})") from None
    snapshots = {p.parents[1] for p in paths}  # each file is <snapshot>/<config>/<name>.parquet
    if len(snapshots) != 1:
        raise DatasetError(f"{shown}: the downloaded files are not in one snapshot folder ({len(snapshots)})")
    return snapshots.pop()


def listed(api: Any, shown: str, repo: str, revision: str, path: str | None, limit: int | None = None) -> list[Any]:
    """The recursive listing of ``path`` (None: the whole repository) at ``revision``, read no further
    than ``limit`` entries (default MAX_LISTED): a repository of millions would take minutes and their
    objects' memory. EntryNotFoundError when there is no such folder."""
    limit = MAX_LISTED if limit is None else limit
    tree = api.list_repo_tree(repo, path_in_repo=path, recursive=True, revision=revision, repo_type="dataset")
    entries = list(itertools.islice(tree, limit + 1))
    if len(entries) > limit:
        where = "repository" if path is None else f"{path} folder"
        raise DatasetError(
            f"{shown}'s {where} lists more than {limit} entries: it is not a dataset eco-dataset build wrote"
        )
    return entries


def config_files(api: Any, shown: str, repo: str, revision: str, config: str) -> list[RepoFile]:
    """``config``'s own Parquet files (what reading reads), from a bounded listing of that folder alone;
    [] when there is no such folder."""
    try:
        entries = listed(api, shown, repo, revision, config)
    except LocalEntryNotFoundError:
        raise  # the Hub was not reached: not a missing folder
    except EntryNotFoundError:
        return []
    return [e for e in entries if isinstance(e, RepoFile) and _wanted(e.path, (config,))]


def _wanted(path: str, configs: tuple[str, ...]) -> bool:
    parts = path.split("/")
    return len(parts) == 2 and parts[0] in configs and parts[1].endswith(".parquet")


def _bounded(shown: str, files: list[RepoFile], configs: tuple[str, ...]) -> None:
    missing = [c for c in configs if not any(e.path.startswith(f"{c}/") for e in files)]
    if missing:
        raise DatasetError(
            f"{shown} has no {', '.join(f'{c}/*.parquet' for c in missing)}: it is not a dataset eco-dataset build wrote"
        )
    for config in configs:
        count = sum(e.path.startswith(f"{config}/") for e in files)
        if count > reading.MAX_FILES:
            raise DatasetError(
                f"{shown}'s {config} config holds {count} Parquet files, more than the {reading.MAX_FILES} this tool "
                "reads: it is not a dataset eco-dataset build wrote"
            )
    size = sum(e.size or 0 for e in files)
    if size > MAX_DOWNLOAD_BYTES:
        raise DatasetError(
            f"{shown}'s Parquet files take {size} bytes, more than the {MAX_DOWNLOAD_BYTES >> 20} MiB this tool "
            "downloads: it is not a dataset eco-dataset build wrote"
        )
