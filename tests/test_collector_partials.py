"""Temporary files a killed eco-collect left (SIGKILL or a power loss during the final write): a later
run removes those named as eco-collect names them, untouched for a while and locked by no process, in
the folders it writes; it reports what it keeps, and never touches anything else."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from collector import submission
from collector.collect import collect
from collector.request import RunRequest
from collector.session import Events
from ecocompute.hubenv import HubEnvironmentError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock: POSIX file systems")

LONG_AGO = time.time() - 2 * submission.STALE_AFTER_S
LEFT = ".tester-gpu-20261123-000000.json.ab_c12z9.partial"
REJECTED = ".tester-gpu-20261123-000000.rejected.json.ab_c12z9.partial"


def _file(folder: Path, name: str, old: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("{half")
    if old:
        os.utime(path, (LONG_AGO, LONG_AGO))
    return path


def test_a_stale_temporary_file_is_removed_and_nothing_else(tmp_path: Path) -> None:
    left = _file(tmp_path, LEFT)
    rejected = _file(tmp_path, ".tester-gpu-20261123-000000.rejected-2.json.k2j4h5g6.partial")
    others = [
        _file(tmp_path, name)
        for name in (
            ".notes.partial",  # not a name eco-collect makes
            ".Tester-gpu.json.ab_c12z9.partial",  # upper case: no submission id
            ".tester-gpu-20261123-000000.json.ab_c12z9.partial.bak",
            "tester-gpu-20261123-000000.json",  # a submission
        )
    ]
    recent = _file(tmp_path, ".tester-gpu-20261123-000001.json.aaaaaaaa.partial", old=False)
    (tmp_path / ".tester-gpu-20261123-000002.json.bbbbbbbb.partial").mkdir()  # a folder, not our file
    (tmp_path / ".tester-gpu-20261123-000003.json.cccccccc.partial").symlink_to(others[-1])
    assert submission.sweep_partials(tmp_path, "tester") == ([left.name], [])
    assert submission.sweep_partials(tmp_path) == ([rejected.name], [])
    assert not left.exists() and not rejected.exists()
    assert all(p.exists() for p in others) and recent.exists()
    assert (tmp_path / ".tester-gpu-20261123-000003.json.cccccccc.partial").is_symlink()


def test_a_temporary_file_a_live_process_holds_is_kept_and_reported(tmp_path: Path) -> None:
    import fcntl

    left = _file(tmp_path, LEFT)
    fd = os.open(left, os.O_RDONLY)  # another open file description: as another process's lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert submission.sweep_partials(tmp_path, "tester") == ([], [left.name])
    finally:
        os.close(fd)
    assert submission.sweep_partials(tmp_path, "tester") == ([left.name], [])


def test_a_write_holds_its_temporary_file_against_a_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[list[str], list[str]]] = []
    fsync = os.fsync

    def sweep_meanwhile(fd: int) -> None:
        fsync(fd)
        for path in tmp_path.iterdir():
            os.utime(path, (LONG_AGO, LONG_AGO))  # as a write stopped (Ctrl-Z) for a long while
        seen.append(submission.sweep_partials(tmp_path, "x"))

    monkeypatch.setattr(os, "fsync", sweep_meanwhile)
    submission._create(tmp_path / "x-20261123-000000.json", "{}\n")
    (name,) = seen[0][1]
    assert seen == [([], [name])] and (tmp_path / "x-20261123-000000.json").read_text() == "{}\n"


def test_a_run_sweeps_the_folders_it_writes_before_it_measures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, state = tmp_path / "repo" / "submissions", tmp_path / "repo" / ".eco-collect"
    in_out, in_state = _file(out / "tester", LEFT), _file(state, REJECTED)
    elsewhere = _file(out / "someone-else", LEFT)  # another handle's folder: not this run's to touch
    notes: list[str] = []

    class Recorded(Events):
        def note(self, text: str) -> None:
            notes.append(text)

    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "nan")  # the run stops right after the sweep
    request = RunRequest(
        model_id="Qwen/Qwen2.5-3B-Instruct",
        precisions=("fp16",),
        batch_sizes=(1,),
        handle="tester",
        out_dir=out,
        state_dir=state,
    )
    with pytest.raises(HubEnvironmentError, match="HF_HUB_DOWNLOAD_TIMEOUT"):  # the one line, not the library's
        collect(request, Recorded())
    assert not in_out.exists() and not in_state.exists() and elsewhere.exists()
    assert notes == [
        f"removed 1 temporary file(s) a killed run left in {out / 'tester'}",
        f"removed 1 temporary file(s) a killed run left in {state}",
    ]


def test_names_that_almost_match_are_not_swept(tmp_path: Path) -> None:
    """Only the names a run writes in each folder: another handle's submission, a rejected file outside
    the state folder, a stem no submission id has (no time at its end) were removed as stale."""
    almost = [
        _file(tmp_path / "tester", name)
        for name in (
            ".notes.json.backup01.partial",  # no <YYYYMMDD>-<HHMMSS> at its end: no submission id
            ".bob-h100-20260101-000000.json.zzzzzzzz.partial",  # another handle's id
            ".testerx-h100-20260101-000000.json.zzzzzzzz.partial",  # a handle that starts alike
            REJECTED,  # rejected files are kept in the state folder, never here
        )
    ]
    ours = _file(tmp_path / "tester", ".tester-20260101-000000.json.zzzzzzzz.partial")  # an id without a board
    assert submission.sweep_partials(tmp_path / "tester", "tester") == ([ours.name], [])
    assert all(p.exists() for p in almost)
    state = [_file(tmp_path / "state", name) for name in (LEFT, ".notes.json.backup01.partial")]
    assert submission.sweep_partials(tmp_path / "state") == ([], [])
    assert all(p.exists() for p in state)
