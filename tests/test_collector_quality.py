"""Perplexity (--quality) on CPU with a tiny model and a tokenizer built offline."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from collector.collect import collect
from collector.errors import CollectError
from collector.quality import Corpus, load_corpus, perplexity
from collector.request import RunRequest

TEXT = "the gpu reads the weights and the gpu writes the tokens " * 20


def _tokenizer() -> PreTrainedTokenizerFast:
    words = sorted(set(TEXT.split()))
    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(words)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]")


def _config(vocab: int) -> LlamaConfig:
    return LlamaConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=vocab,
        max_position_embeddings=512,
    )


def _model(vocab: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(_config(vocab)).eval()


def _trained_model(tok: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A tiny model trained for a moment on the corpus: better than a uniform guess, as pretrained
    weights are (the validator refuses a perplexity above the vocabulary size)."""
    model = _model(len(tok)).train()
    ids = tok(TEXT, return_tensors="pt")["input_ids"][:, :64]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(30):
        optimizer.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
    return model.eval()


def test_uniform_model_has_perplexity_equal_to_vocab_size() -> None:
    tok = _tokenizer()
    model = _model(len(tok))
    with torch.no_grad():
        model.lm_head.weight.zero_()  # every logit 0: a uniform next-token distribution
    result = perplexity(model, tok, Corpus("t", TEXT), max_tokens=100, window=32)
    assert result.value == pytest.approx(len(tok), rel=1e-5)
    assert result.tokens == 99 and result.corpus_sha256 == hashlib.sha256(TEXT.encode()).hexdigest()


def test_random_model_perplexity_is_finite_and_deterministic() -> None:
    tok = _tokenizer()
    first = perplexity(_model(len(tok)), tok, Corpus("t", TEXT), max_tokens=64)
    second = perplexity(_model(len(tok)), tok, Corpus("t", TEXT), max_tokens=64)
    assert 1 < first.value < 1e6 and first == second


def test_corpus_from_file_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert load_corpus(str(path)).text == TEXT
    with pytest.raises(CollectError, match="not 'wikitext' and not a readable file"):
        load_corpus(str(tmp_path / "missing.txt"))
    for blank in ("", " \n\t\n"):
        path.write_text(blank, encoding="utf-8")
        with pytest.raises(CollectError, match="the file holds no text; the perplexity needs at least 2 tokens"):
            load_corpus(str(path))


def test_a_corpus_the_submission_cannot_record_is_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read before NVML is touched: each of these was a traceback, a 6-GB read, or a finished run
    refused at the end (the file's name is recorded as quality.corpus)."""
    import os

    from collector import quality

    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(CollectError, match=r"not UTF-8 text \(byte 3\); convert it to UTF-8"):
        load_corpus(str(latin))
    monkeypatch.setattr(quality, "CORPUS_MAX_BYTES", 1000)
    big = tmp_path / "big.txt"
    big.write_text("x" * 1001, encoding="utf-8")
    with pytest.raises(CollectError, match="more than 0 MiB; the perplexity reads only the first 4096 tokens"):
        load_corpus(str(big))
    for name in ("corpus\x1b[31m.txt", "corpus\u202etxt.exe", "wiki\ntext.txt"):
        odd = tmp_path / name
        odd.write_text(TEXT, encoding="utf-8")
        with pytest.raises(CollectError, match=r"the file's name holds .*: rename or copy the file") as caught:
            load_corpus(str(odd))
        assert "\x1b" not in str(caught.value) and "\u202e" not in str(caught.value)  # escaped where shown
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(CollectError, match="not a readable file"):
        load_corpus(str(fifo))  # is_file() is False: never opened, so never blocks


def test_quality_is_refused_for_random_weights(tmp_path: Path) -> None:
    request = RunRequest(
        model_id="Qwen/Qwen2.5-0.5B-Instruct",
        precisions=("fp16",),
        batch_sizes=(1,),
        weights="random",
        quality="wikitext",
    )
    with pytest.raises(CollectError, match="needs pretrained weights"):
        collect(request)


def _local_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> tuple[RunRequest, type]:
    """A 'pretrained' tiny model served locally, with a local --quality corpus: (request, its source)."""
    from fakes import fake_cuda_build, register_test_model

    from collector.models import LoadedModel, ModelSource
    from collector.request import TrialPlan
    from collector.workload import Prompt, builtin_prompt
    from ecocompute.domain import Model
    from ecocompute.gates import Gates

    fake_cuda_build(monkeypatch)
    tok = _tokenizer()
    register_test_model(monkeypatch, tmp_path, "org/tiny", "llama", _config(len(tok)))
    trained = _trained_model(tok)

    class LocalSource(ModelSource):
        hub_head = "a" * 40  # what the Hub's default branch resolves to now (a test may move it)

        def __init__(self, model_id: str, revision: str | None = None, **_kw: object) -> None:
            self.model_id, self.weights, self.revision = model_id, "pretrained", revision or self.hub_head

        def describe(self) -> Model:
            return Model(self.model_id, self.revision, "pretrained", _model(len(tok)).num_parameters(), "llama")

        def prompt(self, n_tokens: int) -> Prompt:
            return builtin_prompt(tok)  # the shipped prompt, through the test's word-level tokenizer

        def load(self, precision: str) -> LoadedModel:
            return LoadedModel(trained, tok, self.describe(), self.quantization(precision), "sdpa")

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    request = RunRequest(
        **{
            "model_id": "org/tiny",
            "precisions": ("fp32",),
            "batch_sizes": (1, 2),
            "handle": "tester",
            "quality": str(corpus),
            "output_tokens": 4,
            "prompt_tokens": 8,
            "plan": TrialPlan(trial_min_s=1.0, idle_window_s=1.0, max_config_s=60.0, gates=Gates(max_trials=8)),
            "out_dir": tmp_path / "repo" / "submissions",
            "state_dir": tmp_path / "repo" / ".eco-collect",
            **kw,
        }
    )
    return request, LocalSource


def test_sweep_records_quality_per_precision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_protocol: None
) -> None:
    """Quality lands in every row of its precision."""
    from test_collector_e2e import _hooks

    from validator.run import exit_code, validate

    request, source = _local_run(tmp_path, monkeypatch)
    path, doc = collect(request, hooks=_hooks(source=source))
    qualities = [m["quality"] for m in doc["measurements"]]
    assert qualities[0] == qualities[1] and qualities[0]["corpus"] == "corpus.txt" and qualities[0]["value"] > 1
    assert exit_code(validate([path], accepted_root=None)) == 0


def _after_first_row(request: RunRequest) -> Callable[[Any], None]:
    """A workload hook that interrupts the run once its checkpoint holds a finished row (after its header)."""

    def interrupting(_engine: Any) -> None:
        lines = [len(p.read_text().splitlines()) for p in request.state_dir.glob("checkpoint-*.jsonl")]
        if lines and lines[0] >= 2:
            raise KeyboardInterrupt

    return interrupting


def test_a_resume_after_the_corpus_changed_is_refused_before_measuring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_protocol: None
) -> None:
    """The run key names the --quality path, not its text: a file edited between the interrupt and
    --resume would give the new rows another perplexity, which eco-validate refuses at the very end."""
    from fakes import Board, FakeTime
    from test_collector_e2e import _hooks, timed

    from collector.errors import CheckpointError

    board = Board(FakeTime())

    request, source = _local_run(tmp_path, monkeypatch, schedule="sequential")

    with pytest.raises(KeyboardInterrupt):
        collect(
            request, hooks=_hooks(board, source=source, workload=timed(board, on_request=_after_first_row(request)))
        )
    (tmp_path / "corpus.txt").write_text(TEXT + " and the gpu idles", encoding="utf-8")
    resumed = dataclasses.replace(request, resume=True)
    with pytest.raises(CheckpointError, match=r"the --quality file corpus.txt changed since the interrupted run"):
        collect(resumed, hooks=_hooks(board, source=source))
    assert list((tmp_path / "repo" / "submissions").rglob("*.json")) == []
    (tmp_path / "corpus.txt").write_text(TEXT, encoding="utf-8")  # restored: the run goes on
    _, doc = collect(resumed, hooks=_hooks(board, source=source, workload=timed(board, first_seed=100)))
    assert len({m["quality"]["corpus_sha256"] for m in doc["measurements"]}) == 1


def test_the_validator_knows_how_many_tokens_the_perplexity_counts() -> None:
    # eco-validate rejects other counts (a perplexity "over one token of WikiText-2" was accepted)
    from collector import quality
    from validator import hardware

    tok = _tokenizer()
    long_text = TEXT * 20  # 4,400 tokens: more than the cap
    result = perplexity(_model(len(tok)), tok, Corpus("t", long_text))
    assert result.tokens == hardware.PERPLEXITY_TOKENS == quality.MAX_TOKENS - 1
    assert hardware.WIKITEXT == quality.WIKITEXT


def test_a_resume_keeps_the_revision_its_rows_were_measured_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_protocol: None
) -> None:
    """Without --revision, a resumed run measures at the commit its checkpointed rows name, not at where
    the Hub's default branch moved meanwhile: one file, one revision (eco-validate refuses two), and
    --revision cannot be given on resume (it is part of the run key)."""
    from fakes import Board, FakeTime
    from test_collector_e2e import _hooks, timed

    from validator.run import exit_code, validate

    board = Board(FakeTime())
    request, source = _local_run(tmp_path, monkeypatch, schedule="sequential", quality=None)

    with pytest.raises(KeyboardInterrupt):
        collect(
            request, hooks=_hooks(board, source=source, workload=timed(board, on_request=_after_first_row(request)))
        )
    source.hub_head = "b" * 40  # a new commit on the default branch while the run was paused
    resumed = dataclasses.replace(request, resume=True)
    path, doc = collect(resumed, hooks=_hooks(board, source=source, workload=timed(board, first_seed=100)))
    assert {m["model"]["revision"] for m in doc["measurements"]} == {"a" * 40}
    assert exit_code(validate([path], accepted_root=None)) == 0
