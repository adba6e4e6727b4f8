"""Publish a built dataset folder as one atomic Hub commit, then tag it vX.Y.Z.

Tags are immutable: a version that exists, or is not above the latest release, is refused, and
nothing here moves or deletes a tag. ``plan`` is the read-only half (what the commit would add,
replace and delete, on which parent, with which tag) that ``--dry-run`` prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from ecocompute.cli import EcoError, describe, is_known

from . import outdir, versions

MAX_ATTEMPTS = 3
KEEP_REMOTE = frozenset({".gitattributes"})  # the Hub's own file: never deleted by a release


class PublishError(EcoError):
    """Publishing was refused or failed; the Hub repository is unchanged."""


@dataclass(frozen=True)
class Published:
    commit: str
    tag: str


@dataclass(frozen=True)
class Plan:
    repo_id: str
    tag: str
    exists: bool | None  # None: the Hub could not be asked (dry run without network)
    parent: str | None  # the head the commit goes on; None when the repository is created first
    added: list[str]
    replaced: list[str]
    deleted: list[str]
    unknown: str = ""  # why the remote side is unknown
    local: dict[str, Path] = field(default_factory=dict, repr=False)

    def lines(self) -> list[str]:
        if self.exists is None:
            head = f"remote state unknown ({self.unknown}): every file listed as added"
        elif not self.exists:
            head = "the repository does not exist: it would be created, then committed to"
        else:
            head = f"parent commit {self.parent} (the current head of main)"
        out = [f"would publish {self.repo_id} as one commit, then tag {self.tag} on it", f"  {head}"]
        for verb, paths in (("add", self.added), ("replace", self.replaced), ("delete", self.deleted)):
            out.append(f"  {verb} ({len(paths)}){': ' + ', '.join(paths) if paths else ''}")
        return out


def local_files(build_dir: Path) -> dict[str, Path]:
    """The files of a build as Hub paths; the local build marker is not part of the dataset."""
    files = sorted(p for p in build_dir.rglob("*") if p.is_file() and not p.is_symlink())
    local = {p.relative_to(build_dir).as_posix(): p for p in files}
    local.pop(outdir.MARKER, None)
    if "README.md" not in local:
        raise PublishError(f"{build_dir} is not a built dataset (no README.md); run eco-dataset build first")
    return local


def _tags(api: Any, repo_id: str) -> set[str]:
    try:
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        return set()
    return {t.name for t in refs.tags}


def check_version(tags: set[str], version: str) -> versions.Version:
    wanted = versions.release(version)
    if wanted.tag in tags:
        raise PublishError(f"the Hub already has {wanted.tag}; releases are immutable, choose a new version")
    released = versions.released(tags)
    if released and wanted.core <= max(released):
        latest = ".".join(map(str, max(released)))
        raise PublishError(f"version {version} is not above the latest release {latest}")
    return wanted


def resolve_version(api: Any, repo_id: str, spec: str) -> str:
    """X.Y.Z as given, or the next minor/major after the latest vX.Y.Z tag on the Hub."""
    if spec not in ("next-minor", "next-major"):
        return versions.release(spec).text
    major, minor, _ = max(versions.released(_tags(api, repo_id)), default=(0, 0, 0))
    return f"{major + 1}.0.0" if spec == "next-major" else f"{major}.{minor + 1}.0"


def _plan(api: Any, repo_id: str, local: dict[str, Path], tag: str) -> Plan:
    try:
        head = api.repo_info(repo_id, repo_type="dataset").sha
    except RepositoryNotFoundError:
        return Plan(repo_id, tag, False, None, sorted(local), [], [], local=local)
    remote = set(api.list_repo_files(repo_id, repo_type="dataset", revision=head))
    return Plan(
        repo_id,
        tag,
        True,
        head,
        added=sorted(set(local) - remote),
        replaced=sorted(set(local) & remote),
        deleted=sorted(remote - set(local) - KEEP_REMOTE),
        local=local,
    )


def dry_run(api: Any, repo_id: str, build_dir: Path, version: str) -> Plan:
    """What ``publish`` would do, asking the Hub only to read; without a network, the local half."""
    local = local_files(build_dir)
    tag = versions.release(version).tag
    try:
        check_version(_tags(api, repo_id), version)
        return _plan(api, repo_id, local, tag)
    except EcoError:
        raise
    except Exception as exc:  # only the Hub's and the network's errors become "unknown"
        if not is_known(exc):
            raise
        return Plan(repo_id, tag, None, None, sorted(local), [], [], unknown=describe(exc), local=local)


def _status(exc: HfHubHTTPError) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def publish(
    api: Any,
    repo_id: str,
    build_dir: Path,
    version: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Published:
    """Create the dataset repository if missing, make one create_commit (all files, deletions of stale
    ones) on the current head, retried on a 412 (someone pushed meanwhile), then tag that commit."""
    local = local_files(build_dir)
    tag = versions.release(version).tag
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    check_version(_tags(api, repo_id), version)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        plan = _plan(api, repo_id, local, tag)
        operations: list[Any] = [CommitOperationAdd(path_in_repo=k, path_or_fileobj=str(v)) for k, v in local.items()]
        operations += [CommitOperationDelete(path_in_repo=p) for p in plan.deleted]
        try:
            info = api.create_commit(
                repo_id=repo_id,
                repo_type="dataset",
                operations=operations,
                parent_commit=plan.parent,
                commit_message=f"Release {tag}",
            )
            break
        except HfHubHTTPError as exc:
            if _status(exc) != 412 or attempt == MAX_ATTEMPTS:
                raise PublishError(f"commit to {repo_id} failed: {exc}") from exc
            sleep(2.0 * attempt)  # the head moved: rebuild the operations on the new head
    api.create_tag(repo_id, tag=tag, revision=info.oid, repo_type="dataset", tag_message=f"Release {tag}")
    return Published(info.oid, tag)
