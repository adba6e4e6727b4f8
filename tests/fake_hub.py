"""A Hugging Face Hub for the publish tests, without a network: an autospec'd HfApi (its calls keep the
real signatures), list_repo_tree answers as the Hub gives them (git blob ids; an LFS file's sha256), and
``Hub``, a dataset repository in memory whose commits, head and tags move as the Hub's do."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from huggingface_hub import CommitOperationDelete, HfApi, RepoFile, RepoFolder
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError
from huggingface_hub.utils.sha import git_hash

from dataset_card import outdir


def card(counts: dict[str, int]) -> str:
    """A card's front matter stating these rows per config, as card.front_matter writes it."""
    info = [{"config_name": k, "splits": [{"name": "train", "num_examples": n}]} for k, n in counts.items()]
    return "---\n" + yaml.safe_dump({"license": "cc-by-4.0", "dataset_info": info}) + "---\n"


ROWS = {"measurements": 12, "trials": 90, "submissions": 3, "legacy": 101}
PARQUET = "measurements/train-00000-of-00001.parquet"
SUBMISSIONS = "submissions/train-00000-of-00001.parquet"
# The submissions a make_build folder holds: submission_id -> file_sha256 (ROWS["submissions"] of them)
SUBMITTED = {f"2026-11-0{i}-alice": f"{i}" * 64 for i in (1, 2, 3)}
STALE = "figures/stale.png"  # where a build writes: deleted from a repository that lists no earlier release's files
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"  # the Hub's own file, kept by a release


def make_build(folder: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A small built dataset: a card stating ``ROWS``, two Parquet files (and ``extra``), and the build's
    marker listing them, as a build writes it (published too: the next release reads what it wrote)."""
    (folder / "measurements").mkdir()
    (folder / "README.md").write_text(card(ROWS))
    (folder / PARQUET).write_bytes(b"PAR1")
    (folder / "submissions").mkdir()
    (folder / SUBMISSIONS).write_bytes(submissions_parquet(SUBMITTED))
    for path, data in (extra or {}).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    outdir.mark(folder)
    return folder


def submissions_parquet(submitted: dict[str, str]) -> bytes:
    """A submissions config file holding these (submission_id, file_sha256) rows, as Parquet bytes."""
    table = pa.table({"submission_id": list(submitted), "file_sha256": list(submitted.values())})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def autospec_api(tags: list[str], heads: list[str], remote: list[str] | None = None) -> mock.MagicMock:
    api = mock.create_autospec(HfApi, instance=True)
    api.list_repo_refs.return_value = SimpleNamespace(tags=[SimpleNamespace(name=t) for t in tags])
    api.repo_info.side_effect = [SimpleNamespace(sha=h) for h in heads]
    paths = remote or [".gitattributes", "README.md", STALE]
    api.list_repo_tree.return_value = tree({p: b"what the Hub holds" for p in paths})
    api.create_commit.return_value = SimpleNamespace(oid="c0ffee" * 6 + "abcd")
    api.hf_hub_download.side_effect = entry_not_found()  # the latest release's card: none unless a test says
    return api


def tree(files: dict[str, bytes], lfs_suffix: str = ".parquet") -> list[RepoFile | RepoFolder]:
    """A recursive list_repo_tree answer as the Hub gives it: its folders too, each file's git blob id,
    and for an LFS file (what the Hub's default .gitattributes makes of *.parquet) the blob id of its
    pointer with the content's sha256 beside it."""
    entries: list[RepoFile | RepoFolder] = []
    for path, data in files.items():
        if not path.endswith(lfs_suffix):
            entries.append(RepoFile(path=path, size=len(data), oid=git_hash(data)))
            continue
        sha256 = hashlib.sha256(data).hexdigest()
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
        lfs = {"size": len(data), "oid": sha256, "pointerSize": len(pointer)}
        entries.append(RepoFile(path=path, size=len(data), oid=git_hash(pointer), lfs=lfs))
    folders = {str(PurePosixPath(p).parent) for p in files} - {"."}
    return entries + [RepoFolder(path=folder, oid=git_hash(folder.encode())) for folder in sorted(folders)]


def entry_not_found() -> RemoteEntryNotFoundError:
    return RemoteEntryNotFoundError("404 Entry Not Found", response=mock.MagicMock(status_code=404, headers={}))


def http_error(status: int) -> HfHubHTTPError:
    response = mock.MagicMock(status_code=status, headers={})  # the HTTP client differs across hub versions
    return HfHubHTTPError(f"{status} error", response=response)


class Hub:
    """A dataset repository in memory behind an autospec'd HfApi: a commit on the head replaces its files
    and moves main, a commit on another parent is a 412, tags are recorded, and create_tag raises the
    errors in ``tag_failures`` first. Every commit's files are kept: listings and downloads at a tag or
    a commit answer with that revision's files, as the Hub does."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.head = "0" * 40
        self.snapshots: dict[str, dict[str, bytes]] = {self.head: dict(files)}
        self.commits = 0
        self.tags: dict[str, str] = {}
        self.tag_failures: list[Exception] = []
        self._cache = tempfile.TemporaryDirectory(prefix="fake-hub-")  # removed with the Hub
        self.api = autospec_api([], [])
        self.api.list_repo_refs.side_effect = lambda *a, **k: SimpleNamespace(
            tags=[SimpleNamespace(name=t) for t in self.tags]
        )
        self.api.repo_info.side_effect = lambda *a, **k: SimpleNamespace(sha=self.head)
        self.api.list_repo_tree.side_effect = self._listing
        self.api.hf_hub_download.side_effect = self._download
        self.api.create_commit.side_effect = self._commit
        self.api.create_tag.side_effect = self._tag

    @property
    def files(self) -> dict[str, bytes]:
        """The files on main's head."""
        return self.snapshots[self.head]

    def move(self, files: dict[str, bytes]) -> None:
        """Someone else commits to main."""
        self.head = "e" * 40
        self.snapshots[self.head] = dict(files)

    def _at(self, revision: str) -> dict[str, bytes]:
        return self.snapshots[self.tags.get(revision, revision)]

    def _listing(
        self, repo_id: str, path_in_repo: str | None = None, *, recursive: bool, revision: str, repo_type: str
    ) -> list[RepoFile | RepoFolder]:
        assert recursive and repo_type == "dataset"
        files = self._at(revision)
        if path_in_repo is not None:
            files = {p: b for p, b in files.items() if p.startswith(f"{path_in_repo}/")}
            if not files:  # the Hub answers a path it does not hold with a 404
                raise entry_not_found()
        return tree(files)

    def _download(
        self, repo_id: str, filename: str, *, repo_type: str, revision: str, local_dir: str | None = None
    ) -> str:
        """The file at ``revision`` into ``local_dir``, else into this Hub's own cache folder, as
        huggingface_hub lays its cache out: the snapshot's file a link to the blob holding its bytes."""
        assert repo_type == "dataset"
        files = self._at(revision)
        if filename not in files:
            raise entry_not_found()
        if local_dir:
            target = Path(local_dir) / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[filename])
            return str(target)
        blob = Path(self._cache.name) / "blobs" / hashlib.sha256(files[filename]).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(files[filename])
        target = Path(self._cache.name) / "snapshots" / revision / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.symlink_to(os.path.relpath(blob, target.parent))
        return str(target)

    def _commit(self, *, operations: list[Any], parent_commit: str, **kwargs: Any) -> SimpleNamespace:
        if parent_commit != self.head:
            raise http_error(412)
        files = dict(self.files)
        for op in operations:
            if isinstance(op, CommitOperationDelete):
                del files[op.path_in_repo]
            else:
                files[op.path_in_repo] = Path(op.path_or_fileobj).read_bytes()
        self.commits += 1
        self.head = f"{self.commits:040x}"
        self.snapshots[self.head] = files
        return SimpleNamespace(oid=self.head)

    def _tag(self, repo_id: str, *, tag: str, revision: str, **kwargs: Any) -> None:
        if self.tag_failures:
            raise self.tag_failures.pop(0)
        self.tags[tag] = revision


def released(build_dir: Path) -> dict[str, bytes]:
    """The Hub's files after a release of ``build_dir``: the build's (its marker too), beside the Hub's
    .gitattributes."""
    files = {p.relative_to(build_dir).as_posix(): p.read_bytes() for p in build_dir.rglob("*") if p.is_file()}
    return {".gitattributes": GITATTRIBUTES, **files}
