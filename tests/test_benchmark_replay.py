"""The sweep replay benchmark: an estimate from a submission file alone (tested on the committed H100 file)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from conftest import ROOT, script_module

H100 = ROOT / "submissions" / "ecocompute-bot" / "ecocompute-bot-h100-80gb-hbm3-20261123-161639.json"


def _module() -> ModuleType:
    return script_module("benchmarks/sweep_replay.py")


def test_replaying_the_files_own_protocol_gives_back_its_trial_time() -> None:
    # The sizing walk is eco-collect's: under the file's own protocol (5-s trials, 3 warm-ups at most;
    # fp16 on generate resized at its second warm-up) every configuration comes back as it ran.
    lines = _module().replay(H100, 5.0, 3)
    assert lines[0].endswith(f"{H100.name}: wall 974 s; replayed with 5-s trials, 3 warm-ups at most")
    assert len(lines) == 1 + 10 + 2  # one line per configuration
    assert lines[-2] == "trials save 0 s: estimated wall 974 s"
    assert lines[-1].endswith("differs from the file by 0.0 s")
    assert "fp16 generate bs=1           warm-ups 3 -> 3, requests per trial 2 -> 2" in "\n".join(lines)


def test_shorter_trials_and_fewer_warm_ups_save_time() -> None:
    lines = "\n".join(_module().replay(H100, 4.0, 2))
    assert "fp16 generate bs=1           warm-ups 3 -> 2, requests per trial 2 -> 1" in lines
    assert "fp16 cuda-graph bs=8         warm-ups 2 -> 2, requests per trial 4 -> 4:   33.2 s ->   33.2 s" in lines
    assert "trials save 175 s: estimated wall 799 s" in lines


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(SystemExit, match="at least 1"):
        _module().replay(H100, 4.0, 0)


def test_a_file_eco_validate_refuses_is_not_replayed() -> None:
    invalid = (
        ROOT / "tests" / "fixtures" / "submissions" / "invalid" / "duplicate.configuration__fp16_batch_1_twice.json"
    )
    with pytest.raises(SystemExit, match=r"eco-validate refuses it \(duplicate\.configuration: "):
        _module().replay(invalid, 4.0, 2)


def test_a_hostile_file_name_is_shown_escaped(tmp_path: Path) -> None:
    hostile = tmp_path / "x\x1b[2Jy.json"
    hostile.write_text("{", encoding="utf-8")
    with pytest.raises(SystemExit) as refused:
        _module().replay(hostile, 4.0, 2)
    assert "\x1b" not in str(refused.value) and "eco-validate refuses it" in str(refused.value)
