"""Attack v9: rows whose perplexities eco-collect cannot have written (one corpus a run, one measurement
per precision), and a seeded prompt spelled apart from eco-collect's spelling."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import synthetic

from ecocompute import reference
from validator.check import check_document


def _errors(doc: dict[str, Any]) -> set[str]:
    return {f.code for f in check_document(doc, "x.json") if f.severity.name == "ERROR"}


def _with_quality() -> dict[str, Any]:
    doc = synthetic.submission(seed=3)  # eight pretrained rows: fp16 and int8, four batch sizes each
    for m in doc["measurements"]:
        m["quality"] = {
            "metric": "perplexity",
            "value": {"fp16": 8.31, "int8": 8.35}[m["precision"]],
            "corpus": "wikitext-2-raw-v1/test",
            "corpus_sha256": "1" * 64,
            "tokens": 4095,
        }
    return doc


def test_one_perplexity_per_precision_in_every_row_passes() -> None:
    assert _errors(_with_quality()) == set()


def _edit_int8_row(doc: dict[str, Any]) -> None:
    [m for m in doc["measurements"] if m["precision"] == "int8"][-1]["quality"]["value"] = 8.31


def _drop_one(doc: dict[str, Any]) -> None:
    doc["measurements"][1]["quality"] = None


def _two_corpora(doc: dict[str, Any]) -> None:
    doc["measurements"][1]["quality"].update(corpus="notes.txt", corpus_sha256="2" * 64, tokens=900)


def _tokens_apart(doc: dict[str, Any]) -> None:
    for m in doc["measurements"]:
        m["quality"]["corpus"] = "corpus.txt"
    doc["measurements"][1]["quality"]["tokens"] = 4000


@pytest.mark.parametrize("edit", [_edit_int8_row, _drop_one, _two_corpora, _tokens_apart])
def test_perplexities_eco_collect_cannot_write_are_rejected(edit: Any) -> None:
    doc = _with_quality()
    edit(doc)
    assert _errors(doc) == {"quality.perplexity"}


def test_a_skipped_row_may_lack_the_perplexity() -> None:
    """A precision that did not load has none (its rows are skipped); the others keep theirs."""
    doc = _with_quality()
    synthetic.skip(doc["measurements"][-1], "out of memory while loading")
    doc["measurements"][-1]["quality"] = None
    assert "quality.perplexity" not in _errors(doc)


def _seeded(source: str) -> dict[str, Any]:
    doc = synthetic.submission(seed=5, n_measurements=2)
    vocab = {reference.default().models[m["model"]["id"]].vocab_size for m in doc["measurements"]}.pop()
    for m in doc["measurements"]:
        m["model"].update(weights="random_init", revision="config-only")
    doc["protocol"]["prompt"] = {
        "source": source,
        "sha256": reference.seeded_prompt_sha256(vocab, 64, 0),
        "token_count": 64,
    }
    return doc


def test_eco_collects_spelling_of_a_seeded_prompt_passes() -> None:
    assert _errors(_seeded("seeded-token-ids:0:64")) == set()


@pytest.mark.parametrize("source", ["seeded-token-ids:00:64", "seeded-token-ids:0:064", "seeded-token-ids:000:0064"])
def test_a_seeded_prompt_spelled_apart_is_rejected(source: str) -> None:
    assert _errors(copy.deepcopy(_seeded(source))) == {"reference.unknown_prompt"}
