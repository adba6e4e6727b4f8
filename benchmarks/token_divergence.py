"""Where do the CUDA-graph engine's token ids part from generate()'s, and why?

On the H100, Mistral-7B (random weights) at batch 8 gave cuda-graph ids that differ from the uncompiled
static-cache ``generate()`` (first differences at decode steps 9-35) while batch 1 was equal. This
compares, on one loaded model and batch size: generate() with the dynamic cache, generate() on a
static cache (uncompiled), our own loop run eagerly, and the same loop replayed from a CUDA graph. If
the eager loop equals generate() and the replay does not, the capture itself changes the numerics
(cuBLAS picks its kernels by the workspace it sees); if the eager loop already differs, the loop does.

Run on a GPU: python benchmarks/token_divergence.py --model mistralai/Mistral-7B-Instruct-v0.2 --batch-sizes 8,1
(set CUBLAS_WORKSPACE_CONFIG before the run to try a fixed cuBLAS workspace). On CPU (bf16, a small
random Mistral config, batch 8, 96 tokens) the eager loop equals the static-cache generate() exactly.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

import random_model

from collector.engines import CudaGraphEngine, CudaGraphs, Decoding, GenerateEngine, token_check


class Eager:
    """The decode loop run as plain calls: 'replay' runs the steps again."""

    def capture(
        self,
        fn: Callable[[], None],
        setup: Callable[[], None],
        device: Any,
        warm_up: Callable[[], None] | None = None,
        others: Sequence[Any] = (),
    ) -> Any:
        class Run:
            def replay(self) -> None:
                fn()

        return Run()


class SameStream:
    """Like ``CudaGraphs``, but the capture runs on the very stream its warm-up ran on (cuBLAS keeps a
    workspace per stream: if the kernels it picks follow the stream, this variant tells)."""

    def capture(
        self,
        fn: Callable[[], None],
        setup: Callable[[], None],
        device: Any,
        warm_up: Callable[[], None] | None = None,
        others: Sequence[Any] = (),
    ) -> Any:
        import torch

        with torch.cuda.device(device):
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                setup()
                (warm_up or fn)()
                setup()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=side):
                fn()
            torch.cuda.current_stream().wait_stream(side)
        return graph


def compare(runs: dict[str, Any]) -> None:
    names = list(runs)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            c = token_check(runs[x], runs[y], 0)  # only equal and first_difference are printed
            same_rows = bool((runs[y] == runs[y][0]).all())
            print(
                f"  {x:>24} vs {y:<24} {'equal' if c.equal else f'first differs at step {c.first_difference}'}"
                f"{'' if same_rows else ' (rows of the second differ among themselves)'}",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser()
    random_model.add_options(p, "mistralai/Mistral-7B-Instruct-v0.2")
    p.add_argument("--batch-sizes", default="8", help="comma-separated; one model load for all")
    p.add_argument("--output-tokens", type=int, default=128)
    p.add_argument(
        "--reductions",
        default="on",
        choices=("on", "off", "both"),
        help="cuBLAS fp16 reduced-precision reductions: on (torch's default), off (fp32), or both in turn",
    )
    a = p.parse_args()
    import torch

    source, loaded = random_model.load(a)
    settings = {"on": (True,), "off": (False,), "both": (True, False)}[a.reductions]
    backends = (("loop-eager", Eager()), ("loop-graph", CudaGraphs()), ("loop-graph-same-stream", SameStream()))
    for reduced in settings:
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = reduced
        for batch_size in (int(b) for b in a.batch_sizes.split(",")):
            d = Decoding.of(loaded.model, source.prompt(64), batch_size, a.output_tokens)
            runs = {
                "generate-dynamic": GenerateEngine(d).new_ids().clone(),
                "generate-static": GenerateEngine(d, static_cache=True, compile=False).new_ids().clone(),
                "generate-static-again": GenerateEngine(d, static_cache=True, compile=False).new_ids().clone(),
            }
            for label, backend in backends:
                engine = CudaGraphEngine(d, backend)
                engine.prepare()
                runs[label] = engine.new_ids().clone()
                runs[label + "-again"] = engine.new_ids().clone()
                del engine
            print(
                f"{a.model} {a.precision} bs={batch_size}: CUBLAS_WORKSPACE_CONFIG="
                f"{os.environ.get('CUBLAS_WORKSPACE_CONFIG')}, reduced-precision reduction {reduced}",
                flush=True,
            )
            compare(runs)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
