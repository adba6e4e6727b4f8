"""benchmarks/build_floor_probe.py: each unavoidable step of a build timed against the floor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import script_module


def test_probe_prints_every_step_and_their_sum_against_the_floor(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = script_module("benchmarks/build_floor_probe.py")
    monkeypatch.setattr("sys.argv", ["build_floor_probe.py", "--files", "4", "--repeat", "1"])
    probe.main()
    out = capsys.readouterr().out
    assert out.startswith("4 files, ")
    floor_table, worker_table = out.split("\n\n")
    steps = re.findall(r"^(.+?)\s+([0-9.]+) ms/file  ([0-9.]+) x the floor$", floor_table, re.M)
    names = [name for name, _, _ in steps]
    assert names[-1] == "sum (a lower bound for a single-pass build)" and len(names) == 6
    parts = [float(ms) for _, ms, _ in steps[:-1]]
    assert float(steps[-1][1]) == pytest.approx(sum(parts), abs=0.01)  # rounded to 0.001 each
    # the worker's steps, each its own time, add up to the worker (the files were accepted: every step ran)
    total = re.search(r"each step's own time: ([0-9.]+) ms/file", worker_table)
    own = re.findall(r"^  (.+?)\s+([0-9.]+) ms/file  [0-9.]+ x the floor$", worker_table, re.M)
    assert total is not None and [name for name, _ in own][-1] == "the worker's own loop" and len(own) == 14
    assert all(float(ms) > 0 for _, ms in own)
    assert sum(float(ms) for _, ms in own) == pytest.approx(float(total.group(1)), abs=0.02)


def test_probe_refuses_a_folder_without_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = script_module("benchmarks/build_floor_probe.py")
    (tmp_path / "synthetic-bot").mkdir()
    monkeypatch.setattr("sys.argv", ["build_floor_probe.py", "--submissions", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"no \*\.json under"):
        probe.main()
