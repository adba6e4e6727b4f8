"""ecocompute.parallel.within_memory: a call in a forked child whose heap is capped (RLIMIT_DATA over
Linux's VmData), for input whose size is known only once read."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import sys
from collections.abc import Iterator

import pytest

from ecocompute import parallel

# Not capped(): a probe that wrongly found no cap would skip every test here in silence. Linux since 4.7
# applies RLIMIT_DATA to mappings (gVisor reports 4.4.0); below that, or without fork, nothing is capped.
_RELEASE = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2]) if hasattr(os, "uname") else (0, 0)
LINUX_CAPS = (
    sys.platform.startswith("linux") and _RELEASE >= (4, 7) and "fork" in multiprocessing.get_all_start_methods()
)
pytestmark = pytest.mark.skipif(not LINUX_CAPS, reason="RLIMIT_DATA caps mappings on Linux 4.7 and later only")


def _allocate(mib: int) -> int:
    return len(bytearray(mib << 20))


def test_a_call_within_its_cap_returns_its_value() -> None:
    assert parallel.within_memory(64 << 20, _allocate, 16) == 16 << 20


def test_a_call_beyond_its_cap_is_out_of_memory_and_this_process_goes_on() -> None:
    with pytest.raises(parallel.OutOfMemory):
        parallel.within_memory(32 << 20, _allocate, 256)
    assert _allocate(256) == 256 << 20  # the cap was the child's alone


def test_the_calls_own_errors_come_back_as_they_are() -> None:
    def fails() -> None:
        raise ValueError("not a number")

    with pytest.raises(ValueError, match="not a number"):
        parallel.within_memory(64 << 20, fails)


def test_a_child_killed_is_out_of_memory() -> None:
    """The kernel's OOM killer ends a process with SIGKILL, as Arrow's std::bad_alloc ends it by abort."""

    def killed() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(parallel.OutOfMemory, match="ended before it finished"):
        parallel.within_memory(64 << 20, killed)


def test_where_nothing_can_be_capped_the_call_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_data_bytes", lambda: None)
    assert not parallel.capped()
    pid = os.getpid()
    assert parallel.within_memory(1, os.getpid) == pid


def test_a_child_that_does_not_answer_in_time_is_ended() -> None:
    """A native pool waiting for ever on a thread the cap did not let start must not hang the caller."""
    import time

    start = time.monotonic()
    with pytest.raises(parallel.OutOfMemory, match=r"no answer within 0\.5 s"):
        parallel.within_memory(64 << 20, time.sleep, 30, timeout_s=0.5)
    assert time.monotonic() - start < 10


@pytest.fixture
def fresh_probe() -> Iterator[None]:
    """The probe's answer is kept per process: each test asks again, and later tests see the real one."""
    parallel._mappings_capped.cache_clear()
    yield
    parallel._mappings_capped.cache_clear()


def test_a_kernel_that_does_not_cap_mappings_caps_nothing(monkeypatch: pytest.MonkeyPatch, fresh_probe: None) -> None:
    """Before Linux 4.7 (and in sandboxes such as gVisor) RLIMIT_DATA leaves mmap alone, so a large
    allocation escapes the cap: such a platform must say it caps nothing, and the call runs here."""
    import resource

    monkeypatch.setattr(resource, "setrlimit", lambda *_args: None)  # the limit is set, and nothing counts it
    assert not parallel.capped()
    pid = os.getpid()
    assert parallel.within_memory(1, os.getpid) == pid


def test_this_kernel_caps_mappings(fresh_probe: None) -> None:
    """The probe's answer on a kernel that caps: a probe that always said no would cap nothing, silently."""
    assert parallel._mappings_capped() and parallel.capped()


def _signalled(signum: int) -> None:
    os.kill(os.getpid(), signum)
    signal.sigtimedwait([], 1.0)  # the handler runs before this returns


def test_a_child_interrupted_is_an_interrupt_not_out_of_memory() -> None:
    """SIGINT to the capped child alone (the caller's own Ctrl-C never reached it) read as out of memory."""
    with pytest.raises(KeyboardInterrupt) as caught:
        parallel.within_memory(64 << 20, _signalled, signal.SIGINT)
    assert not isinstance(caught.value, MemoryError)


def test_a_child_terminated_is_stopped_not_out_of_memory() -> None:
    with pytest.raises(parallel.Stopped, match="SIGTERM") as caught:
        parallel.within_memory(64 << 20, _signalled, signal.SIGTERM)
    assert not isinstance(caught.value, MemoryError)


def test_a_child_killed_names_the_signal() -> None:
    with pytest.raises(parallel.OutOfMemory, match="SIGKILL"):
        parallel.within_memory(64 << 20, _signalled, signal.SIGKILL)
