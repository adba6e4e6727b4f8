"""CUDA-graph capture: the backend the decode loop captures its steps with, on one board or on every
board a sharded model sits on. Tests replace the backend (``GraphBackend``) with plain calls, or
``torch.cuda`` inside it with a recording fake."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import EngineUnavailable


class Replay(Protocol):
    def replay(self) -> None: ...


class GraphBackend(Protocol):
    """Captures a function of CUDA work once and replays it (tests replace it with a plain call).

    ``setup`` puts the state ``fn`` reads in place; it runs before the warm-up and once more before the
    capture (a capture records kernels without running them). ``warm_up`` runs the kernels ``fn`` runs,
    in less time (default ``fn`` itself). ``others`` lists every board a sharded model sits on
    (``device`` among them or not): ``fn`` runs work there too."""

    def capture(
        self,
        fn: Callable[[], None],
        setup: Callable[[], None],
        device: Any,
        warm_up: Callable[[], None] | None = None,
        others: Sequence[Any] = (),
    ) -> Replay: ...


class CudaGraphs:
    """The real backend: warm-up on side streams (lazy initialisations, cuBLAS workspaces), then
    capture with ``torch.cuda.graph``.

    A model sharded over several boards (``others``: the boards besides ``device``) is captured into
    one graph too: on each other board a side stream forks from the capture stream, is that board's
    current stream while ``fn`` runs (so accelerate's hooks and the cross-board copies launch into the
    capture) and joins it again before the capture ends; what the capture allocates there comes from a
    private pool that lives as long as the graph, as ``torch.cuda.graph``'s own pool does on ``device``.
    ``cuda`` is ``torch.cuda`` (tests pass a recording fake)."""

    def __init__(self, cuda: Any = None) -> None:
        self.cuda = cuda

    def capture(
        self,
        fn: Callable[[], None],
        setup: Callable[[], None],
        device: Any,
        warm_up: Callable[[], None] | None = None,
        others: Sequence[Any] = (),
    ) -> Replay:
        cuda = self.cuda
        if cuda is None:
            import torch

            cuda = torch.cuda
        if device.type != "cuda":
            raise EngineUnavailable(f"CUDA graphs need a CUDA device, not {device}")
        boards = [d for d in dict.fromkeys(others) if d != device]
        with cuda.device(device):
            # Streams and pools first: creating either inside a capture is not allowed.
            warm = {d: cuda.Stream(device=d) for d in [device, *boards]}
            forks = {d: cuda.Stream(device=d) for d in boards}
            pools = {}
            for d in boards:
                with cuda.device(d):
                    pools[d] = cuda.MemPool()
            for d, side in warm.items():
                side.wait_stream(cuda.current_stream(d))
            with ExitStack() as streams:  # one eager run initialises what the capture must not allocate
                for side in warm.values():
                    streams.enter_context(cuda.stream(side))
                streams.enter_context(cuda.device(device))
                setup()
                (warm_up or fn)()
            for d, side in warm.items():
                cuda.current_stream(d).wait_stream(side)
            setup()
            for d in boards:  # the capture cannot wait for eager work on another board: finish it
                cuda.synchronize(d)
            graph = cuda.CUDAGraph()
            with cuda.graph(graph):
                main = cuda.current_stream(device)
                with ExitStack() as spans:
                    for d in boards:
                        spans.enter_context(cuda.use_mem_pool(pools[d], device=d))
                        forks[d].wait_stream(main)
                        spans.enter_context(cuda.stream(forks[d]))
                    spans.enter_context(cuda.device(device))
                    fn()
                    for d in boards:
                        main.wait_stream(forks[d])
        return SpanningGraph(graph, device, tuple(boards), tuple(pools.values()), cuda) if boards else graph


@dataclass(frozen=True)
class SpanningGraph:
    """A graph with work on several boards, replayed from ``device``'s current stream: it waits for
    the eager work queued on the other boards (the prompt's layers there) and their next eager work
    waits for it, as one board's stream orders both by itself."""

    graph: Any
    device: Any
    others: tuple[Any, ...]
    pools: tuple[Any, ...]  # kept alive: the graph's memory on the other boards
    cuda: Any

    def replay(self) -> None:
        cuda = self.cuda
        with cuda.device(self.device):
            main = cuda.current_stream(self.device)
            for d in self.others:
                main.wait_stream(cuda.current_stream(d))
            self.graph.replay()
            for d in self.others:
                cuda.current_stream(d).wait_stream(main)
