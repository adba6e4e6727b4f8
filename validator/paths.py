"""Where a file lies in the repository: the repository root, the path policy of submissions/ and the
rule that a submission sits in its contributor's folder under its own id.

The policy is judged on the path relative to the repository root, wherever the command is started
(``cd submissions && eco-validate alice/x.json`` is policed like ``eco-validate submissions/alice/x.json``).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from ecocompute.cli import printable
from ecocompute.domain import Submission

from .findings import Finding, make

SUBMISSIONS = "submissions"
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)


def absolute(path: Path) -> Path:
    """Absolute and normalised (``..`` resolved), without following a final symlink."""
    return Path(os.path.normpath(os.path.abspath(path)))


@functools.lru_cache(maxsize=1024)
def _root_of(folder: str) -> str | None:
    here = Path(folder)
    for candidate in (here, *here.parents):
        if os.path.lexists(candidate / ".git"):  # False, not PermissionError, where a folder is not searchable
            return str(candidate)
    return None


def root_of_folder(folder: Path) -> Path:
    """The work tree holding ``folder`` itself, else ``folder``."""
    found = _root_of(str(absolute(folder)))
    return Path(found) if found is not None else absolute(folder)


def repository_root(path: Path) -> Path:
    """The work tree holding ``path`` (nearest ancestor with a .git entry), else the working directory."""
    found = _root_of(str(absolute(path).parent))
    return Path(found) if found is not None else absolute(Path.cwd())


def repo_relative(path: Path, root: Path | None = None) -> str | None:
    """``path`` relative to the repository root, POSIX style; None when it lies outside it."""
    full = os.path.normpath(os.path.abspath(path))
    if root is not None:
        base = os.path.normpath(os.path.abspath(root))
    else:  # repository_root's, in strings
        found = _root_of(os.path.dirname(full))
        base = found if found is not None else os.path.normpath(os.path.abspath(os.getcwd()))
    # The same answer as Path.relative_to on strings: a build asks twice a file (eco-validate's policy
    # and the dataset's path), where the Path objects cost 3 % of the worker. Only where strings compare
    # as pathlib does: POSIX separators, neither path under the implementation-defined root '//'.
    if os.sep == "/" and not full.startswith("//") and not base.startswith("//"):
        if full == base:
            return "."
        prefix = base if base.endswith("/") else base + "/"
        return full[len(prefix) :] if full.startswith(prefix) else None
    try:
        return Path(full).relative_to(base).as_posix()
    except ValueError:
        return None


def policy_findings(repo_path: str | None, shown: str) -> list[Finding]:
    """Naming policy for files in the repository's submissions/ folder (other paths are not policed)."""
    if repo_path is None:
        return []
    parts = repo_path.split("/")
    if parts[0] != SUBMISSIONS:
        return []
    rel = parts[1:]
    bad = [p for p in rel if p in ("..", ".") or not _SEGMENT.fullmatch(p)]
    problems = []
    if bad:
        problems.append(f"segment(s) {', '.join(repr(b) for b in bad)} not allowed")
    if not repo_path.endswith(".json"):
        problems.append("submissions must end in .json")
    if len(rel) != 2:
        problems.append("expected submissions/<handle>/<file>.json")
    if not problems:
        return []
    return [make("file.path_policy", shown, "", f"path {repo_path!r}: " + "; ".join(problems))]


def _encoding_findings(path: str, shown: str) -> list[Finding]:
    """A path read from the file system holds a byte that is not UTF-8 as a lone surrogate
    (surrogateescape): it cannot be written into the dataset's source_file column."""
    for name in path.split("/"):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            shown_name = printable(name, limit=200)
            message = f"the name {shown_name} holds bytes that are not UTF-8 (shown as \\udcXX): the dataset cannot record its path"
            return [make("file.name_encoding", shown, "", message)]
    return []


def name_findings(sub: Submission, repo_path: str | None, shown: str) -> list[Finding]:
    """A file under submissions/ is submissions/<handle>/<submission_id>.json (file.path_policy polices
    its characters); any other path is at least text, as the dataset's rows name it (``buildable``)."""
    if repo_path is None or repo_path.split("/")[0] != SUBMISSIONS:
        return _encoding_findings(repo_path or shown, shown)
    parts = repo_path.split("/")
    if len(parts) != 3:
        return []
    findings = []
    stem = parts[2].removesuffix(".json")
    if stem != sub.submission_id:
        findings.append(
            make(
                "file.name_mismatch",
                shown,
                "/submission_id",
                f"file {parts[2]} holds submission_id {sub.submission_id!r}",
            )
        )
    if parts[1] != sub.handle:
        findings.append(
            make(
                "file.handle_mismatch",
                shown,
                "/contributor/handle",
                f"the file lies in submissions/{parts[1]}/ but its contributor handle is {sub.handle!r}",
            )
        )
    return findings
