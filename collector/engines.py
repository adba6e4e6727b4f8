"""Decoding engines: interchangeable loops that run the fixed workload (one request = the batch's
forced new tokens) behind one small interface.

- ``generate``: transformers ``generate()``, dynamic KV cache: what most users run.
- ``generate-static``: ``generate()`` with a static KV cache, whose decode step transformers compiles.
- ``cuda-graph``: our own greedy loop on a static KV cache. The prompt is processed eagerly (outside
  any graph); the decode steps of one request are captured once as a CUDA graph (eager kernels) and
  replayed per request, so the host's speed no longer paces the GPU (on the lent H100 VM the vCPUs'
  speed drifts 5-9 % between 10-s windows and eager decoding follows it).

Every engine but ``generate`` is checked before it is measured against ``generate()``'s greedy ids on
the same loaded model. The CUDA-graph loop is checked against ``generate()`` on the same static KV
cache, uncompiled (the same attention kernels), and must compute what it computes, or it measured
something else and is refused (``EngineUnavailable``). Where the ids differ, "what it computes" is
bounded by how far ``generate()`` reproduces itself: it runs a second time, and since every row of the
workload is the same prompt, its rows must agree too (equal ids need no bound, so no second run).
On the lent H100 (Mistral-7B, random weights, batch 8) they do not: two ``generate()`` runs, and
the rows of one run, part at decode step 35, exactly where our loop parts from them, eager or replayed (``benchmarks/token_divergence.py``): the GPU's kernels are not bitwise
reproducible there, and random weights' near-tied logits turn that into another argmax. So the loop
must equal ``generate()`` over the steps where ``generate()`` equals itself (all of them on a CPU and
at batch 1); the file records both (``token_check.first_difference``, ``reference_reproducible_steps``).
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ecocompute import catalogue
from ecocompute.cli import first_line
from ecocompute.domain import TokenCheck

from .errors import CollectError, EngineUnavailable
from .graphs import CudaGraphs as CudaGraphs  # re-exported: callers import the backend with the engines
from .graphs import GraphBackend, Replay
from .graphs import SpanningGraph as SpanningGraph
from .workload import Prompt


class Workload(Protocol):
    """What a runner drives: whole requests, and a barrier before reading the energy counter."""

    def run_request(self) -> int: ...
    def synchronize(self) -> None: ...


@dataclass
class Decoding:
    """The fixed workload on one loaded model: the prompt repeated to the batch, greedy, exactly
    ``output_tokens`` new tokens per sequence (end-of-sequence suppressed, as min_new_tokens does)."""

    model: Any
    input_ids: Any  # LongTensor [batch, prompt tokens] on the model's (first) device
    output_tokens: int
    eos_ids: list[int]
    pad_id: int
    gpus: tuple[Any, ...] = ()  # every CUDA device the model sits on (a sharded model spans several)

    @classmethod
    def of(cls, model: Any, prompt: Prompt, batch_size: int, output_tokens: int) -> Decoding:
        import torch

        device = model.get_input_embeddings().weight.device
        eos = model.generation_config.eos_token_id
        eos = model.config.eos_token_id if eos is None else eos
        eos_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        pad = model.generation_config.pad_token_id
        pad = pad if pad is not None else (eos_ids[0] if eos_ids else 0)
        input_ids = torch.tensor([prompt.input_ids] * batch_size, device=device)
        gpus = tuple(sorted({p.device for p in model.parameters() if p.device.type == "cuda"}, key=str))
        return cls(model, input_ids, output_tokens, eos_ids, pad, gpus)

    @property
    def batch_size(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def device(self) -> Any:
        return self.input_ids.device

    @property
    def expected_tokens(self) -> int:
        return self.batch_size * self.output_tokens

    @property
    def rows_alike(self) -> bool:
        """Every row holds the same prompt, so a reproducible model gives every row the same ids."""
        return bool((self.input_ids == self.input_ids[0]).all())

    def synchronize(self) -> None:
        """Wait for every GPU the model sits on (a sharded model spans several; none need be the current)."""
        if self.gpus:
            import torch

            for device in self.gpus:
                torch.cuda.synchronize(device)


class GenerateEngine:
    """One request = one ``generate()`` call over the batch (``compile``: let transformers compile the
    decode step, as it does by default with a static cache on a GPU)."""

    def __init__(self, decoding: Decoding, static_cache: bool = False, compile: bool = True) -> None:
        from transformers import GenerationConfig

        self.name = "generate-static" if static_cache else "generate"
        self.decoding = decoding
        self.attention_mask = decoding.input_ids.new_ones(decoding.input_ids.shape)
        self.config = GenerationConfig(
            max_new_tokens=decoding.output_tokens,
            min_new_tokens=decoding.output_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=decoding.pad_id,
            eos_token_id=decoding.eos_ids or None,
            cache_implementation="static" if static_cache else None,
            disable_compile=not compile,
        )

    def synchronize(self) -> None:
        self.decoding.synchronize()

    def new_ids(self) -> Any:
        import torch

        d = self.decoding
        with torch.inference_mode():
            out = d.model.generate(
                input_ids=d.input_ids, attention_mask=self.attention_mask, generation_config=self.config
            )
        return out[:, d.input_ids.shape[1] :]

    def run_request(self) -> int:
        new = self.new_ids()
        count = int(new.shape[0] * new.shape[1])
        if count != self.decoding.expected_tokens:
            raise CollectError(f"generate() produced {count} new tokens, expected {self.decoding.expected_tokens}")
        return count


# Decode steps run eagerly before the capture. Every step runs the same kernels on the same shapes
# (a static cache: the attention always spans the whole cache, masked), so a few initialise all the
# lazy state (cuBLAS workspaces, bitsandbytes buffers) that a whole request would: the other ~125
# eager steps cost 3-13 s per configuration on the lent H100 (7B, 10-40 tok/s eager), ~50 s a sweep.
WARM_UP_DECODE_STEPS = 3


def cache_keyword(model: Any) -> str:
    """The keyword the model's forward takes its KV cache by: ``cache`` from transformers 5.24 on, where
    ``past_key_values`` is deprecated (a FutureWarning on every call) and goes in 5.40; ``past_key_values``
    before (the lent machines' 5.17). Read from the class: accelerate's hooks wrap the instance's forward."""
    return "cache" if "cache" in inspect.signature(type(model).forward).parameters else "past_key_values"


class CudaGraphEngine:
    """Own greedy loop on a static KV cache: prefill eager, the decode steps replayed from one graph.

    Per request the cache is reset (transformers' static layers keep their write offset in a device
    tensor that each update advances, whatever cache_position says), the prompt fills positions
    0..p-1 eagerly, and the replayed decode steps fill p..p+n-2."""

    name = "cuda-graph"

    def __init__(self, decoding: Decoding, graphs: GraphBackend) -> None:
        import torch
        from transformers import StaticCache

        d = decoding
        self.decoding = d
        self.graphs = graphs
        prompt_len = int(d.input_ids.shape[1])
        self.cache = StaticCache(config=d.model.config, max_cache_len=prompt_len + d.output_tokens)
        self.tokens = torch.zeros(d.batch_size, d.output_tokens, dtype=torch.long, device=d.device)
        self.prefill_positions = torch.arange(prompt_len, device=d.device)
        # One position tensor per decode step: a captured graph reads the very tensors it was captured with.
        self.step_positions = [torch.tensor([prompt_len + s], device=d.device) for s in range(d.output_tokens - 1)]
        self.eos = torch.tensor(d.eos_ids, dtype=torch.long, device=d.device)
        self.graph: Replay | None = None
        self.cache_kw = cache_keyword(d.model)

    def _pick(self, logits: Any, step: int) -> None:
        if self.eos.numel():
            logits.index_fill_(1, self.eos, float("-inf"))  # min_new_tokens == max_new_tokens: never stop
        self.tokens[:, step] = logits.argmax(-1)

    def _prefill(self) -> None:
        d = self.decoding
        self.cache.reset()
        out = d.model(
            input_ids=d.input_ids,
            cache_position=self.prefill_positions,
            **{self.cache_kw: self.cache},
            use_cache=True,
            logits_to_keep=1,
        )
        self._pick(out.logits[:, -1], 0)

    def _decode(self, steps: int | None = None) -> None:
        model = self.decoding.model
        for step, position in enumerate(self.step_positions[:steps], start=1):
            out = model(
                input_ids=self.tokens[:, step - 1 : step],
                cache_position=position,
                **{self.cache_kw: self.cache},
                use_cache=True,
            )
            self._pick(out.logits[:, -1], step)

    def prepare(self) -> None:
        """Capture the decode steps (each warm-up and the capture after an eager prefill)."""
        import torch

        with torch.inference_mode():
            try:
                # The other boards only where there are some: a backend written for one board (the
                # interface before sharded capture) keeps working unchanged.
                spans = {"others": self.decoding.gpus} if len(self.decoding.gpus) > 1 else {}
                self.graph = self.graphs.capture(
                    self._decode,
                    self._prefill,
                    self.decoding.device,
                    lambda: self._decode(WARM_UP_DECODE_STEPS),
                    **spans,
                )
            except EngineUnavailable:
                raise
            except Exception as exc:
                first = first_line(exc, 200)
                raise EngineUnavailable(f"CUDA graph capture failed ({type(exc).__name__}: {first})") from exc
        self.decoding.synchronize()

    def synchronize(self) -> None:
        self.decoding.synchronize()

    def new_ids(self) -> Any:
        import torch

        if self.graph is None:
            raise CollectError("CudaGraphEngine.prepare() must run before a request")
        with torch.inference_mode():
            self._prefill()
            self.graph.replay()
        return self.tokens

    def run_request(self) -> int:
        self.new_ids()
        return self.decoding.expected_tokens  # static shapes: every sequence gets exactly n tokens


def ids_sha256(ids: Any) -> str:
    rows = ids.tolist()
    return hashlib.sha256("\n".join(",".join(map(str, r)) for r in rows).encode()).hexdigest()


def reproducible_steps(runs: Sequence[Any], rows_alike: bool) -> int:
    """Leading decode steps over which runs of one workload agree ([batch, steps] each); with
    ``rows_alike`` (the same prompt in every row) every row of every run must agree with the first."""
    first = runs[0].cpu()
    agree = None
    for run in runs:
        got = run.cpu()
        if tuple(got.shape) != tuple(first.shape):
            return 0
        same = (got == first[0]).all(0) if rows_alike else (got == first).all(0)
        agree = same if agree is None else agree & same
    if agree is None:
        raise CollectError("reproducible_steps needs at least one run")
    differs = (~agree).nonzero()
    return int(differs[0]) if differs.numel() else int(first.shape[1])


def token_check(reference: Any, candidate: Any, reference_reproducible_steps: int | None) -> TokenCheck:
    """Compare an engine's new token ids with generate()'s, position by position."""
    ref, got = reference.cpu(), candidate.cpu()
    equal = tuple(ref.shape) == tuple(got.shape) and bool((ref == got).all())
    first = None
    if not equal:
        width = min(ref.shape[1], got.shape[1])
        differs = (ref[:, :width] != got[:, :width]).any(0).nonzero()
        first = int(differs[0]) if differs.numel() else width
    return TokenCheck(
        int(got.numel()), equal, first, ids_sha256(got), reference_reproducible_steps=reference_reproducible_steps
    )


def checked(engine: GenerateEngine, candidate: Any) -> TokenCheck:
    """``candidate``'s ids against generate()'s. Where they differ, generate() runs a second time, to
    bound over how many steps it reproduces itself (that run and every row); where they are equal no
    bound is needed, and that run (12-25 s of a 7B sweep's preparation per configuration) is not made."""
    ids = engine.new_ids().clone()
    first = token_check(ids, candidate, None)
    if first.equal:
        return first
    again = engine.new_ids().clone()
    return token_check(ids, candidate, reproducible_steps((ids, again), engine.decoding.rows_alike))


Engine = GenerateEngine | CudaGraphEngine


@dataclass(frozen=True)
class Built:
    engine: Engine
    check: TokenCheck | None  # against generate() on the same cache (the record's token_check)
    reference: str = "generate() on the same static KV cache"  # what ``check`` compared with
    # Where the preparation's time went, in order (for the run log: the file does not hold it).
    phases: tuple[tuple[str, float], ...] = ()

    def timing(self) -> str:
        return ", ".join(f"{what} {seconds:.1f} s" for what, seconds in self.phases)

    def notes(self) -> list[str]:
        out = []
        c = self.check
        if c is not None and not c.equal:
            out.append(
                f"token ids equal those of {self.reference} over the first {c.first_difference} decode steps; "
                f"generate() reproduced itself (a second run, every row) over {c.reference_reproducible_steps}"
            )
        return out


def build(name: str, decoding: Decoding, graphs: GraphBackend, clock: Callable[[], float] = time.perf_counter) -> Built:
    """The engine ``name`` on ``decoding``, prepared and checked against generate().

    Raises EngineUnavailable when it cannot run here or its CUDA-graph tokens differ from generate()'s
    where generate() reproduces itself."""
    if name not in catalogue.ENGINES:
        raise CollectError(f"unknown engine {name!r}; choose from {', '.join(catalogue.ENGINES)}")
    if name == catalogue.REFERENCE_ENGINE:
        return Built(GenerateEngine(decoding), None)
    if name == "cuda-graph":
        # Capture first: a precision that cannot be captured (LLM.int8()) fails in seconds, before the
        # two reference generate() runs, which at its 7 tok/s cost about a minute per batch size. No
        # third run against the dynamic cache: it only fed a note (probes: equal in 6 of 6 cases) and
        # cost ~35 s of a 7B sweep that must fit 15 minutes.
        t0 = clock()
        engine: Engine = CudaGraphEngine(decoding, graphs)
        engine.prepare()  # ends synchronised
        t1 = clock()
        ids = engine.new_ids().clone()
        decoding.synchronize()
        t2 = clock()
        check = checked(GenerateEngine(decoding, static_cache=True, compile=False), ids)
        t3 = clock()
        runs = "one run" if check.reference_reproducible_steps is None else "two runs"
        phases = (("capture", t1 - t0), ("one replayed request", t2 - t1), (f"generate() reference, {runs}", t3 - t2))
        if not check.same_computation:
            raise EngineUnavailable(
                f"its token ids differ from generate()'s on the same static cache from decode step "
                f"{check.first_difference}, where generate() still reproduces itself (over its first "
                f"{check.reference_reproducible_steps} steps): it would measure another computation"
            )
        return Built(engine, check, phases=phases)
    engine = GenerateEngine(decoding, static_cache=True)
    check = checked(GenerateEngine(decoding), engine.new_ids().clone())
    return Built(engine, check, reference="generate() with the dynamic cache")
