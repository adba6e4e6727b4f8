"""protocol.token_check across files: a token check's ids hash (sha256 of the batch's new ids,
collector/engines.py ``ids_sha256``) is of one list of ids, so of one token count in every file. Two
different counts give texts with different counts of numbers, so one hash with two counts cannot come
from honest rows: one of the two checks was copied (attack v23 U1). Inside one file it is
``within_file``'s (fabrication runs it with a file's own checks); here a file is held to the accepted files and to the other files
checked with it (attack v24: two new files of one pull request, or two files of one dataset build,
each passed alone against an accepted pool that held neither).

One index over every row, O(rows): the first holder of each hash, accepted files first, then the
candidates in the order given (run.cross_file_findings sorts them by path). A row is named when its
count differs from its hash's first holder in another file, so a contradiction between two candidates
lands on the later one in that order, as duplicate.measurement's does, whatever order they were named
in or however a build cut them into chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from ecocompute.domain import Submission

from .findings import Finding, make

if TYPE_CHECKING:  # check.py runs fabrication, which asks within_file here
    from .check import Checked


class Holder(NamedTuple):
    """The first row seen with a hash."""

    tokens: int
    path: str
    row: int
    accepted: bool  # an accepted file's (else a file checked with this one)


def first_holders(accepted: Sequence[Checked], candidates: Sequence[Checked]) -> dict[str, Holder]:
    """ids_sha256 -> its first holder: accepted files first, then ``candidates`` in their order."""
    holders: dict[str, Holder] = {}
    for is_accepted, files in ((True, accepted), (False, candidates)):
        for c in files:
            for i, ids, tokens in c.token_checks:
                holders.setdefault(ids, Holder(tokens, c.path, i, is_accepted))
    return holders


def findings(c: Checked, holders: dict[str, Holder]) -> list[Finding]:
    """protocol.token_check for each of ``c``'s rows whose hash another file holds first for another count.
    A hash ``c`` holds first is skipped: another count of it inside ``c`` is fabrication's finding."""
    out = []
    for i, ids, tokens in c.token_checks:
        first = holders.get(ids)
        if first is None or first.path == c.path or first.tokens == tokens:
            continue
        source = "from an accepted file" if first.accepted else "between two files checked together"
        out.append(_finding(c.path, i, tokens, f"{first.path}'s /measurements/{first.row} of {first.tokens}", source))
    return out


def within_file(sub: Submission, file: str) -> list[Finding]:
    """protocol.token_check for each row whose hash an earlier row of the same file holds for another count
    (attack v23: a row copied to another batch size kept its hash, and passed)."""
    seen: dict[str, tuple[int, int]] = {}  # hash -> (tokens, first row)
    out = []
    for i, m in enumerate(sub.measurements):
        check = m.engine.token_check
        if check is None:
            continue
        tokens, first = seen.setdefault(check.ids_sha256, (check.new_tokens, i))
        if tokens != check.new_tokens:
            out.append(_finding(file, i, check.new_tokens, f"/measurements/{first}'s {tokens}", "from another row"))
    return out


def _finding(file: str, row: int, tokens: int, held: str, source: str) -> Finding:
    return make(
        "protocol.token_check",
        file,
        f"/measurements/{row}/engine/token_check/ids_sha256",
        f"the hash of {tokens} token ids is that of {held}: one hash is of one list of ids (a check copied {source})",
    )
