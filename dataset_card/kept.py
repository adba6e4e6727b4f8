"""What a release keeps of the one before it: every submission the latest release published, with the
same file. submissions/ is append-only, so a build that drops a submission, or holds another file
under its id, comes from the wrong --submissions folder or an edited history; comparing row counts
alone let a build drop some submissions and add as many others.

Both sides are read from the submissions config (submission_id, file_sha256): the build's from its
folder, the release's downloaded at its tag into a temporary folder, each within the bounds eco-advise
reads any dataset with (advisor.reading), since a Hub repository may hold anything.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from advisor import hub, reading
from ecocompute.cli import EcoError, first_few, printable
from ecocompute.names import S

CONFIG = "submissions"
_COLUMNS = (S.submission_id, S.file_sha256)
# The release's submissions config downloaded to compare (a million submissions take about 100 MB).
MAX_DOWNLOAD_BYTES = 512 << 20
_NOT_COMPARED = (
    "its submissions cannot be compared with the build's: nothing published (--allow-fewer-rows publishes "
    "without the comparison)"
)
_SHOWN = 5  # ids named in a refusal; the count says how many there are


class KeptError(EcoError):
    """The latest release's submissions are not all in the build, or cannot be read to tell."""


def submissions(folder: Path) -> dict[str, str]:
    """submission_id -> file_sha256 of a built dataset folder (DatasetError when it holds none)."""
    table = reading.local_table(folder, CONFIG, _COLUMNS, reading.Budget(), as_rows=True)
    ids, hashes = (table.column(c).to_pylist() for c in _COLUMNS)
    return dict(zip(ids, hashes, strict=True))


def released(api: Any, repo_id: str, tag: str) -> dict[str, str] | None:
    """The submissions the release ``tag`` published, or None when it has no submissions config (a
    release from before the config existed: nothing to compare)."""
    try:  # what the comparison reads (reading.local_table: the config's own *.parquet), listed within bounds
        files = hub.config_files(api, printable(f"{repo_id}@{tag}"), repo_id, tag, CONFIG)
    except reading.DatasetError as exc:
        raise KeptError(f"{exc}; {_NOT_COMPARED}") from None
    if not files:
        return None
    size = sum(e.size for e in files)
    if len(files) > reading.MAX_FILES or size > MAX_DOWNLOAD_BYTES:
        raise KeptError(
            f"{tag}'s {CONFIG} config holds {len(files)} file(s) of {size} bytes, more than a release's "
            f"({reading.MAX_FILES} files, {MAX_DOWNLOAD_BYTES >> 20} MiB): {_NOT_COMPARED}"
        )
    with tempfile.TemporaryDirectory(prefix="eco-release-") as tmp:
        for entry in files:
            api.hf_hub_download(repo_id, entry.path, repo_type="dataset", revision=tag, local_dir=tmp)
        try:
            return submissions(Path(tmp))
        except reading.DatasetError as exc:
            why = str(exc).replace(printable(tmp) + "/", "")  # the Hub's path, not the folder just removed
            raise KeptError(f"{tag}'s {CONFIG} config cannot be read ({why}): {_NOT_COMPARED}") from None


def check(build: dict[str, str], before: dict[str, str] | None, tag: str) -> str:
    """Refuse a build that drops a submission of ``tag`` or holds another file under its id; the
    comparison in words (``before`` None: ``tag`` has no submissions config, said so)."""
    if before is None:
        return f"; {tag} has no {CONFIG} config: its submissions are not compared"
    dropped = sorted(before.keys() - build.keys())
    changed = sorted(k for k in before.keys() & build.keys() if before[k] != build[k])
    problems = [
        f"{what} {len(ids)} submission(s) of {tag} ({_ids(ids)})"
        for what, ids in (("drops", dropped), ("holds another file for", changed))
        if ids
    ]
    if problems:
        raise KeptError(
            f"the build {' and '.join(problems)}; submissions/ is append-only, so --submissions is probably the "
            "wrong folder: nothing published (--allow-fewer-rows publishes it anyway)"
        )
    return f"; all {len(before)} submission(s) of {tag} kept, each with its file"


def _ids(ids: list[str]) -> str:
    return first_few(ids, _SHOWN, lambda i: printable(i, limit=80))
