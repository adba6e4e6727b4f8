"""physics.precision_twins (attack v27 N2): twin precisions (bf16 and fp16, fp4 and nf4, nf4-dq and nf4) of one
model, weights, engine, batch and placement, their trials alternating in time (an interleaved run), decode at one
speed: the median ratio of trials next to each other within 1.25 x (fp4 against nf4 both ways; bf16 and nf4-dq
may be slower: pre-Ampere bf16 is emulated, double quantisation adds work)."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
import synthetic

from ecocompute import domain
from validator import precisions
from validator.check import check_data

CODE = "physics.precision_twins"
LABELS = {  # precision: (synthetic's precision, quantization edits)
    "fp16": ("fp16", {}),
    "bf16": ("fp16", {"torch_dtype": "bfloat16"}),
    "nf4": ("nf4", {}),
    "fp4": ("nf4", {"bnb_4bit_quant_type": "fp4"}),
    "nf4-dq": ("nf4", {"bnb_4bit_use_double_quant": True}),
}


def _row(precision: str, seed: int, speed: tuple[float, float] | None = None) -> dict[str, Any]:
    base, edits = LABELS[precision]
    m = synthetic.measurement(random.Random(seed), synthetic.MODELS[0], base, 1, 64, 7, speed=speed)
    m["precision"] = precision
    m["quantization"].update(edits)
    return m


def _twins(precision: str, twin: str, factor: float, *, alternate: bool = True) -> dict[str, Any]:
    """A file of ``twin`` and ``precision`` at batch 1, ``precision`` decoding ``factor`` x the twin's tok/s at its
    power; measured together (every warm-up, then one trial of each in turn, one idle window before and after) or,
    with ``alternate`` false, one after the other with idle windows of their own."""
    doc = synthetic.submission(seed=31, n_measurements=1, n_trials=7)
    reference = _row(twin, 32)
    summary = reference["summary"]
    row = _row(precision, 33, (factor * summary["throughput_tok_s_mean"], summary["power_w_mean"]))
    doc["measurements"] = [reference, row]
    if alternate:
        row["idle"] = copy.deepcopy(reference["idle"])
        synthetic.resummarize(row)
        doc["protocol"]["interleaved"] = True
        order = [t for m in doc["measurements"] for t in m["trials"] if t["role"] == "warmup"]
        after = [[t for t in m["trials"] if t["role"] != "warmup"] for m in doc["measurements"]]
        order += [t for pair in zip(*after, strict=True) for t in pair]
    else:
        order = [t for m in doc["measurements"] for t in m["trials"]]
    clock = synthetic.IDLE_WINDOW_S + 1.0
    for k, t in enumerate(order):
        if not alternate and k == len(reference["trials"]):
            clock += 2 * synthetic.IDLE_WINDOW_S + 1.0  # the idle windows after the first row, before the second
        t["started_at_s"] = clock
        clock += t["duration_s"] + 0.004
    return doc


def _codes(doc: dict[str, Any]) -> list[str]:
    return [f.code for f in check_data(doc, "x.json").findings if f.severity == "error"]


@pytest.mark.parametrize(
    ("precision", "twin", "factor", "rejected"),
    [
        ("bf16", "fp16", 1.0, False),
        ("bf16", "fp16", 1.2, False),
        ("bf16", "fp16", 1.3, True),
        ("bf16", "fp16", 1.6, True),  # attack v27 N2
        ("bf16", "fp16", 0.5, False),  # bf16 emulated before Ampere: slower is no fault
        ("fp4", "nf4", 1.3, True),
        ("fp4", "nf4", 0.75, True),  # one kernel, another table: both ways
        ("fp4", "nf4", 0.85, False),
        ("nf4-dq", "nf4", 1.3, True),
        ("nf4-dq", "nf4", 0.7, False),  # double quantisation adds work
    ],
)
def test_twins_measured_together(precision: str, twin: str, factor: float, rejected: bool) -> None:
    codes = _codes(_twins(precision, twin, factor))
    assert (CODE in codes) is rejected, codes
    if not rejected and factor >= 0.8:
        assert codes == []  # the file is otherwise valid: the fault is the speed alone


def test_twins_measured_one_after_the_other_are_not_judged() -> None:
    # a host-bound engine's speed may honestly drift between two rows measured minutes apart
    assert CODE not in _codes(_twins("bf16", "fp16", 1.6, alternate=False))


def _judged(doc: dict[str, Any]) -> bool:
    """Whether physics.precision_twins fires on the file (the rule alone: the edits below need not keep the rest
    of the file valid)."""
    return any(f.code == CODE for f in precisions.check(domain.parse(doc), "x.json"))


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(batch_size=8),  # a twin is of the same batch ...
        lambda m: m["engine"].update(name="generate-static", cache_implementation="static"),  # ... engine ...
        lambda m: m.update(placement={"strategy": "device_map", "device_map": {"model.layers.0": 0, "lm_head": 1}}),
        lambda m: m["model"].update(weights="random"),  # ... and weights
    ],
)
def test_rows_of_another_batch_engine_placement_or_weights_are_no_twins(edit: Any) -> None:
    doc = _twins("bf16", "fp16", 1.6)
    assert _judged(doc)
    edit(doc["measurements"][1])
    assert not _judged(doc)


def test_one_slow_trial_of_the_twin_does_not_decide() -> None:
    # the median of the adjacent ratios, not their mean or largest: a host hiccup halving one fp16 trial's speed
    # doubles one of bf16's five ratios (each bf16 trial is compared with the fp16 trial just before it here)
    doc = _twins("bf16", "fp16", 1.2)
    fp16 = [t for t in doc["measurements"][0]["trials"] if t["role"] != "warmup"]
    fp16[2]["duration_s"] *= 2
    assert not _judged(doc)
    fp16[3]["duration_s"] *= 2
    fp16[4]["duration_s"] *= 2
    assert _judged(doc)  # three of five: the median moves
