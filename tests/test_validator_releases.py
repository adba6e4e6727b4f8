"""validator/releases.py: a protocol the named eco-collect release cannot write is refused (attack v9
U1, U2); what each release writes is its code's, and the real files all pass."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import synthetic

import collector
from collector import cli
from collector.request import RunRequest, TrialPlan
from ecocompute import reference
from ecocompute.domain import parse
from ecocompute.gates import DEFAULT_EARLY_STOP, DEFAULT_GATES
from validator import releases
from validator.check import check_document

ROOT = Path(__file__).resolve().parents[1]


def _errors(doc: dict[str, Any]) -> set[str]:
    return {f.code for f in check_document(doc, "x.json") if f.severity.name == "ERROR"}


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split("/")
    node = doc["protocol"]
    for p in parents:
        node = node[p]
    node[last] = value
    return doc


def test_the_synthetic_file_is_eco_collect_0_4_0s_protocol() -> None:
    assert _errors(synthetic.submission(seed=1)) == set()


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        ("output_tokens", 4097, "protocol.settings"),  # --output-tokens is IntRange(1, 4096)
        ("early_stop/evidence_min_trials", 1000, "protocol.settings"),
        ("early_stop/probability_max", 1e-9, "protocol.settings"),
        ("early_stop/confidence", 0.5, "protocol.settings"),
        ("early_stop/confidence", 0.9, "protocol.settings"),  # 0.1.0's, not 0.4.0's
        ("gates/min_trials", 6, "protocol.settings"),
        ("gates/throughput_cv_max_pct", 1.0, "protocol.settings"),
        ("gates/power_cv_max_pct", 4.0, "protocol.settings"),
        ("gates/energy_per_token_cv_max_pct", 0.5, "protocol.settings"),
        ("warmup/settle_pct", 100, "protocol.warmup"),
        ("warmup/settle_pct", 1.0, "protocol.warmup"),
        ("warmup/max_trials", 10, "protocol.warmup"),
        ("warmup/min_trials", 1, "protocol.warmup"),
        ("sample_period_s", 0.001, "protocol.sample_period"),
        ("sample_period_s", 0.1, "protocol.sample_period"),
        ("idle_window_s", 3.0, "protocol.idle_window"),
        ("gates/max_trials", 4, "protocol.trial_budget"),
    ],
)
def test_a_setting_the_release_cannot_write_is_refused(path: str, value: Any, code: str) -> None:
    doc = _set(synthetic.submission(seed=1, n_measurements=2), path, value)
    findings = [f for f in releases.check(parse(doc), "x.json")]
    assert [f.code for f in findings] == [code]
    assert f"/protocol/{path}" == findings[0].pointer
    assert "eco-collect 0.4.0 writes" in findings[0].message and "never edited" in findings[0].message
    assert code in _errors(doc)


@pytest.mark.parametrize(("path", "value"), [("output_tokens", 4096), ("output_tokens", 1), ("gates/max_trials", 5)])
def test_the_ends_of_an_options_range_pass(path: str, value: Any) -> None:
    doc = _set(synthetic.submission(seed=1, n_measurements=2), path, value)
    assert releases.check(parse(doc), "x.json") == []


def test_a_loosened_gate_is_stats_gates_loosened_alone() -> None:
    doc = _set(synthetic.submission(seed=1, n_measurements=2), "gates/throughput_cv_max_pct", 5.0)
    assert releases.check(parse(doc), "x.json") == []
    assert "stats.gates_loosened" in _errors(doc)


def _seeded(source: str, seed: int, n: int) -> dict[str, Any]:
    doc = synthetic.submission(seed=2, n_measurements=2)
    for row in doc["measurements"]:
        row["model"].update(weights="random_init", revision="config-only")
    vocab = reference.default().models[doc["measurements"][0]["model"]["id"]].vocab_size
    doc["protocol"]["prompt"] = {
        "source": source,
        "sha256": reference.seeded_prompt_sha256(vocab, n, seed),
        "token_count": n,
    }
    return doc


def test_eco_collects_seeded_prompt_passes() -> None:
    assert _errors(_seeded("seeded-token-ids:0:64", 0, 64)) == set()


@pytest.mark.parametrize(("source", "seed", "n"), [("seeded-token-ids:7:64", 7, 64), ("seeded-token-ids:0:65", 0, 65)])
def test_a_seeded_prompt_no_release_writes_is_refused(source: str, seed: int, n: int) -> None:
    doc = _seeded(source, seed, n)
    assert _errors(doc) == {"reference.unknown_prompt"}
    (finding,) = releases.check(parse(doc), "x.json")
    assert finding.pointer == "/protocol/prompt/source" and "seeded-token-ids" in finding.message


def _relabel(doc: dict[str, Any], version: str, schema: str) -> dict[str, Any]:
    doc.update(schema_version=schema, collector={"name": "eco-collect", "version": version})
    return doc


def test_each_release_is_held_to_its_own_warmup_maximum() -> None:
    doc = synthetic.submission(seed=1, n_measurements=2)
    doc["protocol"]["warmup"]["max_trials"] = 2
    assert [f.code for f in releases.check(parse(doc), "x")] == ["protocol.warmup"]  # 0.4.0: 3
    assert releases.check(parse(_relabel(doc, "0.5.0", "1.5.0")), "x") == []


def test_before_0_3_0_there_was_no_evidence_minimum() -> None:
    doc = _relabel(synthetic.submission(seed=1, n_measurements=2), "0.2.0", "1.3.0")
    doc["protocol"]["warmup"]["max_trials"] = 4
    assert [f.pointer for f in releases.check(parse(doc), "x")] == ["/protocol/early_stop/evidence_min_trials"]
    del doc["protocol"]["early_stop"]["evidence_min_trials"]
    assert releases.check(parse(doc), "x") == []


def test_0_1_0_is_not_judged_where_its_sweep_driver_took_any_number() -> None:
    """benchmarks/collector_sweep.py (0.1.0) set idle windows, warm-up maximum and budget freely: the
    accepted 0.1.0 files hold 3-s idle windows and 3 or 6 warm-ups. Its constants are still judged."""
    doc = _relabel(synthetic.submission(seed=1, n_measurements=2), "0.1.0", "1.2.0")
    del doc["protocol"]["early_stop"]["evidence_min_trials"]
    doc["protocol"]["early_stop"]["confidence"] = 0.9  # 0.1.0 before 7a15feb
    for path, value in (("idle_window_s", 3.0), ("warmup/max_trials", 6), ("gates/max_trials", 3)):
        _set(doc, path, value)
    assert releases.check(parse(doc), "x") == []
    _set(doc, "sample_period_s", 0.001)
    assert [f.code for f in releases.check(parse(doc), "x")] == ["protocol.sample_period"]


def test_a_release_the_table_does_not_know_is_not_judged_here() -> None:
    doc = _set(synthetic.submission(seed=1, n_measurements=2), "idle_window_s", 3.0)
    for version in ("0.9.0", "0.4"):
        assert releases.check(parse(_relabel(copy.deepcopy(doc), version, "1.5.0")), "x") == []


def test_every_released_collector_has_a_row() -> None:
    table = json.loads((ROOT / "ecocompute" / "reference" / "collectors.json").read_text(encoding="utf-8"))
    assert {r["version"] for r in table["releases"]} == set(releases.RELEASES)
    assert collector.__version__ in releases.RELEASES
    for row in releases.RELEASES.values():
        assert set(row) == set(releases.FIELDS)


def test_the_running_release_writes_what_its_row_says() -> None:
    """The row of this checkout's eco-collect is its code's defaults and option ranges: a change of
    either is a new release, whose row follows."""
    row = releases.RELEASES[collector.__version__]
    plan, request = (
        TrialPlan(),
        RunRequest(model_id="Qwen/Qwen2.5-0.5B-Instruct", precisions=("fp16",), batch_sizes=(1,)),
    )
    constants = {
        "prompt.seed": request.seed,
        "prompt.seeded_tokens": request.prompt_tokens,
        "warmup.min_trials": plan.warmup_min,
        "warmup.max_trials": plan.warmup_max,
        "warmup.settle_pct": plan.settle_pct,
        "idle_window_s": plan.idle_window_s,
        "sample_period_s": request.sample_period_s,
        **{f"gates.{k}": v for k, v in DEFAULT_GATES.as_dict().items() if k != "max_trials"},
        **{f"early_stop.{k}": v for k, v in DEFAULT_EARLY_STOP.as_dict().items() if k != "rule"},
    }
    for name, value in constants.items():
        assert row[name] == releases.Written(values=(value,)), name
    options = {p.name: p.type for p in cli.run.params}
    assert (row["output_tokens"].low, row["output_tokens"].high) == (
        options["output_tokens"].min,
        options["output_tokens"].max,
    )
    assert row["gates.max_trials"].low == options["max_trials"].min
    assert set(constants) | {"output_tokens", "gates.max_trials"} == set(releases.FIELDS)


def test_every_real_file_is_its_releases_protocol() -> None:
    files = sorted((ROOT / "submissions").rglob("*.json"))
    assert len(files) >= 58
    for path in files:
        sub = parse(json.loads(path.read_text(encoding="utf-8")))
        assert releases.written(sub) is not None, path
        assert releases.check(sub, str(path)) == [], path
