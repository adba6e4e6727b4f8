"""The collector's file writes where the OS lacks POSIX open() flags and flock (native Windows):
``os.O_NOFOLLOW``, ``os.O_NONBLOCK`` and ``os.O_CLOEXEC`` are then missing attributes (AttributeError,
not OSError), and ``import fcntl`` fails. Simulated on POSIX by removing them."""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path

import pytest

from collector import randomweights, submission

LONG_AGO = time.time() - 2 * submission.STALE_AFTER_S


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC"):
        monkeypatch.delattr(os, name, raising=False)
    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl: ImportError


@pytest.mark.usefixtures("windows")
def test_a_random_checkpoint_save_without_flock_or_o_nofollow_is_a_save_without_a_lock(tmp_path: Path) -> None:
    with randomweights._lock(tmp_path / "model-seed0") as held:  # eco-collect 0.6.0 (locks.py): AttributeError
        assert held is False


@pytest.mark.usefixtures("windows")
def test_a_stale_temporary_file_without_flock_is_reported_not_removed(tmp_path: Path) -> None:
    left = tmp_path / ".tester-gpu-20261123-000000.json.ab_c12z9.partial"
    left.write_text("{half")
    os.utime(left, (LONG_AGO, LONG_AGO))
    assert submission.sweep_partials(tmp_path, "tester") == ([], [left.name])
    assert left.exists()


@pytest.mark.usefixtures("windows")
def test_a_file_system_without_hard_links_still_gets_the_file_without_o_cloexec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(_src: object, _dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")  # FAT/exFAT, SMB

    monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "tester-gpu-20261123-000000.json"
    submission._create(target, "{}\n")
    assert target.read_text() == "{}\n"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
