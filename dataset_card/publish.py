"""Publish a built dataset folder as one atomic Hub commit, then tag it vX.Y.Z."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import HfHubHTTPError

from ecocompute.cli import EcoError

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
MAX_ATTEMPTS = 3


class PublishError(EcoError):
    """Publishing was refused or failed; the Hub repository is unchanged."""


@dataclass(frozen=True)
class Published:
    commit: str
    tag: str


def parse_version(version: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    if not match:
        raise PublishError(f"version {version!r} is not a semantic version X.Y.Z")
    return int(match[1]), int(match[2]), int(match[3])


def resolve_version(api: Any, repo_id: str, spec: str) -> str:
    """X.Y.Z as given, or the next minor/major after the latest vX.Y.Z tag on the Hub."""
    if spec not in ("next-minor", "next-major"):
        parse_version(spec)
        return spec
    refs = api.list_repo_refs(repo_id, repo_type="dataset")
    released = [parse_version(t.name[1:]) for t in refs.tags if t.name.startswith("v") and _SEMVER.match(t.name[1:])]
    major, minor, _ = max(released, default=(0, 0, 0))
    return f"{major + 1}.0.0" if spec == "next-major" else f"{major}.{minor + 1}.0"


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
    """One create_commit (all files, deletions of stale ones) on top of the current head, retried on a
    412 (someone pushed meanwhile), then create_tag on the commit it returned."""
    wanted = parse_version(version)
    tag = f"v{version}"
    refs = api.list_repo_refs(repo_id, repo_type="dataset")
    existing = {t.name for t in refs.tags}
    if tag in existing:
        raise PublishError(f"{repo_id} already has {tag}; releases are immutable, choose a new version")
    released = [parse_version(t[1:]) for t in existing if t.startswith("v") and _SEMVER.match(t[1:])]
    if released and wanted <= max(released):
        latest = ".".join(map(str, max(released)))
        raise PublishError(f"version {version} is not above the latest release {latest}")
    files = sorted(p for p in build_dir.rglob("*") if p.is_file())
    if not (build_dir / "README.md").is_file() or not files:
        raise PublishError(f"{build_dir} is not a built dataset (no README.md); run eco-dataset build first")
    local = {p.relative_to(build_dir).as_posix(): p for p in files}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        head = api.repo_info(repo_id, repo_type="dataset").sha
        remote = set(api.list_repo_files(repo_id, repo_type="dataset", revision=head))
        operations: list[Any] = [CommitOperationAdd(path_in_repo=k, path_or_fileobj=str(v)) for k, v in local.items()]
        operations += [CommitOperationDelete(path_in_repo=p) for p in sorted(remote - set(local) - {".gitattributes"})]
        try:
            info = api.create_commit(
                repo_id=repo_id,
                repo_type="dataset",
                operations=operations,
                parent_commit=head,
                commit_message=f"Release {tag}",
            )
            break
        except HfHubHTTPError as exc:
            if _status(exc) != 412 or attempt == MAX_ATTEMPTS:
                raise PublishError(f"commit to {repo_id} failed: {exc}") from exc
            sleep(2.0 * attempt)  # the head moved: rebuild the operations on the new head
    api.create_tag(repo_id, tag=tag, revision=info.oid, repo_type="dataset", tag_message=f"Release {tag}")
    return Published(info.oid, tag)
