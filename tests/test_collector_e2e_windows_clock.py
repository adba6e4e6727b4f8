"""eco-collect end to end as on Windows with Python 3.12, whose time.monotonic is GetTickCount64: whole milliseconds
in 15.625-ms ticks. Every duration and start it writes, across a --resume too, is on the grid eco-validate holds
such a host to (protocol.session_time, attack v30 W1; checked by review42)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import test_collector_e2e as e2e
from fakes import Board, FakeTime, timed
from test_collector_e2e import _hooks, _request

from collector import hostinfo
from collector.collect import collect
from collector.runner import Clock
from validator.run import exit_code, validate

# test_collector_e2e's fixtures, bound by assignment (see test_collector_e2e_resume.py)
tiny_config, _cuda_build = e2e.tiny_config, e2e._cuda_build


def _ticks(board: Board) -> Clock:
    """time.monotonic on Windows before Python 3.13: GetTickCount64() / 1000, the count moving in 15.625-ms ticks."""

    def now() -> float:
        return math.floor(math.floor(board.time.now() * 1e3 / 15.625) * 15.625) / 1e3

    return Clock(now, board.time.sleep)


def test_a_resumed_interleaved_run_on_a_millisecond_clock_writes_timings_on_its_grid(
    tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, versions = hostinfo.host, hostinfo.package_versions
    monkeypatch.setattr(hostinfo, "host", lambda: host() | {"os": "Windows 11", "kernel": "10"})  # platform's words
    monkeypatch.setattr(hostinfo, "package_versions", lambda: versions() | {"python": "3.12.7"})
    monkeypatch.setattr(hostinfo, "cpu_times", lambda: None)  # no /proc/stat
    board = Board(FakeTime(start=86_400.123456789))  # a day's uptime: the clock's values carry float rounding
    requests = itertools.count()

    def interrupting(_engine: Any) -> None:
        if next(requests) == 25:
            raise KeyboardInterrupt

    request = _request(tmp_path, tiny_config, schedule="interleaved")
    with pytest.raises(KeyboardInterrupt):
        collect(request, hooks=_hooks(board, clock=_ticks(board), workload=timed(board, on_request=interrupting)))
    board.time.sleep(123.4567)
    resumed = _request(tmp_path, tiny_config, schedule="interleaved", resume=True)
    path, doc = collect(resumed, hooks=_hooks(board, clock=_ticks(board), workload=timed(board, first_seed=50)))
    assert doc["environment"]["host"]["os"] == "Windows 11"
    assert exit_code(validate([path], accepted_root=None)) == 0
