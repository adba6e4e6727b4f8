"""Files checked together are judged against each other as against the accepted files (attack v24): two
new files of one pull request, or two files of one dataset build, holding one token ids hash for two
token counts passed, since the hash was compared with accepted files only. A first holder's rule names
the later file in sorted path order, whatever order the files were named in or cut into chunks."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import synthetic
from conftest import ROOT, with_token_checks

from dataset_card.build import BuildError, validated_tables
from ecocompute import parallel
from validator import check
from validator.findings import MAX_SHOWN_PER_CODE, make
from validator.reporters import render_text
from validator.run import cross_file_findings, validate

BOT = ROOT / "submissions" / "ecocompute-bot"
REAL = BOT / "ecocompute-bot-h100-80gb-hbm3-20261123-084704.json"
# two sessions with token checks and no token ids hash in common
FIRST = "ecocompute-bot-h100-80gb-hbm3-20261123-172605.json"  # row 3: 1024 tokens
SECOND = "ecocompute-bot-h100-80gb-hbm3-20261123-213234.json"  # row 0: 4096 tokens


def test_two_candidates_with_one_hash_of_two_token_counts_are_refused_on_the_later() -> None:
    real = check.check_file(REAL)
    ids = "ab" * 32
    earlier = with_token_checks(real, "subs/a/one.json", ((0, "0" * 64, 64), (1, ids, 128)))
    later = with_token_checks(real, "subs/a/two.json", ((2, ids, 1024),))
    for given in ([earlier, later], [later, earlier]):
        [finding] = cross_file_findings(given, [])
        assert (finding.code, finding.file, finding.pointer) == (
            "protocol.token_check",
            "subs/a/two.json",
            "/measurements/2/engine/token_check/ids_sha256",
        )
        assert finding.message == (
            "the hash of 1024 token ids is that of subs/a/one.json's /measurements/1 of 128: one hash is of one "
            "list of ids (a check copied between two files checked together)"
        )
    same = with_token_checks(real, "subs/a/three.json", ((0, ids, 128),))
    assert cross_file_findings([earlier, same], []) == []  # the same ids again: no contradiction
    # an accepted holder comes first: each candidate of another count is named against it
    accepted = with_token_checks(real, "subs/z/kept.json", ((5, ids, 4096),))
    named = cross_file_findings([later, earlier], [accepted])
    assert sorted((f.file, f.message.split(": ")[0]) for f in named) == [
        ("subs/a/one.json", "the hash of 128 token ids is that of subs/z/kept.json's /measurements/5 of 4096"),
        ("subs/a/two.json", "the hash of 1024 token ids is that of subs/z/kept.json's /measurements/5 of 4096"),
    ]


def test_a_first_holders_rule_lands_on_the_later_file_in_path_order_whatever_the_order_given() -> None:
    first = synthetic.submission(seed=1, n_measurements=2, n_trials=7)
    second = synthetic.submission(seed=2, n_measurements=2, n_trials=7)
    second["measurements"][0] = copy.deepcopy(first["measurements"][0])  # near: trials repeated
    a, b = check.check_data(first, "subs/x/a.json"), check.check_data(second, "subs/x/b.json")
    assert a.accepted and b.accepted
    for given in ([a, b], [b, a]):
        assert [(f.code, f.file) for f in cross_file_findings(given, [])] == [("duplicate.near", "subs/x/b.json")]
    real = check.check_file(REAL)
    h100 = dataclasses.replace(with_token_checks(real, "subs/y/h100.json", ()), gpu=("9" * 64, "H100"))
    h200 = dataclasses.replace(with_token_checks(real, "subs/y/h200.json", ()), gpu=("9" * 64, "H200"))
    for given in ([h100, h200], [h200, h100]):
        [finding] = cross_file_findings(given, [])
        assert (finding.code, finding.file) == ("duplicate.gpu_identity", "subs/y/h200.json")
        assert finding.message == "this uuid hash is a 'H200' here but a 'H100' in subs/y/h100.json"


def test_the_file_named_is_the_same_from_any_working_directory_and_through_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path is shown relative to the working directory only below it, else from '/': sorted as shown, the file
    outside sorted first, so from x/a the other file was named than from x/ or x/b (review34 F1); and a file
    reached through a link to its folder sorted by the link's name."""
    real = check.check_file(REAL)
    ids = "cd" * 32
    top = tmp_path / "x"
    (top / "a").mkdir(parents=True)
    (top / "b").mkdir()
    (tmp_path / "link").symlink_to(top / "b", target_is_directory=True)
    earlier, later = top / "a" / "one.json", top / "b" / "two.json"
    for cwd, named in (
        (top, later),
        (top / "a", later),
        (top / "b", later),
        (tmp_path, tmp_path / "link" / later.name),
    ):
        monkeypatch.chdir(cwd)
        files = [
            with_token_checks(real, check.display_path(p), ((0, ids, n),)) for p, n in ((earlier, 128), (named, 1024))
        ]
        for given in (files, files[::-1]):
            [finding] = cross_file_findings(given, [])
            assert finding.file == check.display_path(named), cwd


def test_the_findings_over_files_are_capped_per_code_as_a_file_s_own_are() -> None:
    """A candidate of a thousand rows each holding an accepted file's hash for another count, or each a copy of an
    accepted file's row, was named once per row: a file's own checks show MAX_SHOWN_PER_CODE of a code (review34)."""
    real = check.check_file(REAL)
    n = MAX_SHOWN_PER_CODE + 30
    hashes = [f"{i:064x}" for i in range(n)]
    accepted = dataclasses.replace(
        with_token_checks(real, "subs/z/kept.json", tuple((i, h, 128) for i, h in enumerate(hashes))), hashes=hashes
    )
    copied = dataclasses.replace(
        with_token_checks(real, "subs/a/new.json", tuple((i, h, 1024) for i, h in enumerate(hashes))), hashes=hashes
    )
    found = cross_file_findings([copied], [accepted])
    for code in ("protocol.token_check", "duplicate.measurement"):
        mine = [f for f in found if f.code == code]
        assert len(mine) == MAX_SHOWN_PER_CODE + 1, code
        assert mine[-1].message == "30 more finding(s) of this code in this file not shown"


def _two_runs(folder: Path) -> Path:
    """Two real sessions under ``folder``/ecocompute-bot, the first's row 3 carrying the second's row 0's hash."""
    bot = folder / "ecocompute-bot"
    bot.mkdir(parents=True)
    shutil.copy(BOT / SECOND, bot / SECOND)
    doc: dict[str, Any] = json.loads((BOT / FIRST).read_text(encoding="utf-8"))
    copied = json.loads((BOT / SECOND).read_text(encoding="utf-8"))["measurements"][0]["engine"]["token_check"]
    doc["measurements"][3]["engine"]["token_check"]["ids_sha256"] = copied["ids_sha256"]
    (bot / FIRST).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return folder


def test_two_new_files_of_one_run_are_held_to_each_other(tmp_path: Path) -> None:
    subs = _two_runs(tmp_path / "new\nrun\u202e")  # the other file's name is escaped where the message is shown
    (tmp_path / "empty").mkdir()
    for named in ([subs], [subs / "ecocompute-bot" / SECOND, subs / "ecocompute-bot" / FIRST]):
        report = validate(named, accepted_root=tmp_path / "empty")
        [finding] = report.errors
        assert (finding.code, Path(finding.file).name, finding.pointer) == (
            "protocol.token_check",
            SECOND,  # "...-213234" sorts after "...-172605"
            "/measurements/0/engine/token_check/ids_sha256",
        )
        assert f"{FIRST}'s /measurements/3 of 1024" in finding.message
        [line] = [line for line in render_text(report).splitlines() if "error protocol.token_check" in line]
        assert f"new\\nrun\\u202e/ecocompute-bot/{FIRST}'s /measurements/3 of 1024" in line


@pytest.mark.parametrize("chunk", [1, 64])
def test_a_build_fails_on_two_files_that_contradict_each_other_however_chunked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    subs = _two_runs(tmp_path / "submissions")
    monkeypatch.setattr(parallel, "CHUNK", chunk)  # 1: the two files in chunks of their own
    with pytest.raises(
        BuildError, match=rf"1 validation error\(s\), nothing built:\n  \S*{SECOND}: protocol\.token_check"
    ):
        validated_tables(subs)


def test_between_an_honest_file_and_one_refused_anyway_the_refused_one_is_named() -> None:
    """Which of two copies came first cannot be known; naming the file that passes its own checks sent an
    honest contributor after another file's fault (review34 F4). The run fails either way."""
    real = check.check_file(REAL)
    ids = "cd" * 32
    refused = with_token_checks(real, "subs/a/one.json", ((1, ids, 128),))  # sorts first by path
    refused.findings = [make("schema.violation", refused.path, "/session", "broken on its own")]
    honest = with_token_checks(real, "subs/a/two.json", ((2, ids, 1024),))
    for given in ([refused, honest], [honest, refused]):
        [finding] = cross_file_findings(given, [])
        assert (finding.code, finding.file) == ("protocol.token_check", "subs/a/one.json")
        assert "that of subs/a/two.json's /measurements/2 of 1024" in finding.message
    # both pass their own checks: the later in path order, as before
    [finding] = cross_file_findings([honest, with_token_checks(real, "subs/a/one.json", ((1, ids, 128),))], [])
    assert finding.file == "subs/a/two.json"
