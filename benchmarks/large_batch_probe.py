"""Where a CUDA-graph request's time goes at large batches: prefill (eager) against the replayed decode
steps, and the GPU kernels that take the most time over one request (torch.profiler).

Qwen2.5-0.5B's throughput on the H100 nearly stopped growing past batch 512 (29,276 tok/s at 512, 34,238
at 2,048: about 30 TFLOP/s of arithmetic, a few per cent of the board's fp16 peak). This says which step
holds it. Run on a GPU: python benchmarks/large_batch_probe.py [--model ...] [--batch-size 512,2048]
"""

from __future__ import annotations

import argparse
import time

import random_model

from collector.engines import CudaGraphs, Decoding, build
from collector.models import unload


def main() -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    p = argparse.ArgumentParser()
    random_model.add_options(p, "Qwen/Qwen2.5-0.5B-Instruct")
    p.add_argument("--batch-size", default="8,512,2048")
    a = p.parse_args()
    source, loaded = random_model.load(a)
    for batch in (int(b) for b in a.batch_size.split(",")):
        decoding = Decoding.of(loaded.model, source.prompt(64), batch, 64)
        engine = build("cuda-graph", decoding, CudaGraphs()).engine
        engine.run_request()
        engine.synchronize()
        with torch.inference_mode():
            start = time.perf_counter()
            for _ in range(3):
                engine._prefill()
            engine.synchronize()
            prefill_s = (time.perf_counter() - start) / 3
            # a replay needs the prefill before it (the static cache's write offset advances each step)
            start = time.perf_counter()
            for _ in range(3):
                engine.new_ids()
            engine.synchronize()
            replay_s = (time.perf_counter() - start) / 3 - prefill_s
        tokens = batch * 64
        print(
            f"bs={batch}: prefill {prefill_s * 1e3:.1f} ms, 63 replayed steps {replay_s * 1e3:.1f} ms "
            f"({replay_s / 63 * 1e3:.2f} ms a step); {tokens / (prefill_s + replay_s):,.0f} tok/s"
        )
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            engine.run_request()
            engine.synchronize()
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=12, max_name_column_width=70))
        del engine
    unload(loaded)


if __name__ == "__main__":
    main()
