"""The host's load average where the OS has none (review 22)."""

from __future__ import annotations

import os

import pytest

from collector import hostinfo


def test_a_host_without_getloadavg_records_no_load_instead_of_failing_the_trial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows has no os.getloadavg: an AttributeError ended the run at its first trial."""
    monkeypatch.delattr(os, "getloadavg", raising=False)
    assert hostinfo.host_signals(None, None) == {"cpu_load_1m": None, "cpu_steal_pct": None}
