"""Attack v28: an attention implementation eco-collect never asks for.

eco-collect passes attn_implementation="sdpa" to every load (collector/models.py ``ModelSource``), and transformers
(4.45 to 5.x) records what was asked or refuses to load. A file whose every row was relabelled alike
("flash_attention_2", "eager": a published column) passed, as one attention held by every row.
"""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from collector.models import ModelSource
from validator import engines
from validator.check import check_data

REAL = Path(__file__).resolve().parents[1] / "submissions" / "ecocompute-bot"
GRAPHS = "ecocompute-bot-h200-20261124-220200.json"  # four cuda-graph rows
SEQUENTIAL = "ecocompute-bot-h100-80gb-hbm3-20261123-173451.json"  # four precisions, generate and cuda-graph


def _doc(name: str) -> dict[str, Any]:
    return json.loads((REAL / name).read_text(encoding="utf-8"))


def _errors(doc: dict[str, Any]) -> set[tuple[str, str]]:
    found = check_data(copy.deepcopy(doc), "x.json").findings
    return {(f.code, f.pointer) for f in found if f.severity.value == "error"}


def _relabelled(name: str, attention: str) -> dict[str, Any]:
    doc = _doc(name)
    for m in doc["measurements"]:
        m["engine"]["attn_implementation"] = attention
    return doc


def test_the_attention_eco_collect_asks_for_is_the_one_judged() -> None:
    default = inspect.signature(ModelSource.__init__).parameters["attn_implementation"].default
    assert default == engines.ASKED_ATTENTION


@pytest.mark.parametrize("attention", ["flash_attention_2", "eager", "flex_attention"])
@pytest.mark.parametrize("name", [GRAPHS, SEQUENTIAL])
def test_every_row_relabelled_alike_is_refused(name: str, attention: str) -> None:
    assert _errors(_doc(name)) == set()
    assert _errors(_relabelled(name, attention)) == {
        ("protocol.engine_mismatch", "/measurements/0/engine/attn_implementation")
    }


def test_a_later_transformers_major_is_held_to_one_attention_only() -> None:
    # a major after those seen may record the implementation under another name: not judged
    doc = _relabelled(GRAPHS, "sdpa_v2")
    doc["environment"]["software"]["transformers"] = f"{engines.ATTENTION_SPELLED_UP_TO_MAJOR + 1}.0.0"
    assert not {code for code, pointer in _errors(doc) if pointer.endswith("attn_implementation")}
    doc["measurements"][1]["engine"]["attn_implementation"] = "sdpa"
    assert ("protocol.engine_mismatch", "/measurements/1/engine/attn_implementation") in _errors(doc)
