"""The sweep replay benchmark: an estimate from a submission file alone (tested on the committed H100 file)."""

from __future__ import annotations

from types import ModuleType

from conftest import ROOT, script_module

H100 = ROOT / "submissions" / "ecocompute-bot" / "ecocompute-bot-h100-80gb-hbm3-20261123-161639.json"


def _module() -> ModuleType:
    return script_module("benchmarks/sweep_replay.py")


def test_replay_under_the_files_own_protocol_is_its_own_error() -> None:
    lines = _module().replay(H100, 5.0, 3)
    assert lines[0].startswith(f"{H100.name}: wall 974 s")
    assert len(lines) == 1 + 10 + 2  # one line per configuration
    saved = lines[-2].split("trials save ")[1].split(" s")[0]
    assert f"saves {saved} s where it should save none; less that error: estimated wall 974 s" in lines[-1]


def test_shorter_trials_and_fewer_warm_ups_save_time() -> None:
    lines = _module().replay(H100, 4.0, 2)
    assert "int8 generate bs=1           trials  8 ->  7, requests per trial 1 -> 1" in "\n".join(lines)
    assert lines[-1].endswith("estimated wall 850 s")
