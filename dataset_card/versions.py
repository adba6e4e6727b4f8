"""Dataset versions: semantic versions (semver.org 2.0.0) only.

A release is a core version X.Y.Z, published once as the Hub tag vX.Y.Z. A local build that is not a
release is labelled ``0.0.0-dev+<digest>``: a semver pre-release (below every release) whose build
metadata is the first 12 hex digits of a digest of the submitted files it was built from, so two
builds of the same files carry the same label and the card never claims a release it is not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ecocompute.cli import OptionError

_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"({_NUM})\.({_NUM})\.({_NUM})(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)
MAX_LENGTH = 128
DEV_CORE = "0.0.0"


class VersionError(OptionError):
    """A version that is not a semantic version, or not a release where a release is needed: a --version
    refused on its own account, a usage error (exit 2)."""


@dataclass(frozen=True)
class Version:
    text: str
    core: tuple[int, int, int]
    prerelease: str | None
    build: str | None

    @property
    def is_release(self) -> bool:
        return self.prerelease is None and self.build is None

    @property
    def tag(self) -> str:
        return f"v{self.text}"


def parse(text: str) -> Version:
    """Any semantic version: X.Y.Z, optionally -pre.release and +build.metadata."""
    match = _SEMVER.fullmatch(text) if len(text) <= MAX_LENGTH else None
    if match is None:
        raise VersionError(
            f"version {text[:MAX_LENGTH]!r} is not a semantic version (X.Y.Z, e.g. 1.4.0, or a pre-release such "
            "as 1.4.0-rc.1; see semver.org)"
        )
    major, minor, patch, pre, build = match.groups()
    return Version(text, (int(major), int(minor), int(patch)), pre, build)


def release(text: str) -> Version:
    """A version that may be published: X.Y.Z and nothing else."""
    version = parse(text)
    if not version.is_release:
        raise VersionError(f"version {text!r} is not a release: publish takes X.Y.Z (no pre-release or build part)")
    return version


def dev(file_sha256s: Iterable[str]) -> Version:
    """The label of a local build of these submitted files (their sha256s, any order)."""
    digest = hashlib.sha256("\n".join(sorted(file_sha256s)).encode("ascii")).hexdigest()
    return parse(f"{DEV_CORE}-dev+{digest[:12]}")


def released(tags: Iterable[str]) -> list[tuple[int, int, int]]:
    """Core versions of the release tags vX.Y.Z among ``tags`` (other tags are ignored)."""
    out = []
    for tag in tags:
        if tag.startswith("v"):
            try:
                version = parse(tag[1:])
            except VersionError:
                continue
            if version.is_release:
                out.append(version.core)
    return out
