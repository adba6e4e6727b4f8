"""The decoding engines on tiny CPU models: the own static-cache loop (its CUDA graph replaced by a
plain call) computes exactly generate()'s greedy tokens; a loop that differs, or cannot be captured,
is refused rather than measured."""

from __future__ import annotations

import warnings
from itertools import count
from typing import Any

import pytest
import torch
from fakes import NoGraphs, PlainGraphs, RecordingCuda
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

from collector.engines import (
    WARM_UP_DECODE_STEPS,
    Built,
    CudaGraphEngine,
    CudaGraphs,
    Decoding,
    EngineUnavailable,
    GenerateEngine,
    build,
    reproducible_steps,
    token_check,
)
from collector.errors import CollectError
from collector.workload import seeded_prompt

CONFIGS = {
    "llama": LlamaConfig(
        vocab_size=256,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        eos_token_id=2,
    ),
    "qwen2": Qwen2Config(
        vocab_size=256,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    ),
}


def _decoding(kind: str = "llama", batch: int = 2, tokens: int = 12) -> Decoding:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(CONFIGS[kind], dtype=torch.float32).eval()
    return Decoding.of(model, seeded_prompt(256, 10), batch, tokens)


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
@pytest.mark.parametrize("batch", [1, 3])
def test_own_loop_gives_generates_token_ids(kind: str, batch: int) -> None:
    d = _decoding(kind, batch)
    reference = GenerateEngine(d).new_ids().clone()
    built = build("cuda-graph", d, PlainGraphs())
    engine, check = built.engine, built.check
    assert check is not None and check.equal and check.first_difference is None
    assert built.notes() == []
    assert check.new_tokens == batch * 12
    assert torch.equal(engine.new_ids(), reference)
    assert torch.equal(engine.new_ids(), reference)  # every request starts from a reset cache
    assert engine.run_request() == batch * 12


def test_the_loop_passes_the_cache_by_the_keyword_the_models_forward_takes() -> None:
    """transformers 5.24 renamed forward's past_key_values to cache (the old name warns on every call and
    goes in 5.40): a forward that takes only ``cache`` decodes generate()'s tokens, and the installed
    transformers' own models are called without a deprecated keyword."""
    from transformers import LlamaForCausalLM

    from collector.engines import cache_keyword

    installed = cache_keyword(LlamaForCausalLM(CONFIGS["llama"]))

    keywords: list[str] = []

    class CacheFirst(LlamaForCausalLM):  # a forward whose first keyword for the cache is ``cache``
        def forward(self, input_ids: Any = None, cache: Any = None, **kwargs: Any) -> Any:
            keywords.append("cache" if cache is not None else "past_key_values" if "past_key_values" in kwargs else "")
            if cache is not None:
                kwargs[installed] = cache
            return super().forward(input_ids=input_ids, **kwargs)

    d = _decoding()
    reference = GenerateEngine(d).new_ids().clone()
    model = CacheFirst(CONFIGS["llama"]).eval()
    model.load_state_dict(d.model.state_dict())
    built = build("cuda-graph", Decoding(model, d.input_ids, d.output_tokens, d.eos_ids, d.pad_id), PlainGraphs())
    keywords.clear()  # generate()'s reference calls used the installed transformers' own keyword
    assert torch.equal(built.engine.new_ids(), reference)
    assert set(keywords) == {"cache"}  # the old loop passed past_key_values, which 5.40 removes
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # 5.24-5.39: the old keyword warns
        CudaGraphEngine(_decoding(), PlainGraphs())._prefill()


def test_the_warm_up_before_a_capture_runs_a_few_decode_steps_the_capture_all() -> None:
    """A whole eager request before each capture cost 3-13 s per 7B configuration on the H100."""
    d = _decoding(tokens=12)
    forwards: list[int] = []
    d.model.register_forward_pre_hook(lambda module, args, kwargs: forwards.append(1), with_kwargs=True)
    phases: dict[str, int] = {}

    class Counting(PlainGraphs):
        def capture(self, fn: Any, setup: Any, device: Any, warm_up: Any = None, others: Any = ()) -> Any:
            assert warm_up is not None
            for name, run in (("warm_up", warm_up), ("fn", fn)):
                setup()  # the prompt, eagerly, into a reset cache
                forwards.clear()
                run()
                phases[name] = len(forwards)
            return super().capture(fn, setup, device, warm_up)

    built = build("cuda-graph", d, Counting())
    assert phases == {"warm_up": WARM_UP_DECODE_STEPS, "fn": 11}  # the first token comes from the prompt
    assert built.check is not None and built.check.equal


def test_end_of_sequence_never_stops_a_request() -> None:
    d = _decoding()
    with torch.no_grad():
        d.model.lm_head.bias = torch.nn.Parameter(torch.zeros(256))
        d.model.lm_head.bias[2] = 1e4  # the eos id wins every argmax, unless suppressed
    built = build("cuda-graph", d, PlainGraphs())
    engine, check = built.engine, built.check
    assert check is not None and check.equal
    assert 2 not in engine.new_ids().tolist()[0]


def test_generate_is_the_reference_and_carries_no_check() -> None:
    built = build("generate", _decoding(), PlainGraphs())
    engine, check = built.engine, built.check
    assert check is None and engine.name == "generate" and engine.run_request() == 24


def test_a_loop_that_computes_other_tokens_is_refused() -> None:
    with pytest.raises(
        EngineUnavailable, match="differ from generate\\(\\)'s on the same static cache from decode step 5"
    ):
        build("cuda-graph", _decoding(), _loop_parting_at(5))  # generate() reproduces itself over all 12


def test_a_capture_that_fails_costs_no_reference_run(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(GenerateEngine, "new_ids", lambda self: calls.append(1))
    with pytest.raises(EngineUnavailable, match="CUDA graph capture failed"):
        build("cuda-graph", _decoding(), PlainGraphs(lambda fn: "operation not permitted when stream is capturing"))
    assert calls == []


def test_a_capture_that_fails_makes_the_engine_unavailable() -> None:
    with pytest.raises(EngineUnavailable, match="CUDA graph capture failed \\(RuntimeError: operation not permitted"):
        build("cuda-graph", _decoding(), PlainGraphs(lambda fn: "operation not permitted when stream is capturing"))
    with pytest.raises(EngineUnavailable, match="no CUDA here"):
        build("cuda-graph", _decoding(), NoGraphs())
    with pytest.raises(EngineUnavailable, match="CUDA graphs need a CUDA device"):
        build("cuda-graph", _decoding(), CudaGraphs())


def test_token_check_reports_the_first_differing_step() -> None:
    a = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    b = a.clone()
    b[1, 2] = 0
    check = token_check(a, b, 4)
    assert not check.equal and check.first_difference == 2 and check.new_tokens == 8
    assert not check.same_computation  # generate() reproduced all 4 steps
    assert token_check(a, b, 2).same_computation  # ... or only 2: the loop is as faithful as generate() itself
    assert check.to_dict()["reference_reproducible_steps"] == 4
    assert token_check(a, a, 4).ids_sha256 == token_check(a.clone(), a.clone(), 4).ids_sha256


def test_reproducible_steps_stop_where_runs_or_rows_of_one_prompt_part() -> None:
    run = torch.tensor([[1, 2, 3, 4, 5]] * 3)
    assert reproducible_steps((run, run.clone()), rows_alike=True) == 5
    other_run = run.clone()
    other_run[2, 3] = 9
    assert reproducible_steps((run, other_run), rows_alike=True) == 3
    rows_part = run.clone()
    rows_part[1, 1] = 9  # one run whose rows (the same prompt) disagree
    assert reproducible_steps((rows_part, rows_part.clone()), rows_alike=True) == 1
    assert reproducible_steps((rows_part, rows_part.clone()), rows_alike=False) == 5  # rows of other prompts
    assert reproducible_steps((run, run[:, :4]), rows_alike=True) == 0


def _wobbling(step: int) -> Any:
    """generate() on a GPU whose kernels are not bitwise reproducible: from ``step`` on, every run
    after the first gives its last row another token (a near-tied argmax flipped)."""
    original, calls = GenerateEngine.new_ids, []

    def new_ids(engine: GenerateEngine) -> Any:
        ids = original(engine)
        calls.append(1)
        if len(calls) > 1:
            ids = ids.clone()
            ids[-1, step:] += 1
        return ids

    return new_ids


def _loop_parting_at(step: int) -> PlainGraphs:
    """A loop whose first row takes other tokens from decode step ``step`` on (a numerics change)."""

    class Parting(PlainGraphs):
        def capture(self, fn: Any, setup: Any, device: Any, warm_up: Any = None, others: Any = ()) -> Any:
            inner = super().capture(fn, setup, device, warm_up)

            class Replay:
                def replay(self) -> None:
                    inner.replay()
                    fn.__self__.tokens[0, step:] += 2

            return Replay()

    return Parting()


def test_a_loop_parting_where_generate_parts_from_itself_is_kept_and_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GenerateEngine, "new_ids", _wobbling(7))
    built = build("cuda-graph", _decoding(), _loop_parting_at(7))
    check = built.check
    assert check is not None and not check.equal and check.first_difference == 7
    assert check.reference_reproducible_steps == 7 and check.same_computation
    assert (
        "token ids equal those of generate() on the same static KV cache over the first 7 decode steps; "
        "generate() reproduced itself (a second run, every row) over 7" in (built.notes()[0])
    )


def test_a_loop_parting_before_generate_parts_from_itself_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GenerateEngine, "new_ids", _wobbling(9))
    with pytest.raises(EngineUnavailable, match=r"from decode step 6, where generate\(\) still reproduces itself"):
        build("cuda-graph", _decoding(), _loop_parting_at(6))


def _counting_references(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count generate()'s reference runs (not the generate-static engine's own requests)."""
    original, references = GenerateEngine.new_ids, []

    def counted(self: GenerateEngine) -> Any:
        if not (self.name == "generate-static" and not self.config.disable_compile):
            references.append(1)
        return original(self)

    monkeypatch.setattr(GenerateEngine, "new_ids", counted)
    return references


@pytest.mark.parametrize("engine", ["cuda-graph", "generate-static"])
def test_equal_ids_cost_one_reference_run_and_leave_the_bound_null(
    monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """Equal ids need no bound on generate()'s reproducibility (schema 1.5.0: null, written)."""
    references = _counting_references(monkeypatch)
    check = build(engine, _decoding(), PlainGraphs()).check
    assert check is not None and check.equal and check.reference_reproducible_steps is None
    assert check.to_dict()["reference_reproducible_steps"] is None
    assert len(references) == 1


def test_ids_that_differ_cost_a_second_reference_run_that_bounds_them(monkeypatch: pytest.MonkeyPatch) -> None:
    references = _counting_references(monkeypatch)
    with pytest.raises(
        EngineUnavailable, match=r"from decode step 6, where generate\(\) still reproduces itself \(over its first 12"
    ):
        build("cuda-graph", _decoding(), _loop_parting_at(6))
    assert len(references) == 2


def test_misuse_is_a_clear_error() -> None:
    with pytest.raises(CollectError, match="unknown engine"):
        build("vllm", _decoding(), PlainGraphs())
    with pytest.raises(CollectError, match="prepare\\(\\) must run"):
        CudaGraphEngine(_decoding(), PlainGraphs()).new_ids()


def test_notes_name_the_reference_the_ids_were_compared_with() -> None:
    a = torch.tensor([[1, 2, 3, 4]])
    b = torch.tensor([[1, 2, 9, 9]])
    built = Built(GenerateEngine(_decoding()), token_check(a, b, 2), reference="generate() with the dynamic cache")
    assert built.notes() == [
        "token ids equal those of generate() with the dynamic cache over the first 2 decode steps; "
        "generate() reproduced itself (a second run, every row) over 2"
    ]
    assert Built(GenerateEngine(_decoding()), token_check(a, a, 4)).notes() == []


def test_the_log_says_where_a_cuda_graph_preparation_went(monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that advances 1 s per reading: capture, the replayed request and the reference runs are
    # timed between consecutive readings, in that order, and the reference says how many runs it made.
    ticks = count()
    built = build("cuda-graph", _decoding(), PlainGraphs(), clock=lambda: float(next(ticks)))
    assert [what for what, _ in built.phases] == ["capture", "one replayed request", "generate() reference, one run"]
    assert built.timing() == "capture 1.0 s, one replayed request 1.0 s, generate() reference, one run 1.0 s"
    monkeypatch.setattr(GenerateEngine, "new_ids", _wobbling(7))
    again = build("cuda-graph", _decoding(), _loop_parting_at(7), clock=lambda: float(next(ticks)))
    assert again.phases[-1][0] == "generate() reference, two runs"
    assert build("generate", _decoding(), PlainGraphs()).timing() == ""  # nothing prepared


GPU0, GPU1, GPU2 = (torch.device("cuda", i) for i in range(3))


def _sharded_capture(cuda: RecordingCuda, boards: tuple[torch.device, ...]) -> Any:
    """A capture of a 'model' whose prompt and each decode step run on every board in turn."""

    def run(tag: str) -> None:
        cuda.log.append((tag,))
        for board in boards:
            cuda.launch(board)

    return CudaGraphs(cuda).capture(
        lambda: run("fn"), lambda: run("setup"), boards[0], lambda: run("warm_up"), others=boards
    )


def _phase(log: list[tuple[str, ...]], tag: str) -> list[tuple[str, ...]]:
    """The launches after the marker ``tag``, up to the next marker or the capture's start or end."""
    out = []
    for entry in log[log.index((tag,)) + 1 :]:
        if len(entry) == 1 or entry[0] in ("begin", "end"):
            break
        if entry[0] == "launch":
            out.append(entry)
    return out


def test_a_capture_spanning_boards_forks_a_stream_on_each_and_joins_it_before_the_capture_ends() -> None:
    cuda = RecordingCuda([GPU0, GPU1, GPU2])
    graph = _sharded_capture(cuda, (GPU0, GPU1, GPU2))
    log = cuda.log
    begin, end = log.index(("begin", "capture:s6:0")), log.index(("end", "capture:s6:0"))
    captured = _phase(log, "fn")
    # Each board's work goes to a stream forked from the capture stream, under a private pool there.
    assert captured == [("launch", "capture:s6:0", "-"), ("launch", "s4:1", "pool"), ("launch", "s5:2", "pool")]
    for fork in ("s4:1", "s5:2"):
        fork_at = log.index(("wait", fork, "capture:s6:0"))
        join_at = log.index(("wait", "capture:s6:0", fork))
        assert begin < fork_at < log.index(("fn",)) < join_at < end
    # The eager prompt on the other boards is finished before the capture starts (it cannot wait for it).
    last_setup = max(i for i, e in enumerate(log) if e == ("setup",))
    assert last_setup < log.index(("synchronize", "1")) < begin and log.index(("synchronize", "2")) < begin
    # The warm-up ran on side streams on every board, which the default streams then wait for.
    assert [e[1] for e in _phase(log, "warm_up")] == ["s1:0", "s2:1", "s3:2"]
    for side, board in (("s1:0", 0), ("s2:1", 1), ("s3:2", 2)):
        assert ("wait", f"default:{board}", side) in log
    assert cuda.current == GPU0 and all(str(cuda.current_stream(d)).startswith("default") for d in (GPU0, GPU1))

    cuda.log.clear()
    graph.replay()  # from the first board: after the eager prompt everywhere, before the next one
    assert cuda.log == [
        ("wait", "default:0", "default:1"),
        ("wait", "default:0", "default:2"),
        ("replay", "default:0"),
        ("wait", "default:1", "default:0"),
        ("wait", "default:2", "default:0"),
    ]


def test_a_capture_on_one_board_is_the_plain_graph() -> None:
    cuda = RecordingCuda([GPU0, GPU1])
    graph = _sharded_capture(cuda, (GPU0,))
    assert isinstance(graph, RecordingCuda._Graph)
    assert not any(e[0] == "synchronize" for e in cuda.log) and cuda.pools == {}
    assert [e[1:] for e in _phase(cuda.log, "fn")] == [("capture:s2:0", "-")]


def test_the_decode_loop_captures_on_every_board_its_model_sits_on() -> None:
    seen: list[tuple[Any, ...]] = []

    class Spy(PlainGraphs):
        def capture(self, fn: Any, setup: Any, device: Any, warm_up: Any = None, others: Any = ()) -> Any:
            seen.append((device, tuple(others)))
            return super().capture(fn, setup, device, warm_up)

    class OneBoard(PlainGraphs):  # a backend written before sharded capture: no ``others``
        def capture(self, fn: Any, setup: Any, device: Any, warm_up: Any = None) -> Any:
            return super().capture(fn, setup, device, warm_up)

    d = _decoding()
    assert build("cuda-graph", d, OneBoard()).check.equal  # type: ignore[union-attr]
    CudaGraphEngine(d, Spy()).prepare()
    sharded = Decoding(d.model, d.input_ids, d.output_tokens, d.eos_ids, d.pad_id, (GPU0, GPU1))
    sharded.synchronize = lambda: None  # type: ignore[method-assign]  # CPU tensors: no board to wait for
    CudaGraphEngine(sharded, Spy()).prepare()
    assert seen == [(torch.device("cpu"), ()), (torch.device("cpu"), (GPU0, GPU1))]
