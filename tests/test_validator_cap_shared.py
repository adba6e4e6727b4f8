"""A file's own findings and those over files share one cap per code (review35 L3): each was capped apart, so
one code (protocol.token_check, duplicate.measurement, duplicate.near: found both within a file and across
files) showed up to twice MAX_SHOWN_PER_CODE findings and two notes, each counting only its half. The one cap is
dealt fairly between the two: a file's own findings no longer hide those over files (review37)."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import ROOT, with_token_checks

from validator import check
from validator import findings as findings_module
from validator.findings import MAX_SHOWN_PER_CODE, Finding, capped, make
from validator.run import report_for

REAL = ROOT / "submissions" / "ecocompute-bot" / "ecocompute-bot-h100-80gb-hbm3-20261123-084704.json"
CODE = "protocol.token_check"
PATH = "subs/a/new.json"
ACROSS = 50  # rows holding an accepted file's ids hash for another token count: a finding over files each


def _own(n: int, path: str = PATH) -> list[Finding]:
    """A file's own findings of CODE, capped where they were found (check.check_data)."""
    return capped([make(CODE, path, f"/measurements/{i}/engine/token_check", "its own") for i in range(n)])


def _report(own: int) -> list[Finding]:
    real = check.check_file(REAL)
    hashes = [f"{i:064x}" for i in range(ACROSS)]
    accepted = with_token_checks(real, "subs/z/kept.json", tuple((i, h, 128) for i, h in enumerate(hashes)))
    candidate = with_token_checks(real, PATH, tuple((i, h, 1024) for i, h in enumerate(hashes)))
    report = report_for([dataclasses.replace(candidate, findings=_own(own))], [accepted])
    return [f for f in report.findings if f.code == CODE]


def _note(more: int) -> str:
    return f"{more} more finding(s) of this code in this file not shown"


def test_a_file_capped_on_its_own_still_shows_findings_over_files_of_that_code() -> None:
    """The cap is shared fairly: a file with MAX_SHOWN_PER_CODE findings of its own of a code showed none of that
    code found against other files, only counted them in the note (review37)."""
    found = _report(own=MAX_SHOWN_PER_CODE + 5)
    half = MAX_SHOWN_PER_CODE // 2
    assert [f.message for f in found if f.message == "its own"] == ["its own"] * half
    across = [f for f in found if f.message != "its own" and f.pointer]
    assert len(across) == half and all("/engine/token_check" in f.pointer for f in across)
    notes = [f for f in found if not f.pointer]
    assert [f.message for f in notes] == [_note(MAX_SHOWN_PER_CODE + 5 + ACROSS - MAX_SHOWN_PER_CODE)]
    assert len(found) == MAX_SHOWN_PER_CODE + 1


@pytest.mark.parametrize(
    ("counts", "shares"),
    [
        ([5, 50], [5, 15]),
        ([30, 50], [10, 10]),
        ([30, 0], [20, 0]),
        ([0, 30], [0, 20]),
        ([3, 4], [3, 4]),
        ([30, 30, 30], [7, 7, 6]),
        ([1, 30, 2], [1, 17, 2]),
    ],
)
def test_one_cap_is_dealt_in_turn_to_each_source_that_has_more(counts: list[int], shares: list[int]) -> None:
    assert findings_module._shares(counts) == shares
    assert sum(shares) == min(MAX_SHOWN_PER_CODE, sum(counts))


def test_sources_share_the_cap_and_one_note_counts_what_each_hid() -> None:
    own = _own(MAX_SHOWN_PER_CODE + 30)  # capped where found: 20 and a note of 30
    across = capped([make(CODE, PATH, f"/x/{i}", "over files") for i in range(MAX_SHOWN_PER_CODE + 2)])
    kept = capped(own, across)
    assert sum(f.message == "its own" for f in kept) == sum(f.message == "over files" for f in kept) == 10
    assert [f.message for f in kept if not f.pointer] == [_note(30 + 10 + 2 + 10)]
    assert capped(own, []) == own  # one source: as before


def test_a_few_of_its_own_then_findings_over_files_up_to_the_one_cap() -> None:
    found = _report(own=5)
    assert len(found) == MAX_SHOWN_PER_CODE + 1
    assert [f.message for f in found[:5]] == ["its own"] * 5
    assert all(f.message != "its own" for f in found[5:MAX_SHOWN_PER_CODE])  # the first over files, in order
    assert found[-1].message == _note(5 + ACROSS - MAX_SHOWN_PER_CODE) and found[-1].pointer == ""


def test_below_the_cap_together_every_finding_is_shown() -> None:
    own = _own(3)
    across = [make(CODE, PATH, f"/measurements/{i}", "over files") for i in range(MAX_SHOWN_PER_CODE - 3)]
    assert capped(own + across) == own + across


def test_each_file_and_code_has_a_cap_of_its_own() -> None:
    other = "subs/b/other.json"
    findings = _own(MAX_SHOWN_PER_CODE + 1) + _own(MAX_SHOWN_PER_CODE, other)
    findings += [make("duplicate.measurement", PATH, f"/measurements/{i}", "copy") for i in range(3)]
    kept = capped(findings)
    assert [f.message for f in kept if f.file == PATH and f.code == CODE][-1] == _note(1)
    assert len([f for f in kept if f.file == other]) == MAX_SHOWN_PER_CODE  # no note: none left out
    assert len([f for f in kept if f.code == "duplicate.measurement"]) == 3
