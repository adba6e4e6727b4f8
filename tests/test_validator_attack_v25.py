"""Attack v25: labels eco-collect cannot write, on skipped rows and across rows.

- A skipped row's token check was never judged: counts, steps and first differences no check can hold, and a check
  on generate() (the reference, which eco-collect never checks), passed and were published. eco-collect keeps the
  check of an engine built before the row ran out of memory (collector/schedule.py ``_guarded``).
- One row's attention implementation relabelled (flash_attention_2 or eager beside sdpa) passed: eco-collect asks
  for one implementation in every load of a run, and transformers runs it or refuses to load.
- A skipped row's perplexity (a published column) was not held to the rows of its precision: eco-collect writes the
  precision's one measurement into every row of it, a row skipped after loading too.
- U4: a token check on a skipped row whose model never loaded (attention 'not loaded') passed; eco-collect checks an
  engine only after building it, on a loaded model.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import synthetic

from validator.check import check_data

REAL = Path(__file__).resolve().parents[1] / "submissions" / "ecocompute-bot"
GRAPHS = "ecocompute-bot-h200-20261124-220200.json"  # four cuda-graph rows, each with a token check
SEQUENTIAL = "ecocompute-bot-h100-80gb-hbm3-20261123-173451.json"  # four precisions, generate and cuda-graph


@cache
def _real(name: str) -> str:
    return (REAL / name).read_text(encoding="utf-8")


def _errors(doc: dict[str, Any], name: str) -> set[tuple[str, str]]:
    found = check_data(copy.deepcopy(doc), name).findings
    return {(f.code, f.pointer) for f in found if f.severity.value == "error"}


def _with_skipped_row(check: dict[str, Any] | None, engine: str = "cuda-graph") -> dict[str, Any]:
    """The H200 file with a fifth row: batch 4,096, skipped out of memory, carrying ``check``."""
    doc = json.loads(_real(GRAPHS))
    row = copy.deepcopy(doc["measurements"][0])
    row.update(
        status="skipped",
        skip_reason="out of memory at batch 4096: CUDA out of memory",
        trials=[],
        summary=None,
        gate=None,
        stopped_by=None,
        idle=None,
        batch_size=4096,
    )
    if engine == "generate":
        row["engine"].update(name="generate", cache_implementation="dynamic", cuda_graph=False)
    row["engine"]["token_check"] = check
    doc["measurements"].append(row)
    return doc


def _check(**fields: Any) -> dict[str, Any]:
    base = json.loads(_real(GRAPHS))["measurements"][0]["engine"]["token_check"]
    return {**base, "ids_sha256": "ab" * 32, "new_tokens": 4096 * 128, **fields}


WHERE = ("protocol.token_check", "/measurements/4/engine/token_check")


def test_a_skipped_row_may_carry_its_check_or_none() -> None:
    assert _errors(_with_skipped_row(_check()), GRAPHS) == set()
    assert _errors(_with_skipped_row(None), GRAPHS) == set()  # never loaded, or out of memory while building


@pytest.mark.parametrize(
    "fields",
    [
        {"first_difference": 999_999, "reference_reproducible_steps": 999_999},  # beyond the 128 output tokens
        {"new_tokens": 1},  # not batch x output tokens
        {"equal": True, "first_difference": 3, "reference_reproducible_steps": None},
        {"equal": False, "first_difference": None},
    ],
    ids=["steps beyond the output", "token count", "equal with a difference", "different without one"],
)
def test_a_skipped_row_s_check_is_held_to_what_a_check_is(fields: dict[str, Any]) -> None:
    assert WHERE in _errors(_with_skipped_row(_check(**fields)), GRAPHS)


def test_a_skipped_row_s_check_never_differs_where_generate_reproduces_itself() -> None:
    # eco-collect refuses such an engine (collector/engines.py build: EngineUnavailable), so no row holds the check
    doc = _with_skipped_row(_check(first_difference=2, reference_reproducible_steps=100))
    assert ("protocol.token_check", "/measurements/4/engine/token_check/equal") in _errors(doc, GRAPHS)


def test_a_skipped_generate_row_carries_no_check() -> None:
    assert WHERE in _errors(_with_skipped_row(_check(), engine="generate"), GRAPHS)


@pytest.mark.parametrize("attention", ["flash_attention_2", "eager"])
@pytest.mark.parametrize("name", [GRAPHS, SEQUENTIAL])
def test_every_row_that_loaded_ran_one_attention(name: str, attention: str) -> None:
    doc = json.loads(_real(name))
    assert _errors(doc, name) == set()
    doc["measurements"][1]["engine"]["attn_implementation"] = attention
    assert _errors(doc, name) == {("protocol.engine_mismatch", "/measurements/1/engine/attn_implementation")}


def test_a_row_that_never_loaded_is_not_held_to_the_others_attention() -> None:
    doc = _with_skipped_row(None)
    doc["measurements"][4]["engine"]["attn_implementation"] = "not loaded"
    assert _errors(doc, GRAPHS) == set()


def test_a_row_whose_model_never_loaded_carries_no_check() -> None:
    # U4: eco-collect checks an engine only after building it on a loaded model (collector/schedule.py _prepare)
    doc = _with_skipped_row(_check())
    doc["measurements"][4].update(skip_reason="out of memory while loading: CUDA out of memory")
    doc["measurements"][4]["engine"]["attn_implementation"] = "not loaded"
    assert _errors(doc, GRAPHS) == {WHERE}


def _pretrained_with_a_skipped_row(skipped_value: float | None, ran_value: float | None = 8.31) -> dict[str, Any]:
    """Eight pretrained rows (fp16 and int8, four batch sizes each); the last fp16 row skipped."""
    doc = synthetic.submission(seed=3)
    fp16 = [m for m in doc["measurements"] if m["precision"] == "fp16"]
    synthetic.skip(fp16[-1], "out of memory at batch 64: CUDA out of memory")
    for m in doc["measurements"]:
        value = (
            skipped_value if m is fp16[-1] else {"fp16": ran_value, "int8": 8.35 if ran_value else None}[m["precision"]]
        )
        m["quality"] = None
        if value is not None:
            m["quality"] = {
                "metric": "perplexity",
                "value": value,
                "corpus": "wikitext-2-raw-v1/test",
                "corpus_sha256": "1" * 64,
                "tokens": 4095,
            }
    return doc


def _codes(doc: dict[str, Any]) -> set[str]:
    return {f.code for f in check_data(doc, "x.json").findings if f.severity.value == "error"}


def test_a_skipped_row_carries_its_precision_s_perplexity_or_none() -> None:
    assert _codes(_pretrained_with_a_skipped_row(8.31)) == set()
    assert _codes(_pretrained_with_a_skipped_row(None)) == set()  # the precision never loaded in its session


@pytest.mark.parametrize("value", [1.01, 8.35, 30.0])
def test_a_skipped_row_s_perplexity_is_its_precision_s(value: float) -> None:
    assert "quality.perplexity" in _codes(_pretrained_with_a_skipped_row(value))


def test_a_skipped_row_has_no_perplexity_where_the_rows_that_ran_have_none() -> None:
    assert "quality.perplexity" in _codes(_pretrained_with_a_skipped_row(8.31, ran_value=None))
