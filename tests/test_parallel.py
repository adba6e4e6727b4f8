"""ecocompute.parallel.aside: one call in a forked child beside the caller's work, ended on demand."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ecocompute import parallel

needs_fork = pytest.mark.skipif(not parallel._can_fork(), reason="aside forks only where the platform can")


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)  # forked even on a one-CPU machine


def _pid() -> int:
    return os.getpid()


def _raise() -> None:
    raise ValueError("broke in the child")


def _die() -> None:
    os._exit(7)


def _unpicklable() -> object:
    return lambda: None


def _sleep_then_write(path: Path, seconds: float) -> None:
    time.sleep(seconds)
    path.write_text("late")


@needs_fork
def test_the_call_runs_in_another_process_and_its_value_comes_back(two_cpus: None) -> None:
    assert parallel.aside(_pid).result() != os.getpid()
    assert parallel.aside(sorted, [3, 1, 2]).result() == [1, 2, 3]


@needs_fork
def test_an_error_in_the_child_is_raised_by_result(two_cpus: None) -> None:
    with pytest.raises(ValueError, match="broke in the child"):
        parallel.aside(_raise).result()
    with pytest.raises(RuntimeError, match=r"[Pp]ickl"):
        parallel.aside(_unpicklable).result()


@needs_fork
def test_a_child_that_dies_without_a_word_is_said(two_cpus: None) -> None:
    with pytest.raises(parallel.ChildDied, match="exit code 7"):
        parallel.aside(_die).result()


@needs_fork
def test_stop_ends_a_child_that_would_run_on(two_cpus: None, tmp_path: Path) -> None:
    late = tmp_path / "late.txt"
    pending = parallel.aside(_sleep_then_write, late, 0.5)
    started = time.monotonic()
    pending.stop()
    stopped_after_s = time.monotonic() - started
    time.sleep(0.7)
    assert not late.exists() and stopped_after_s < 0.5  # ended, not waited for
    pending.stop()  # twice is harmless


def test_without_fork_or_a_second_cpu_the_call_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 1)
    assert parallel.aside(_pid).result() == os.getpid()
    failed = parallel.aside(_raise)  # an error waits for result(), as a child's would
    with pytest.raises(ValueError, match="broke in the child"):
        failed.result()
    failed.stop()
