"""A token check's ids hash that an accepted file holds for another token count: one hash is of one list
of ids, so the check was copied from that file. Caught inside one file only (tokenhashes.within_file);
across files it passed (attack v23 U1, leftovers33)."""

from __future__ import annotations

from conftest import ROOT, with_token_checks

from validator import check
from validator.run import cross_file_findings

REAL = ROOT / "submissions" / "ecocompute-bot" / "ecocompute-bot-h100-80gb-hbm3-20261123-084704.json"


def _candidate(accepted: check.Checked, token_checks: tuple[tuple[int, str, int], ...]) -> check.Checked:
    """A file of its own (no id, row, board or trial shared with the accepted one) but for its checks."""
    return with_token_checks(accepted, "new.json", token_checks)


def test_an_accepted_files_hash_with_another_token_count_is_refused() -> None:
    accepted = check.check_file(REAL)
    assert accepted.accepted and len(accepted.token_checks) == 3
    row, ids, tokens = accepted.token_checks[0]
    copied = _candidate(accepted, ((0, "0" * 64, 64), (2, ids, tokens * 2)))
    [finding] = cross_file_findings([copied], [accepted])
    assert (finding.code, finding.file, finding.pointer) == (
        "protocol.token_check",
        "new.json",
        "/measurements/2/engine/token_check/ids_sha256",
    )
    assert finding.message == (
        f"the hash of {tokens * 2} token ids is that of {accepted.path}'s /measurements/{row} of {tokens}: one hash "
        "is of one list of ids (a check copied from an accepted file)"
    )
    assert cross_file_findings([_candidate(accepted, ((1, ids, tokens),))], [accepted]) == []  # the same ids again
