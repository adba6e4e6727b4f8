"""Publish a built dataset folder as one atomic Hub commit, then tag it vX.Y.Z.

Tags are immutable: a version that exists, or is not above the latest release, is refused, and
nothing here moves or deletes a tag. ``plan`` is the read-only half (what the commit would add,
replace, delete and keep, on which parent, with which tag) that ``--dry-run`` prints.

A release is also refused when its build holds no measurement, or (unless ``allow_fewer_rows``) fewer
rows in a submitted config than the latest release's card states, or not every submission the latest
release published, each with the same file (rowcounts.py, kept.py): submissions/ is append-only, so any of these is a
wrong --submissions folder, and a tag cannot be taken back.

A release deletes on the Hub only files that an earlier release wrote there and this build lacks:
each release publishes the build's marker (``MANIFEST``, outdir.py), the sorted list of the files the
build wrote, and the next release reads it at main's head. Anything else on the Hub (a LICENSE, an image
or notes a maintainer added there, the Hub's .gitattributes) is kept, and the plan lists it under
"keep". A repository whose main holds no manifest (published before releases carried one) loses only
files where a build writes (``in_layout``: a config's Parquet files, the figures' PNGs). A file at a
path the build writes is replaced where its bytes differ (README.md is the card, which eco-dataset writes
whole); one the Hub holds byte for byte is left out of the commit and listed as unchanged.

The commit and the tag are two calls: when the tag fails after the commit landed, the error names the
commit and the command that tags it, and a re-run tags main's head instead of committing again while
that head holds exactly the build's files, beside those a release keeps (compared by the ids the Hub
lists: git blob ids, or the sha256 of LFS files).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, RepoFile
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from advisor import hub, reading
from advisor.reading import DatasetError
from ecocompute.cli import EcoError, describe, is_known, printable

from . import rowcounts, versions
from .hubfiles import KEEP_REMOTE, MANIFEST, PublishError, in_layout, local_files, released_files, same_file

MAX_ATTEMPTS = 3
# Entries of the whole repository listed at main's head before it is refused: a build writes a few dozen
# (four configs of at most reading.MAX_FILES files each, figures); a listing of millions took minutes.
MAX_LISTED = 8 * reading.MAX_FILES


@dataclass(frozen=True)
class Published:
    commit: str
    tag: str
    committed: bool = True  # False: main's head already held exactly this build and was tagged as it was


@dataclass(frozen=True)
class Plan:
    repo_id: str
    tag: str
    exists: bool | None  # None: the Hub could not be asked (dry run without network)
    parent: str | None  # the head the commit goes on; None when the repository is created first
    added: list[str]
    replaced: list[str]  # on the Hub with other bytes
    deleted: list[str]
    unknown: str = ""  # why the remote side is unknown
    kept: list[str] = field(default_factory=list)  # on the Hub, not in the build, not written by a release
    manifest: bool = True  # main's head lists the files an earlier release wrote (False: in_layout decides)
    local: dict[str, Path] = field(default_factory=dict, repr=False)
    rows: str = ""  # the build's rows against the latest release's
    # main's head already holds exactly the build's files (beside those a release keeps): tag it, no commit
    current: bool = False
    unchanged: list[str] = field(default_factory=list)  # on the Hub byte for byte: not uploaded

    def _listing(self, verb: str, paths: list[str], why: str = "") -> str:
        return f"  {verb} ({len(paths)})" + (f": {', '.join(map(printable, paths))}{why}" if paths else "")

    def _kept(self) -> str:
        return self._listing("keep", self.kept, f" (not {self._written}: never deleted)")

    @property
    def _written(self) -> str:
        return "written by an earlier release" if self.manifest else "where a build writes"

    def lines(self) -> list[str]:
        if self.current:
            out = [
                f"would tag {self.tag} on {self.parent}, the current head of {self.repo_id}'s main, without a commit:",
                "  it already holds exactly this build (an earlier publish whose tag failed?)",
            ]
            out += [self._kept()] if self.kept else []
            return out + ([f"  rows: {self.rows}"] if self.rows else [])
        if self.exists is None:
            head = f"remote state unknown ({self.unknown}): every file listed as added"
        elif not self.exists:
            head = (
                "the repository does not exist (or the token cannot see it: the Hub answers so for a private "
                "repository too): it would be created, then committed to"
            )
        else:
            head = f"parent commit {self.parent} (the current head of main)"
        out = [f"would publish {self.repo_id} as one commit, then tag {self.tag} on it", f"  {head}"]
        replaced = sorted(self.replaced, key=lambda p: p != "README.md")
        if "README.md" in replaced:
            replaced[0] = "README.md (the card: eco-dataset writes it whole, edits made on the Hub are replaced)"
        # The marker changes with any file it records (their sha256): say what it is, or it looks like a stray file
        replaced = [
            f"{p} (the list of this release's files, with their sha256)" if p == MANIFEST else p for p in replaced
        ]
        out.append(self._listing("add", self.added))
        if self.exists is None:  # nothing of the Hub's was read: "delete (0)" claimed what no one knows
            return [
                *out,
                "  replace, delete, keep: unknown until the Hub's files are read (a release replaces files whose bytes "
                "differ and deletes only files an earlier release wrote that this build lacks)",
            ]
        out += [self._listing("replace", replaced)]
        out += [self._listing("delete", self.deleted, f" ({self._written}, not in this build)"), self._kept()]
        if self.unchanged:  # counted, not named: a re-release holds dozens of them
            out.append(f"  unchanged ({len(self.unchanged)}): the Hub holds the same bytes, not uploaded")
        if self.exists and not self.manifest:
            out.append(
                f"  main holds no {MANIFEST} (the files an earlier release wrote: releases before it listed none), "
                "so only files where a build writes may be deleted: config Parquet files, PNGs in figures/ and "
                "figures/report/"
            )
        if self.rows:
            out.append(f"  rows: {self.rows}")
        return out


def _missing(exc: RepositoryNotFoundError, created: bool) -> bool:
    """Whether the Hub's answer means that the repository does not exist: never once ``publish`` has created it
    (``created``), nor for a gated one (GatedRepoError is a RepositoryNotFoundError). Read as missing, such an
    answer had the release skip the checks of its version and rows against the latest release's."""
    return not created and not isinstance(exc, GatedRepoError)


def _tags(api: Any, repo_id: str, *, created: bool = False) -> set[str]:
    try:
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
    except RepositoryNotFoundError as exc:
        if not _missing(exc, created):
            raise
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
    api = hub.guarded(api)
    if spec not in ("next-minor", "next-major"):
        try:
            return versions.release(spec).text
        except versions.VersionError as exc:  # its hint offers a pre-release, which publish refuses
            shown = printable(repr(spec[: versions.MAX_LENGTH]), limit=200)
            raise versions.VersionError(
                f"--version {shown} is not one publish takes: give X.Y.Z (e.g. 1.4.0), next-minor (new rows) or "
                "next-major (a schema change)"
            ) from exc
    try:
        tags = _tags(api, repo_id)
    except Exception as exc:
        answered = isinstance(exc, HfHubHTTPError) or (isinstance(exc, EcoError) and not _unreadable(exc))
        if answered or not is_known(exc):  # the Hub answered, or a bug
            raise
        raise PublishError(
            f"{describe(exc).rstrip('.')}; --version {spec} reads the latest release tag from the Hub: give the version as "
            "X.Y.Z (with --dry-run, the local half of the plan is shown offline)"
        ) from exc
    latest = max(versions.released(tags), default=(0, 0, 0))
    major, minor, _ = latest
    text = f"{major + 1}.0.0" if spec == "next-major" else f"{major}.{minor + 1}.0"
    if len(text) > versions.MAX_LENGTH:  # the build would refuse it as "not a semantic version", unnamed
        tag = "v" + ".".join(map(str, latest))
        raise PublishError(
            f"--version {spec}: the latest release tag of {repo_id}, {printable(tag, limit=40)}, is a version of "
            f"{len(tag) - 1} characters; the one after it would be longer than the {versions.MAX_LENGTH} a version may "
            "have: such a tag is no release anyone meant: delete it on the Hub, then publish again"
        )
    return text


def _unreadable(exc: Exception) -> bool:
    """Whether ``exc`` is the Hub's answer that huggingface_hub could not read (an HTML page from a proxy where
    JSON was due): as good as no answer, like a network's failure."""
    return isinstance(exc, hub.HubCallError)


def _plan(api: Any, repo_id: str, local: dict[str, Path], tag: str, *, created: bool = False) -> Plan:
    try:
        head = api.repo_info(repo_id, repo_type="dataset").sha
    except RepositoryNotFoundError as exc:
        if not _missing(exc, created):
            raise
        return Plan(repo_id, tag, False, None, sorted(local), [], [], local=local)
    try:
        tree = hub.listed(api, printable(repo_id), repo_id, head, None, MAX_LISTED)
    except DatasetError as exc:
        raise PublishError(f"{exc}; nothing published: publish to a dataset repository of its own") from None
    remote = {entry.path: entry for entry in tree if isinstance(entry, RepoFile)}  # files, not folders
    added = sorted(set(local) - set(remote))
    both = sorted(set(local) & set(remote))
    unchanged = [p for p in both if same_file(local[p], remote[p])]  # by the ids the Hub lists: nothing downloaded
    replaced = sorted(set(both) - set(unchanged))
    gone = set(remote) - set(local)
    wrote = released_files(api, repo_id, head, remote.get(MANIFEST))
    deleted = sorted({p for p in gone if (p in wrote if wrote is not None else in_layout(p))} - KEEP_REMOTE)
    current = not added and not deleted and not replaced
    return Plan(
        repo_id,
        tag,
        True,
        head,
        added,
        replaced,
        deleted,
        local=local,
        current=current,
        kept=sorted(gone - set(deleted)),
        manifest=wrote is not None,
        unchanged=unchanged,
    )


def dry_run(api: Any, repo_id: str, build_dir: Path, version: str, *, allow_fewer_rows: bool = False) -> Plan:
    """What ``publish`` would do, asking the Hub only to read; without a network, the local half."""
    api = hub.guarded(api)
    local = local_files(build_dir)
    counts = rowcounts.of_build(build_dir, local)
    tag = versions.release(version).tag
    try:
        tags = _tags(api, repo_id)
        check_version(tags, version)
        rows = rowcounts.check_release(api, repo_id, tags, build_dir, counts, allow_fewer_rows)
        return dataclasses.replace(_plan(api, repo_id, local, tag), rows=rows)
    except Exception as exc:  # only the Hub's and the network's errors become "unknown"
        if (isinstance(exc, EcoError) and not _unreadable(exc)) or not is_known(exc):
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
    allow_fewer_rows: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> Published:
    """Create the dataset repository if missing, make one create_commit (the files added or changed; deletions
    of those an earlier release wrote that this build lacks) on the current head, retried on a 412 (someone pushed
    meanwhile), then tag that commit; when the head already holds exactly the build (an earlier publish
    whose tag failed), tag the head."""
    api = hub.guarded(api)
    local = local_files(build_dir)
    counts = rowcounts.of_build(build_dir, local)
    tag = versions.release(version).tag
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    tags = _tags(api, repo_id, created=True)
    check_version(tags, version)
    rowcounts.check_release(api, repo_id, tags, build_dir, counts, allow_fewer_rows)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        plan = _plan(api, repo_id, local, tag, created=True)
        if plan.current and plan.parent is not None:
            return _tag(api, repo_id, tag, plan.parent, committed=False)
        # the files the Hub holds byte for byte stay out of the commit: its tree keeps them as they are
        changed = plan.added + plan.replaced
        operations: list[Any] = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(local[p])) for p in changed]
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
    return _tag(api, repo_id, tag, info.oid, committed=True)


def _tag(api: Any, repo_id: str, tag: str, commit: str, *, committed: bool) -> Published:
    """Tag ``commit``; on a failure, say what is on the Hub now and the command that tags it."""
    try:
        api.create_tag(repo_id, tag=tag, revision=commit, repo_type="dataset", tag_message=f"Release {tag}")
    except Exception as exc:  # whatever failed, the user must learn which commit is left untagged
        # the command is create_tag itself: the hub's CLI has changed names across the versions we accept
        state = (
            f"the release commit {commit} landed on {repo_id}'s main"
            if committed
            else f"{commit}, the head of {repo_id}'s main, holds exactly this build"
        )
        if isinstance(exc, HfHubHTTPError) and _status(exc) == 409:  # tagging it as told would fail the same way
            raise PublishError(
                f"{state} but is not tagged {tag}: the Hub holds a tag {tag} already ({describe(exc)}), made since "
                "this publish read the tags (by another publish?); releases are immutable: publish again with a new "
                "--version (main's head, while it holds exactly this build, is tagged without a new commit)"
            ) from exc
        raise PublishError(
            f"{state} but is not tagged {tag} ({describe(exc)}); tag it with "
            f"""`python -c "from huggingface_hub import HfApi; HfApi().create_tag('{repo_id}', tag='{tag}', """
            f"""revision='{commit}', repo_type='dataset', tag_message='Release {tag}')"` """
            "(or re-run this publish: it tags main's head without a new commit while the head holds this build)"
        ) from exc
    return Published(commit, tag, committed)
