"""Fuzz 7: schema-valid files at the schema's edges never crash a rule, and the replay and the run over
files stay linear (a row's every gate window was summarised anew, the early-stop rule read every trial
so far after each trial, and each of N copies of a file listed all the others)."""

from __future__ import annotations

import copy
import hashlib
import json
import time
import tracemalloc
from dataclasses import fields, replace
from functools import cache
from typing import Any

import pytest
import synthetic
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecocompute import domain
from ecocompute.gates import EarlyStop, Gates, ImplausibleAfter, implausible
from validator import replay
from validator.check import Checked, check_data
from validator.fabrication import PRINT_BYTES
from validator.run import cross_file_findings

# --- the early-stop rule asked after every trial ------------------------------------------------------


def _trial(index: int, role: str, requests: int, duration_s: float) -> domain.Trial:
    return domain.Trial.from_dict(
        {
            "index": index,
            "role": role,
            "requests": requests,
            "duration_s": duration_s,
            "generated_tokens": 640 * requests,
            "energy_j": 1000.0,
            "energy_per_gpu_j": [1000.0],
            "power_avg_w": 100.0,
            "power_peak_w": 110.0,
            "power_samples": 200,
            "sample_rate_hz": 20.0,
            "sampler_energy_j": 1000.0,
            "temperature_max_c": 50.0,
            "sm_clock_mhz_mean": 1980.0,
            "mem_clock_mhz_mean": 2619.0,
            "throttle_reasons": [],
            "host": {"cpu_load_1m": None, "cpu_steal_pct": None},
        }
    )


@st.composite
def _rows(draw: Any) -> tuple[list[domain.Trial], Gates, EarlyStop, list[int]]:
    """A row (warm-ups resized at random, sizes changing after them too), gates, a rule, and the prefix
    lengths asked: rising mostly, any order sometimes."""
    warmups = draw(st.integers(0, 4))
    sizes = draw(st.lists(st.integers(1, 3), min_size=0, max_size=30))
    durations = draw(st.lists(st.floats(9.0, 11.0), min_size=len(sizes), max_size=len(sizes)))
    roles = ["warmup" if j < warmups else draw(st.sampled_from(["discarded", "measured"])) for j in range(len(sizes))]
    trials = [_trial(j, r, s, d) for j, (r, s, d) in enumerate(zip(roles, sizes, durations, strict=True))]
    gates = Gates(min_trials=draw(st.integers(2, 6)), throughput_cv_max_pct=draw(st.sampled_from([0.5, 1.0, 2.0])))
    rule = EarlyStop(
        probability_max=draw(st.sampled_from([0.05, 0.3, 0.5])),
        confidence=draw(st.sampled_from([0.5, 0.75, 0.99])),
        evidence_min_trials=draw(st.integers(3, 8)),
    )
    ends = draw(st.lists(st.integers(0, len(trials)), max_size=len(trials) + 1))
    return trials, gates, rule, ends if draw(st.booleans()) else sorted(ends)


@settings(max_examples=60, deadline=None)
@given(case=_rows())
def test_implausible_after_answers_as_implausible_asked_anew(
    case: tuple[list[domain.Trial], Gates, EarlyStop, list[int]],
) -> None:
    trials, gates, rule, ends = case
    asked = ImplausibleAfter(trials, gates, rule)
    for end in ends:
        assert asked(end) == implausible(trials[:end], gates, rule)


class _Counted(domain.Trial):
    """A trial that counts how often its throughput is read (dataclasses.replace keeps the class)."""

    reads = 0

    @property
    def throughput_tok_s(self) -> float:
        _Counted.reads += 1
        return self.generated_tokens / self.duration_s


def _long_row(window: int, gates: dict[str, float]) -> domain.Submission:
    """One row of 300 trials after its warm-ups, drifting in 1 % steps; the last ``window`` measured."""
    doc = synthetic.submission(seed=9, n_measurements=1, n_trials=302)
    doc["protocol"]["gates"].update(max_trials=1000, min_trials=window, **gates)
    m = doc["measurements"][0]
    after = [t for t in m["trials"] if t["role"] != "warmup"]
    for k, t in enumerate(after):
        synthetic.stretch(t, 1 + 0.01 * ((k // 3) % 7))
        t["role"] = "measured" if k >= len(after) - window else "discarded"
    sub = domain.parse(doc)
    counted = tuple(_Counted(**{f.name: getattr(t, f.name) for f in fields(t)}) for t in sub.measurements[0].trials)
    return replace(sub, measurements=(replace(sub.measurements[0], trials=counted),))


@pytest.mark.parametrize(
    ("window", "gates"),
    [
        # every window fails the throughput gate and none makes passing implausible: the early-stop rule
        # at every step read every trial before it (quadratic)
        (5, {"throughput_cv_max_pct": 2.0}),
        # every window is under the throughput gate and fails the power gate: every step summarised its
        # window of 100 trials (a 5-MB file of such rows took 7.5 s)
        (100, {"throughput_cv_max_pct": 100.0, "power_cv_max_pct": 1e-9}),
    ],
)
def test_the_replay_reads_each_throughput_a_bounded_number_of_times(window: int, gates: dict[str, float]) -> None:
    sub = _long_row(window, gates)
    _Counted.reads = 0
    assert replay.check(sub, "long.json") == []
    assert _Counted.reads <= 3 * len(sub.measurements[0].trials)


# --- the run over files ----------------------------------------------------------------------------------


def test_thousands_of_copies_of_one_file_cost_linear_time_over_files() -> None:
    """3,000 copies of one file (one id, identical measurements): each copy listed all the others (4 s)."""
    copies = [
        Checked(f"c/f{k:04d}.json", [], "same-id", ["h0", "h1", "h0"], fingerprints=[b"", b"", b""])
        for k in range(3000)
    ]
    start = time.perf_counter()
    found = cross_file_findings(copies[1:], copies[:1])
    assert time.perf_counter() - start < 1.0
    last = [f.message for f in found if f.file == "c/f2999.json"]
    assert last == [
        "also used by c/f0000.json, c/f0001.json, c/f0002.json, c/f0003.json, c/f0004.json and 2994 more",
        "identical to c/f0000.json#/measurements/0 (copies also at c/f0000.json#/measurements/2, "
        "c/f0001.json#/measurements/0, c/f0001.json#/measurements/2, c/f0002.json#/measurements/0, "
        "c/f0002.json#/measurements/2 and 5992 more)",
        "identical to c/f0000.json#/measurements/1 (copies also at c/f0001.json#/measurements/1, "
        "c/f0002.json#/measurements/1, c/f0003.json#/measurements/1, c/f0004.json#/measurements/1, "
        "c/f0005.json#/measurements/1 and 2993 more)",
    ]


def test_the_fingerprints_over_files_are_sorted_not_held_in_a_dict() -> None:
    """The run over files finds the fingerprints another file holds first by sorting all of them in numpy, the
    file's fingerprints joined in one bytes object a measurement: a dict of every fingerprint (2.7 million at
    100,000 rows) held about 110 bytes each and took a second."""
    n = 200_000
    prints = b"".join(hashlib.sha256(b"%d" % k).digest()[:PRINT_BYTES] for k in range(n))
    shared = prints[PRINT_BYTES * 1234 : PRINT_BYTES * 1235]
    own = hashlib.sha256(b"new").digest()[:PRINT_BYTES]
    accepted = Checked("c/old.json", [], "old-id", ["h0"], fingerprints=[b"", prints])
    candidate = Checked("c/new.json", [], "new-id", ["h1", "h2"], fingerprints=[own, own + shared])
    tracemalloc.start()
    try:
        [found] = cross_file_findings([candidate], [accepted])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (found.code, found.pointer) == ("duplicate.near", "/measurements/1/trials")
    assert found.message.endswith("those of c/old.json: /measurements/1 ~ /measurements/1")
    assert peak < 40 * n  # the prints joined (12 bytes each) and numpy's sort of their first 8


# --- property: a valid file at the schema's edges never crashes a rule -----------------------------------


@cache
def _bounds() -> dict[str, tuple[float, float, bool, bool]]:
    """Per property name: the schema's (lowest, highest, lowest excluded, integer) where it bounds a number."""
    schema = json.loads((ROOT / "schema" / "submission.schema.json").read_text(encoding="utf-8"))
    defs, out = schema["$defs"], {}

    def walk(node: Any, name: str | None) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, None)
        if not isinstance(node, dict):
            return
        if name is not None:
            ref = node.get("$ref", "")
            rule = {**defs.get(ref.rsplit("/", 1)[-1], {}), **node} if ref.startswith("#/$defs/") else node
            kinds = rule.get("type") if isinstance(rule.get("type"), list) else [rule.get("type")]
            low = rule.get("minimum", rule.get("exclusiveMinimum"))
            if low is not None and ("number" in kinds or "integer" in kinds):
                excluded = "minimum" not in rule
                out.setdefault(name, (low, rule.get("maximum", 1e15), excluded, "integer" in kinds))
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for child, below in value.items():
                    walk(below, child)
            else:
                walk(value, name if key == "items" else None)

    walk(schema, None)
    return out


def _edge(draw: Any, bound: tuple[float, float, bool, bool]) -> float | int:
    low, high, excluded, integer = bound
    if integer:
        return draw(st.sampled_from([int(low), int(low) + 1, int(high), int(high) - 1]))
    lowest = 5e-324 if excluded and low == 0 else (low if not excluded else low * (1 + 1e-15))
    return draw(st.sampled_from([lowest, 5e-324 if low <= 0 else lowest, float(high), high * (1 - 1e-15), 1e-300]))


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        return [(at, value)] + [leaf for k, v in value.items() for leaf in _leaves(v, (*at, k))]
    if isinstance(value, list):
        return [(at, value)] + [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*at, i))]
    return [(at, value)]


def _node(doc: Any, at: tuple[Any, ...]) -> Any:
    for key in at:
        doc = doc[key]
    return doc


@st.composite
def _edited(draw: Any) -> dict[str, Any]:
    """A small valid file with a few edits: a number at its schema bound (one trial's, or every trial's of
    a row), a null, a list emptied, repeated, reversed or shuffled, an optional key dropped."""
    doc = _base(draw(st.integers(0, 3)))
    doc = copy.deepcopy(doc)
    bounds = _bounds()
    for _ in range(draw(st.integers(1, 4))):
        leaves = [(at, v) for at, v in _leaves(doc) if at]
        at, value = draw(st.sampled_from(leaves))
        kind = draw(st.sampled_from(["edge", "edge", "row", "null", "list", "drop"]))
        parent, key = _node(doc, at[:-1]), at[-1]
        if kind in ("edge", "row") and isinstance(key, str) and key in bounds and not isinstance(value, bool):
            new = _edge(draw, bounds[key])
            siblings = _node(doc, at[:-2]) if kind == "row" and len(at) > 2 and isinstance(at[-2], int) else [parent]
            for sibling in siblings:
                if isinstance(sibling, dict) and key in sibling:
                    sibling[key] = new
        elif kind == "null":
            parent[key] = None
        elif kind == "list" and isinstance(value, list):
            how = draw(st.sampled_from(["empty", "repeat", "reverse", "shuffle"]))
            if how == "empty":
                value.clear()
            elif how == "repeat" and value:
                value.extend(copy.deepcopy(value[-1:]) * draw(st.integers(1, 40)))
            elif how == "reverse":
                value.reverse()
            elif how == "shuffle":
                value[:] = draw(st.permutations(value))
        elif kind == "drop" and isinstance(key, str):
            del parent[key]
    return doc


@cache
def _base(kind: int) -> dict[str, Any]:
    if kind < 2:
        return synthetic.submission(seed=kind, n_measurements=2, n_trials=8)
    real = sorted((ROOT / "submissions").rglob("*.json"))
    return json.loads(real[-kind].read_text(encoding="utf-8"))


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(doc=_edited())
def test_a_valid_file_at_the_schemas_edges_never_crashes_a_rule(doc: dict[str, Any]) -> None:
    start = time.perf_counter()
    findings = check_data(doc, "edited.json", repo_path=None)
    assert time.perf_counter() - start < 1.0
    assert [f.message for f in findings.findings if f.code == "validator.internal_error"] == []


def test_the_edits_reach_the_rules() -> None:
    """Not vacuous: the schema bounds are read (every bounded number of a trial), and an edit at one is
    judged by the rules, not stopped at the schema."""
    bounds = _bounds()
    assert {"duration_s", "power_samples", "sample_rate_hz", "started_at_s", "cpu_load_1m"} <= bounds.keys()
    doc = copy.deepcopy(_base(0))
    for t in doc["measurements"][0]["trials"]:
        t["sample_rate_hz"] = 5e-324
    codes = {f.code for f in check_data(doc, "edited.json").findings}
    assert "schema.violation" not in codes and "validator.internal_error" not in codes
    assert codes
