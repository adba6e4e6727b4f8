"""Map a function over chunks of items on every core, when there are enough items to pay for it;
run one long call beside the caller's own work; run one call in a process whose memory is capped."""

from __future__ import annotations

import functools
import multiprocessing
import os
import pickle
import signal
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 64  # items per task: serial and parallel runs cut the same chunks
PARALLEL_MIN = 256  # below this a process pool costs more than it saves
MAX_WORKERS = 8


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def map_chunks(fn: Callable[[list[T]], R], items: Sequence[T], chunk: int | None = None) -> list[R]:
    """``[fn(chunk) for chunk in chunks(items)]``, in order; in worker processes for many items.

    ``fn`` and its results must pickle. Workers fork where the platform allows (cheap, and they see
    the parent's imports); a process that holds CUDA must not call this."""
    chunk = chunk or CHUNK
    chunks = [list(items[i : i + chunk]) for i in range(0, len(items), chunk)]
    workers = min(os.cpu_count() or 1, MAX_WORKERS, len(chunks))
    if len(items) < PARALLEL_MIN or workers < 2:
        return [fn(c) for c in chunks]
    context = multiprocessing.get_context("fork" if _can_fork() else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(fn, chunks))


class ChildDied(RuntimeError):
    """The process running an ``aside`` call ended without handing back a result or an error;
    ``signum``: the signal that ended it, where one did (killed by it, or exit 128 + it after one)."""

    def __init__(self, message: str, signum: int | None = None) -> None:
        super().__init__(message)
        self.signum = signum


# Exit codes a child gives after a signal it handled: _child turns Ctrl-C into exit 130.
_EXITED_AFTER = {128 + signal.SIGINT: signal.SIGINT, 128 + signal.SIGTERM: signal.SIGTERM}


def _died(exitcode: int | None) -> ChildDied:
    """ChildDied for a child that ended with ``exitcode`` (multiprocessing's: -N when signal N killed it)."""
    signum = -exitcode if exitcode is not None and exitcode < 0 else _EXITED_AFTER.get(exitcode or 0)
    if signum is None:
        return ChildDied(f"exit code {exitcode}")
    return ChildDied(f"exit code {exitcode}, {signal.Signals(signum).name}", signum)


class Aside(Generic[R]):
    """One call running in a forked child (or already done in this process): ``result()`` waits for
    it, ``stop()`` ends it without waiting for it to finish."""

    def __init__(self, fn: Callable[..., R], args: tuple[Any, ...], fork: bool) -> None:
        self._outcome: tuple[bool, Any] | None = None
        self._process: Any = None
        self._receive: Any = None
        if not fork:
            try:
                self._outcome = (True, fn(*args))
            except Exception as exc:  # noqa: BLE001 - handed to the caller by result(), as a child's would be
                self._outcome = (False, exc)
            return
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        # A forked child gets fn and args from the parent's memory (copy on write): nothing is pickled
        # but what comes back.
        self._process = context.Process(target=_child, args=(fn, args, send), daemon=True)
        self._process.start()
        send.close()  # the child's copy stays open: end of file here means the child is gone

    def result(self, timeout_s: float | None = None) -> R:
        """The call's value; re-raises its exception; ChildDied when the child ended without a word, was
        stopped, or had not answered within ``timeout_s`` (then it is ended). Interrupted while waiting
        (Ctrl-C), it ends the child rather than wait for it."""
        if self._outcome is None:
            try:
                answered = timeout_s is None or self._receive.poll(timeout_s)
                if answered:
                    self._outcome = self._receive.recv()
            except EOFError:
                self._process.join()
                self._outcome = (False, _died(self._process.exitcode))
            except BaseException:
                self.stop()
                raise
            if self._outcome is None:  # no answer in time: ended, not awaited
                self.stop()
                self._outcome = (False, ChildDied(f"no answer within {timeout_s:g} s"))
            else:
                self._close()
        ok, value = self._outcome
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        """End the child now, if it still runs, and reap it: the caller's error path must not wait for a
        call whose result nobody will read, nor leave it writing into files being removed."""
        if self._process is None:
            return
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
        self._close()
        if self._outcome is None:
            self._outcome = (False, ChildDied("stopped before it finished"))

    def _close(self) -> None:
        self._process.join()
        self._receive.close()
        self._process = None


def _child(fn: Callable[..., Any], args: tuple[Any, ...], send: Any) -> None:
    try:
        _answer(fn, args, send)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent says what happened
        raise SystemExit(130) from None  # multiprocessing prints no traceback for an exit code


def _answer(fn: Callable[..., Any], args: tuple[Any, ...], send: Any) -> None:
    try:
        outcome: tuple[bool, Any] = (True, fn(*args))
    except Exception as exc:  # noqa: BLE001 - the parent re-raises it
        outcome = (False, exc)
        try:  # an exception that pickles may still not unpickle (a custom __init__): say it plainly
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - whatever the round trip raises, the original error is what counts
            outcome = (False, RuntimeError("".join(traceback.format_exception(exc)).strip()[-4000:]))
    try:
        send.send(outcome)
    except Exception as exc:  # noqa: BLE001 - a value that does not pickle
        send.send((False, RuntimeError(f"the result cannot be sent back ({type(exc).__name__}: {exc})")))


def aside(fn: Callable[..., R], *args: Any) -> Aside[R]:
    """``fn(*args)`` in a forked process that runs while the caller goes on, or, where the platform
    cannot fork or there is one CPU, right here before returning.

    The child sees the caller's memory as it is now (copy on write); only the result must pickle.
    Call ``result()`` or ``stop()`` on what it returns (either reaps the child). The child is a
    daemon: the call cannot start processes of its own.
    Call it while no other Python thread of the caller is working: a fork copies no thread but the
    caller, so a lock another thread held stays held in the child. Native pools that re-initialise
    after a fork (Arrow's, jemalloc's) are tolerated; on Python 3.12+ the fork warns when such threads
    exist, which is expected here."""
    return Aside(fn, args, fork=_can_fork() and (os.cpu_count() or 1) >= 2)


class OutOfMemory(MemoryError):
    """A ``within_memory`` call needed more memory than it was given (or its process was killed)."""


class Stopped(ChildDied):
    """A ``within_memory`` call's process was ended from outside by SIGTERM: not out of memory."""


_STATUS = "/proc/self/status"  # VmData: what RLIMIT_DATA counts, Linux's own figure


def _data_bytes() -> int | None:
    """This process's data segment (heap and private writable mappings) in bytes; None off Linux."""
    try:
        with open(_STATUS, encoding="ascii") as f:
            for line in f:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, UnicodeError):
        return None
    return None


def capped() -> bool:
    """Whether ``within_memory`` can cap a call here: fork, Linux's VmData, a caller allowed to start
    processes (a daemon process, such as an ``aside`` child, is not) and a kernel that caps mappings."""
    return (
        _can_fork()
        and _data_bytes() is not None
        and not multiprocessing.current_process().daemon
        and _mappings_capped()
    )


# The probe: a child allowed PROBE_ALLOWED_BYTES more asks for PROBE_ASKED_BYTES at once, which glibc
# serves with mmap, never from the heap.
PROBE_ALLOWED_BYTES = 16 << 20
PROBE_ASKED_BYTES = 64 << 20
PROBE_TIMEOUT_S = 30.0


@functools.cache
def _mappings_capped() -> bool:
    """Whether RLIMIT_DATA caps what mmap maps, tried once per process in a child: Linux counts
    private writable mappings against it only since 4.7, and a sandbox (gVisor) may not count them at
    all. Where it does not, a large allocation escapes the cap unseen, so nothing is capped."""
    probe = Aside(_limited, (PROBE_ALLOWED_BYTES, _allocate, (PROBE_ASKED_BYTES,)), fork=True)
    try:
        probe.result(PROBE_TIMEOUT_S)
    except MemoryError:
        return True  # refused: the cap holds
    except Exception:  # noqa: BLE001 - a probe that died or hung proves nothing: trust no cap
        return False
    return False  # the whole allocation was granted


def _allocate(size: int) -> int:
    return len(bytearray(size))


def _limited(extra_bytes: int, fn: Callable[..., R], args: tuple[Any, ...]) -> R:
    """In the child: let the data segment grow by ``extra_bytes`` beyond what the fork inherited, then
    call. A larger allocation fails (MemoryError in Python, Arrow's std::bad_alloc ends the process)."""
    import resource  # POSIX only: this module is imported on Windows too, where nothing is capped

    now = _data_bytes()
    if now is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        soft = now + extra_bytes
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
    return fn(*args)


def within_memory(extra_bytes: int, fn: Callable[..., R], *args: Any, timeout_s: float | None = None) -> R:
    """``fn(*args)`` in a forked child whose heap may grow by at most ``extra_bytes``: for reading input
    whose true size is known only once read (a compressed file that lies about what it holds). Its
    result must pickle (keep it small: it is copied back). OutOfMemory when the call ran out or its
    process died (SIGKILL, an abort), or had not answered within ``timeout_s`` (a thread that could not
    start under the cap leaves a native pool waiting for ever); any other exception of ``fn`` is
    re-raised here. A process ended by SIGINT is KeyboardInterrupt here, by SIGTERM Stopped: stopped
    from outside, not out of memory. Where
    ``capped()`` is False (Windows, macOS, a daemon process, a kernel before 4.7) the call runs here,
    unbounded."""
    if not capped():
        return fn(*args)
    pending = Aside(_limited, (extra_bytes, fn, args), fork=True)
    try:
        return pending.result(timeout_s)
    except ChildDied as exc:
        # SIGINT or SIGTERM is someone stopping the call (Ctrl-C reaches the whole process group); the
        # kernel's OOM killer sends SIGKILL, and Arrow's std::bad_alloc aborts (SIGABRT).
        if exc.signum == signal.SIGINT:
            raise KeyboardInterrupt from None
        if exc.signum == signal.SIGTERM:
            raise Stopped(f"the process was stopped before it finished ({exc})", exc.signum) from None
        raise OutOfMemory(f"the process ended before it finished ({exc})") from None
    except MemoryError as exc:
        raise OutOfMemory(str(exc) or "out of memory") from None
