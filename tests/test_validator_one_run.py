"""A file is one eco-collect run as it wrote it: one model at one revision (``--model`` and
``--revision`` take one value, both in the run key, every release 0.1.0-0.6.0), and a skipped row with
no idle baseline (collector/schedule.py ``_close`` writes ``idle: null`` for a row that ran no trials)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import synthetic

from ecocompute import reference
from validator.check import check_document
from validator.findings import Finding


def _errors(doc: dict[str, Any]) -> list[Finding]:
    return [f for f in check_document(doc, "x.json") if f.severity.name == "ERROR"]


def _as_model(m: dict[str, Any], model_id: str) -> None:
    spec = reference.default().models[model_id]
    m["model"].update(
        id=model_id,
        revision=hashlib.sha1(model_id.encode()).hexdigest(),
        parameter_count=spec.parameter_count,
        model_type=spec.model_type,
    )


def test_a_synthetic_file_holds_one_model_and_files_spread_over_them() -> None:
    docs = [synthetic.submission(seed=s, n_measurements=20, n_trials=7, model=s) for s in range(3)]
    per_file = [{(m["model"]["id"], m["model"]["revision"]) for m in d["measurements"]} for d in docs]
    assert [len(ids) for ids in per_file] == [1, 1, 1]
    assert {next(iter(ids))[0] for ids in per_file} == set(synthetic.MODELS)
    configs = [(m["precision"], m["batch_size"]) for m in docs[0]["measurements"]]
    assert len(set(configs)) == 20  # beyond 16 rows: more batch sizes, never a second model
    assert _errors(docs[1]) == []


def test_rows_of_two_models_are_refused_naming_the_first_that_differs() -> None:
    doc = synthetic.submission(seed=7, n_measurements=4, n_trials=7)
    for m in doc["measurements"][2:]:
        _as_model(m, synthetic.MODELS[1])  # a real model, measured as physically as the first
    found = _errors(doc)
    assert [(f.code, f.pointer) for f in found] == [("provenance.revision", "/measurements/2/model/id")]
    message = found[0].message
    assert "Qwen/Qwen2.5-7B-Instruct" in message and "mistralai/Mistral-7B-Instruct-v0.2" in message
    assert "one model at one revision per run" in message and "submit each run's file" in message


def test_one_model_at_two_revisions_is_refused() -> None:
    doc = synthetic.submission(seed=8, n_measurements=3, n_trials=7)
    doc["measurements"][1]["model"]["revision"] = "c" * 40
    found = _errors(doc)
    assert [(f.code, f.pointer) for f in found] == [("provenance.revision", "/measurements/1/model/revision")]
    assert "c" * 40 in found[0].message


def test_random_and_real_weights_stay_one_finding() -> None:
    """Other weights carry their own revision ('config-only'): the weights check names that row, once."""
    doc = synthetic.submission(seed=9, n_measurements=2, n_trials=7)
    doc["measurements"][1]["model"].update(weights="random_init", revision="config-only")
    found = [f for f in _errors(doc) if f.code == "provenance.revision"]
    assert [f.pointer for f in found] == ["/measurements/1/model/weights"]


_OOM = "out of memory at batch 8: CUDA out of memory"


def test_a_skipped_row_as_eco_collect_writes_it_passes() -> None:
    doc = synthetic.submission(seed=10, n_measurements=2, n_trials=7)
    synthetic.skip(doc["measurements"][1], _OOM)
    assert _errors(doc) == []


@pytest.mark.parametrize("zeros", [False, True])
def test_a_skipped_row_with_idle_numbers_is_refused(zeros: bool) -> None:
    """The idle measured around the row's trials kept, or zeros in its place: eco-collect writes null."""
    doc = synthetic.submission(seed=11, n_measurements=2, n_trials=7)
    m = doc["measurements"][1]
    synthetic.skip(m, _OOM, keep_idle=True)
    if zeros:
        m["idle"] = {k: [0.0] if isinstance(v, list) else 0.0 for k, v in m["idle"].items()}
    found = _errors(doc)
    assert [(f.code, f.pointer) for f in found] == [("protocol.idle_window", "/measurements/1/idle")]
    assert "skipped" in found[0].message and "idle: null" in found[0].message
