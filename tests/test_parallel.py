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


class _TwoArgumentError(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


def _raise_unrebuildable() -> None:
    raise _TwoArgumentError("broke", "beyond rebuilding")


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
def test_an_error_that_cannot_be_rebuilt_comes_back_as_its_text(two_cpus: None) -> None:
    """It pickles, but its __init__ takes two arguments: unpickled here it would raise a TypeError."""
    with pytest.raises(RuntimeError, match="_TwoArgumentError: broke beyond rebuilding"):
        parallel.aside(_raise_unrebuildable).result()


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
    with pytest.raises(parallel.ChildDied, match="stopped before it finished"):
        pending.result()


@needs_fork
def test_interrupted_while_waiting_it_ends_the_child(
    two_cpus: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a CI cancel) during result() ends the child instead of waiting for it."""
    late = tmp_path / "late.txt"
    pending = parallel.aside(_sleep_then_write, late, 0.5)

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pending._receive, "recv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pending.result()
    time.sleep(0.7)
    assert not late.exists() and pending._process is None  # terminated and reaped


def _interrupted() -> None:
    raise KeyboardInterrupt  # as Ctrl-C raises it in every process of the terminal's foreground group


@needs_fork
def test_ctrl_c_in_the_child_ends_it_without_a_traceback(two_cpus: None, capfd: pytest.CaptureFixture[str]) -> None:
    """The parent handles Ctrl-C (it ends the child, the command prints its own line); the child's
    own KeyboardInterrupt printed multiprocessing's 'Process ForkProcess-1: Traceback ...'."""
    with pytest.raises(parallel.ChildDied, match="exit code 130"):
        parallel.aside(_interrupted).result()
    assert "Traceback" not in capfd.readouterr().err


def test_without_fork_or_a_second_cpu_the_call_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 1)
    assert parallel.aside(_pid).result() == os.getpid()
    failed = parallel.aside(_raise)  # an error waits for result(), as a child's would
    with pytest.raises(ValueError, match="broke in the child"):
        failed.result()
    failed.stop()
