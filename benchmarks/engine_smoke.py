"""Which engine can run which precision on this GPU, and does it compute generate()'s tokens?

For a random-initialised architecture: every precision x batch size, each engine built as eco-collect
builds it (capture, token check against generate()), then a few timed requests. No energy is
measured: this answers, in a minute or two, what ``--engine auto`` will choose.

Run on a GPU: python benchmarks/engine_smoke.py --model Qwen/Qwen2.5-0.5B-Instruct
(``--gpu 0,1``: the model sharded over those boards by accelerate's balanced device map, as eco-collect does)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from collector.engines import CudaGraphs, Decoding, EngineUnavailable, build
from collector.models import ModelSource, torch_device, unload
from collector.nvml import Nvml
from ecocompute.catalogue import parse_precisions


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct")
    p.add_argument("--precision", default="fp16,int8,int8-pure,nf4")
    p.add_argument("--engine", default="cuda-graph")
    p.add_argument("--batch-size", default="1,8")
    p.add_argument("--requests", type=int, default=5)
    p.add_argument("--cache-dir", type=Path, default=Path(".eco-collect/models"))
    p.add_argument("--gpu", default="0", help="GPU index(es); several shard the model over them")
    a = p.parse_args()
    gpus = [int(g) for g in a.gpu.split(",")]
    with Nvml(gpus) as nvml:
        devices = [torch_device(u) for u in nvml.uuids()]
    source = ModelSource(
        a.model,
        weights="random",
        revision=None,
        device=devices[0],
        cache_dir=a.cache_dir,
        shard_over=devices if len(devices) > 1 else None,
    )
    print(f"{a.model}: {source.describe().parameter_count / 1e9:.2f} B parameters on {', '.join(devices)}")
    for precision in parse_precisions(a.precision):
        t0 = time.perf_counter()
        loaded = source.load(precision)
        print(f"{precision}: loaded in {time.perf_counter() - t0:.1f} s; placement {loaded.placement}")
        for batch in (int(b) for b in a.batch_size.split(",")):
            decoding = Decoding.of(loaded.model, source.prompt(64), batch, 128)
            t0 = time.perf_counter()
            try:
                built = build(a.engine, decoding, CudaGraphs())
                engine, check = built.engine, built.check
            except EngineUnavailable as exc:
                print(f"  bs={batch} {a.engine}: unavailable ({exc}) [{time.perf_counter() - t0:.1f} s]")
                continue
            prepared = time.perf_counter() - t0
            engine.synchronize()
            t0 = time.perf_counter()
            tokens = sum(engine.run_request() for _ in range(a.requests))
            engine.synchronize()
            elapsed = time.perf_counter() - t0
            verdict = (
                "no check" if check is None else ("equal" if check.equal else f"differs at {check.first_difference}")
            )
            verdict += "".join(f"; {n}" for n in built.notes())
            print(
                f"  bs={batch} {a.engine}: tokens vs generate(): {verdict}; prepared in {prepared:.1f} s; "
                f"{tokens / elapsed:.1f} tok/s over {a.requests} requests"
            )
            del engine
        unload(loaded)


if __name__ == "__main__":
    main()
