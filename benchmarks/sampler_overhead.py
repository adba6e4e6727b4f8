"""A/B in one run: decoding throughput with and without the power sampler running beside it.

Blocks of requests alternate between modes (none, process, thread) in a rotating order, so host
drift hits every mode alike; the overhead is the paired per-round difference against 'none', with a
Student-t 95 % interval. Target (issue 3): process sampler costs < 0.5 % throughput.

Eager decoding on a VM is bound by the host CPU, whose speed drifts by several per cent (see
host_noise.py), which drowns a sub-per-cent effect; ``--cache static`` (compiled decoding step)
moves the bottleneck to the GPU, where the sampler's NVML calls could actually interfere.

Run on a GPU: python benchmarks/sampler_overhead.py --model mistralai/Mistral-7B-Instruct-v0.2 --cache static --rounds 12 --requests 8
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
# Two-sided 95 % Student-t quantiles by degrees of freedom (normal beyond the table).
_T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
    20: 2.086,
    25: 2.060,
    30: 2.042,
}


def t95(df: int) -> float:
    if df in _T95:
        return _T95[df]
    smaller = [k for k in _T95 if k <= df]
    return _T95[max(smaller)] if df <= 30 else 1.96


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="Qwen/Qwen2-1.5B-Instruct")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3, help="requests per block")
    parser.add_argument("--output-tokens", type=int, default=128)
    parser.add_argument("--period-s", type=float, default=0.05)
    parser.add_argument("--cache", choices=("dynamic", "static"), default="dynamic")
    parser.add_argument(
        "--pin", action="store_true", help="pin the measuring process and the sampler (eco-collect --pin-cpu)"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path(".eco-collect/models"))
    args = parser.parse_args()

    pinned = pin_to_cpus(1) if args.pin else None
    source = ModelSource(args.model, weights="random", revision=None, device="cuda", cache_dir=args.cache_dir)
    loaded = source.load("fp16")
    gen = Generator(loaded.model, source.prompt(64), 1, args.output_tokens, args.cache)
    for _ in range(3):
        gen.run_request()
    gen.synchronize()
    factory = functools.partial(Nvml, [0])
    samplers = {m: Sampler(factory, args.period_s, m, pin=args.pin) if m != "none" else nullcontext() for m in MODES}
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
        f"model={args.model} (random weights, fp16, batch 1, {args.output_tokens} tokens, cache {args.cache}), "
        f"rounds={args.rounds}, requests/block={args.requests}, period={args.period_s}s, pinned CPU {pinned}"
    )
    print(f"{'mode':8} {'mean tok/s':>10} {'CV %':>6} {'overhead %':>11} {'95% CI':>16}")
    for mode in MODES:
        vals = results[mode]
        diffs = [100.0 * (b - v) / b for b, v in zip(base, vals, strict=True)]
        mean_d = statistics.fmean(diffs)
        half = t95(len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs)) if mode != "none" else 0.0
        cv = 100.0 * statistics.stdev(vals) / statistics.fmean(vals)
        print(
            f"{mode:8} {statistics.fmean(vals):10.2f} {cv:6.2f} {mean_d:11.2f} {f'[{mean_d - half:.2f}, {mean_d + half:.2f}]':>16}"
        )


if __name__ == "__main__":
    main()
