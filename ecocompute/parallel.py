"""Map a function over chunks of items on every core, when there are enough items to pay for it;
run one long call beside the caller's own work."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

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


# What aside() hands its forked process: the child inherits this dict as it was at the fork, so the
# arguments (whole tables) are never pickled; only the key crosses, and only the result comes back.
_PENDING: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
_KEYS = itertools.count()


def _run_pending(key: int) -> Any:
    fn, args = _PENDING[key]
    return fn(*args)


def aside(fn: Callable[..., R], *args: Any) -> Future[R]:
    """``fn(*args)`` in a forked process that runs while the caller goes on, or, where the platform
    cannot fork or there is one CPU, right here before returning. Either way the future holds the
    result or re-raises ``fn``'s exception; a child that dies unexpectedly raises BrokenProcessPool.

    The child sees the caller's memory as it is now (copy on write); only the result must pickle.
    Call it while no other thread of the caller is working: a fork copies no thread but the caller,
    so a lock another thread held stays held in the child."""
    if not _can_fork() or (os.cpu_count() or 1) < 2:
        done: Future[R] = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future, as a child's would be
            done.set_exception(exc)
        return done
    key = next(_KEYS)
    _PENDING[key] = (fn, args)
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:
        return pool.submit(_run_pending, key)  # the fork happens here: the child has the entry
    finally:
        del _PENDING[key]
        pool.shutdown(wait=False)  # the child exits once its one call is done
