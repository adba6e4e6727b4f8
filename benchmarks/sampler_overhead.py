"""A/B in one run: does the power sampler slow the workload down?

One sampler process (the collector's) runs throughout. Requests alternate between sampling on and
sampling off (the process paused, blocked on its pipe) in ABBA order, so host drift slower than a
request hits both arms alike. The overhead is the mean over neighbouring pairs of
(off - on) / off in per cent, with a Student-t 95 % interval. Target (issue 3): < 0.5 %, shown
when the whole interval lies below it.

Workloads:
- decode: one request of a random-initialised model, fp16, batch 1, on an eco-collect engine
  (``--engine cuda-graph``, the default: the decode steps replayed from a CUDA graph; ``generate``
  is bound by the VM's drifting CPU, see host_noise.py);
- matmul: a CUDA graph of bf16 matrix products, the GPU alone: where the sampler's NVML queries
  could get in the GPU's way (driver locks, power management) without host noise on top.

Run on a GPU:
  python benchmarks/sampler_overhead.py --workload matmul --pairs 200
  python benchmarks/sampler_overhead.py --workload decode --model mistralai/Mistral-7B-Instruct-v0.2 --engine cuda-graph
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import time
from pathlib import Path
from typing import Protocol

from collector.hostinfo import pin_to_cpus
from collector.nvml import Nvml
from collector.sampler import Sampler
from ecocompute import stats

# Two-sided 95 % Student-t quantiles for small samples; a series expansion beyond the table.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def t95(df: int) -> float:
    if df in _T95:
        return _T95[df]
    z = 1.959964  # Cornish-Fisher expansion of the t quantile: within 0.001 of exact for df > 10
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def paired_overhead_pct(off: list[float], on: list[float]) -> tuple[float, float, float]:
    """Mean of (off - on) / off in %, the 95 % half-width, and the SD of the paired differences."""
    diffs = [100.0 * (a - b) / a for a, b in zip(off, on, strict=True)]
    sd = statistics.stdev(diffs)
    return statistics.fmean(diffs), t95(len(diffs) - 1) * sd / math.sqrt(len(diffs)), sd


class Work(Protocol):
    def run_request(self) -> int: ...
    def synchronize(self) -> None: ...


class Matmul:
    """``per_request`` bf16 n x n products, replayed from one CUDA graph (no per-kernel launches)."""

    def __init__(self, n: int, per_request: int, per_graph: int = 50) -> None:
        import torch

        self.torch = torch
        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        self.out = torch.empty_like(a)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                torch.matmul(a, b, out=self.out)  # warm the kernel before capture
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            for _ in range(per_graph):
                torch.matmul(a, b, out=self.out)
        self.replays = max(1, per_request // per_graph)
        self.per_graph = per_graph

    def run_request(self) -> int:
        for _ in range(self.replays):
            self.graph.replay()
        return self.replays * self.per_graph

    def synchronize(self) -> None:
        self.torch.cuda.synchronize()


def decode_work(model: str, engine: str, output_tokens: int, cache_dir: Path) -> Work:
    from collector.engines import CudaGraphs, Decoding, build
    from collector.models import ModelSource

    source = ModelSource(model, weights="random", revision=None, device="cuda", cache_dir=cache_dir)
    decoding = Decoding.of(source.load("fp16").model, source.prompt(64), 1, output_tokens)
    return build(engine, decoding, CudaGraphs()).engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", choices=("decode", "matmul"), default="decode")
    parser.add_argument("--pairs", type=int, default=150, help="on/off pairs of neighbouring requests")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests first (compilation, clocks)")
    parser.add_argument("--period-s", type=float, default=0.05, help="sampler period (eco-collect's default)")
    parser.add_argument("--pin", action="store_true", help="pin the measuring process and the sampler")
    parser.add_argument("--model", default="Qwen/Qwen2-1.5B-Instruct")
    parser.add_argument("--engine", choices=("generate", "generate-static", "cuda-graph"), default="cuda-graph")
    parser.add_argument("--output-tokens", type=int, default=128)
    parser.add_argument("--cache-dir", type=Path, default=Path(".eco-collect/models"))
    parser.add_argument("--matmul-n", type=int, default=8192)
    parser.add_argument("--matmul-per-request", type=int, default=500)
    args = parser.parse_args()

    pinned = pin_to_cpus(1) if args.pin else None
    if args.workload == "matmul":
        work: Work = Matmul(args.matmul_n, args.matmul_per_request)
        what = f"CUDA graph of {args.matmul_per_request} bf16 {args.matmul_n}x{args.matmul_n} matmuls per request"
    else:
        work = decode_work(args.model, args.engine, args.output_tokens, args.cache_dir)
        what = f"{args.model} (random weights, fp16, batch 1, {args.output_tokens} tokens, engine {args.engine})"
    for _ in range(args.warmup):
        work.run_request()
    work.synchronize()
    rates: dict[str, list[float]] = {"off": [], "on": []}
    with Sampler(functools.partial(Nvml, [0]), args.period_s, "process", pin=args.pin) as sampler:
        start = time.monotonic()
        for i in range(args.pairs):
            order = ("on", "off") if i % 4 in (0, 3) else ("off", "on")  # ABBA: linear drift cancels
            for arm in order:
                sampler.resume() if arm == "on" else sampler.pause()
                work.synchronize()
                t0 = time.perf_counter()
                done = work.run_request()
                work.synchronize()
                rates[arm].append(done / (time.perf_counter() - t0))
        wall_s = time.monotonic() - start
    mean, half, sd = paired_overhead_pct(rates["off"], rates["on"])
    print(f"workload: {what}; pairs={args.pairs}, sampler period {args.period_s}s, pinned CPU {pinned}, {wall_s:.0f} s")
    unit = "matmul/s" if args.workload == "matmul" else "tok/s"
    print(f"{'arm':6} {args.workload + ' ' + unit:>20} {'CV %':>6}")
    for arm in ("off", "on"):
        values = rates[arm]
        print(f"{arm:6} {statistics.fmean(values):20.3f} {stats.cv_pct(values):6.2f}")
    print(f"overhead_pct={mean:.3f} ci95=[{mean - half:.3f}, {mean + half:.3f}] sd_paired_pct={sd:.2f}")
    verdict = "shown" if mean + half < 0.5 else "not shown"
    print(f"target < 0.5 %: {verdict} (the whole 95 % interval must lie below 0.5 %)")


if __name__ == "__main__":
    main()
