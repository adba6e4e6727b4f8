"""A/B in one run: decoding throughput with and without the power sampler running beside it.

Blocks of requests alternate between modes (none, process, thread) in a rotating order, so host
drift hits every mode alike; the overhead is the paired per-round difference against 'none'.
Target (issue 3): process sampler costs < 0.5 % throughput.

Run on a GPU: python benchmarks/sampler_overhead.py --model Qwen/Qwen2-1.5B-Instruct --rounds 8
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

from collector.hostinfo import pin_to_cpus
from collector.models import ModelSource
from collector.nvml import Nvml
from collector.sampler import Sampler
from collector.workload import Generator

MODES = ("none", "process", "thread")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="Qwen/Qwen2-1.5B-Instruct")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3, help="requests per block")
    parser.add_argument("--output-tokens", type=int, default=128)
    parser.add_argument("--period-s", type=float, default=0.05)
    parser.add_argument("--cache-dir", type=Path, default=Path(".eco-collect/models"))
    args = parser.parse_args()

    pinned = pin_to_cpus(1)  # as eco-collect run does
    source = ModelSource(args.model, weights="random", revision=None, device="cuda", cache_dir=args.cache_dir)
    loaded = source.load("fp16")
    gen = Generator(loaded.model, source.prompt(64), 1, args.output_tokens)
    for _ in range(3):
        gen.run_request()
    gen.synchronize()
    factory = functools.partial(Nvml, [0])
    samplers = {m: Sampler(factory, args.period_s, m, pin=True) if m != "none" else nullcontext() for m in MODES}
    results: dict[str, list[float]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        order = MODES[r % 3 :] + MODES[: r % 3]
        for mode in order:
            with samplers[mode]:
                time.sleep(0.5)  # let a freshly started sampler reach its steady loop
                gen.synchronize()
                t0 = time.monotonic()
                tokens = sum(gen.run_request() for _ in range(args.requests))
                gen.synchronize()
                results[mode].append(tokens / (time.monotonic() - t0))
    base = results["none"]
    print(
        f"model={args.model} (random weights, fp16, batch 1, {args.output_tokens} tokens), rounds={args.rounds}, period={args.period_s}s, pinned CPU {pinned}"
    )
    print(f"{'mode':8} {'mean tok/s':>10} {'CV %':>6} {'overhead %':>11} {'95% CI':>16}")
    for mode in MODES:
        vals = results[mode]
        diffs = [100.0 * (b - v) / b for b, v in zip(base, vals, strict=True)]
        mean_d = statistics.fmean(diffs)
        half = 2.365 * statistics.stdev(diffs) / math.sqrt(len(diffs)) if mode != "none" else 0.0
        cv = 100.0 * statistics.stdev(vals) / statistics.fmean(vals)
        print(
            f"{mode:8} {statistics.fmean(vals):10.2f} {cv:6.2f} {mean_d:11.2f} {f'[{mean_d - half:.2f}, {mean_d + half:.2f}]':>16}"
        )


if __name__ == "__main__":
    main()
