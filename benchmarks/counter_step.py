"""The NVML energy counter's step on this machine's GPUs, as eco-collect times it at a session's start
(collector.nvml.Nvml.counter_step_s: the board idle, polled every 5 ms, at most 2 s), repeated, beside a
finer reading (polled every 1 ms for --fine-s) of every interval between the counter's changes.

eco-collect measures with the counter only where its step is at most nvml.COUNTER_STEP_MAX_S; this prints
what the boards at hand give, so the bound is checked against hardware, not only reasoned.

    python benchmarks/counter_step.py [--repeat 5] [--fine-s 3] [--gpu 0]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # time this checkout's collector

from collector import nvml
from collector.errors import NvmlError


def fine_intervals(board: nvml.Nvml, seconds: float, poll_s: float = 0.001) -> list[float]:
    """Every interval between two changes of the first board's counter, polled every ``poll_s``."""
    changes: list[float] = []
    last = None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        reading = board.energy_j()[0]
        now = time.monotonic()
        if last is not None and reading != last:
            changes.append(now)
        last = reading
        time.sleep(poll_s)
    return [b - a for a, b in itertools.pairwise(changes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fine-s", type=float, default=3.0)
    parser.add_argument("--gpu", type=int, default=0)
    args = parser.parse_args()
    with nvml.Nvml([args.gpu]) as board:
        print(f"GPU {args.gpu}: counter supported {board.supports_energy_counter()}")
        for i in range(args.repeat):
            start = time.monotonic()
            step = board.counter_step_s(time.monotonic, time.sleep)
            took = time.monotonic() - start
            used, note = board.energy_method(time.monotonic, time.sleep)
            shown = "none" if step is None else f"{step:.4f} s"
            print(f"probe {i + 1}: step {shown} (timed in {took:.2f} s); counter used {used}; note {note}")
        gaps = fine_intervals(board, args.fine_s)
        if gaps:
            print(
                f"fine ({args.fine_s:g} s, 1-ms polls): {len(gaps)} intervals, median {statistics.median(gaps):.4f} s, "
                f"min {min(gaps):.4f} s, max {max(gaps):.4f} s, limit {nvml.COUNTER_STEP_MAX_S} s"
            )
        else:
            print(f"fine ({args.fine_s:g} s): the counter did not change twice")


if __name__ == "__main__":
    try:
        main()
    except NvmlError as exc:
        sys.exit(f"counter_step: {exc}")
