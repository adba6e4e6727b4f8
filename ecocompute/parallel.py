"""Map a function over chunks of items on every core, when there are enough items to pay for it."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 64  # items per task: serial and parallel runs cut the same chunks
PARALLEL_MIN = 256  # below this a process pool costs more than it saves
MAX_WORKERS = 8


def map_chunks(fn: Callable[[list[T]], R], items: Sequence[T], chunk: int | None = None) -> list[R]:
    """``[fn(chunk) for chunk in chunks(items)]``, in order; in worker processes for many items.

    ``fn`` and its results must pickle. Workers fork where the platform allows (cheap, and they see
    the parent's imports); a process that holds CUDA must not call this."""
    chunk = chunk or CHUNK
    chunks = [list(items[i : i + chunk]) for i in range(0, len(items), chunk)]
    workers = min(os.cpu_count() or 1, MAX_WORKERS, len(chunks))
    if len(items) < PARALLEL_MIN or workers < 2:
        return [fn(c) for c in chunks]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(fn, chunks))
