"""Attack v28: an attention implementation eco-collect never asks for (A1); a trial copied and nudged (R1).

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
import synthetic

from collector.models import ModelSource
from ecocompute import domain
from validator import copies, engines
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


# R1: a trial copied from another and nudged. The same trial twice was found by its key (6 significant digits of
# duration, energy and power), which a copy crosses once its energy moves by a few mJ.
def _nudged(doc: dict[str, Any], row: int, source: tuple[int, int], rel: float, energy_j: float = 0.011) -> None:
    """Trial 6 of ``row`` replaced by trial ``source`` (row, place), start kept, duration and power moved by ``rel``,
    energy by ``energy_j``; the row's summary recomputed."""
    m = doc["measurements"][row]
    a, t = doc["measurements"][source[0]]["trials"][source[1]], m["trials"][6]
    copied = {**copy.deepcopy(a), "index": 6, "started_at_s": t["started_at_s"], "role": t["role"]}
    copied.update(duration_s=a["duration_s"] * (1 + rel), power_avg_w=a["power_avg_w"] * (1 - rel))
    copied["energy_j"] = round(a["energy_j"] + energy_j, 3)
    copied["energy_per_gpu_j"] = [copied["energy_j"]]
    copied["sampler_energy_j"] = copied["power_avg_w"] * copied["duration_s"]
    copied["sample_rate_hz"] = copied["power_samples"] / copied["duration_s"]
    m["trials"][6] = copied
    synthetic.resummarize(m)


@pytest.mark.parametrize("rel", [0.0, 1e-9, 5e-8])
def test_a_trial_copied_and_nudged_is_the_same_trial_twice(rel: float) -> None:
    doc = _doc(GRAPHS)
    _nudged(doc, 0, (0, 5), rel)
    assert _errors(doc) == {("fabrication.repeated_trials", "/measurements/0/trials/6")}


def test_a_nudged_copy_of_another_row_s_trial_is_found() -> None:
    doc = _doc(SEQUENTIAL)
    row = next(i for i, m in enumerate(doc["measurements"]) if i > 0 and len(m["trials"]) > 6)
    doc["measurements"][row]["batch_size"] = doc["measurements"][0]["batch_size"]  # however the copy got there
    _nudged(doc, row, (0, 4), 3e-8)
    assert ("fabrication.repeated_trials", f"/measurements/{row}/trials/6") in _errors(doc)


def test_trials_apart_by_more_than_the_bound_are_not_judged_copies() -> None:
    doc = _doc(GRAPHS)
    _nudged(doc, 0, (0, 5), 3e-7)
    assert not {code for code, _ in _errors(doc) if code == "fabrication.repeated_trials"}


def test_the_bound_shrinks_with_the_pairs_of_trials() -> None:
    assert copies.near_copy_rel(7) == copies.near_copy_rel(100) == copies.NEAR_COPY_REL
    assert copies.near_copy_rel(2000) == pytest.approx(copies.NEAR_COPY_REL * (4950 / 1_999_000) ** 0.5)


def test_a_millisecond_clock_s_repeating_durations_are_not_judged() -> None:
    doc = _doc(GRAPHS)
    doc["environment"]["host"]["os"], doc["environment"]["software"]["python"] = "Windows 11", "3.12.3"
    _nudged(doc, 0, (0, 5), 1e-9)
    assert not {code for code, _ in _errors(doc) if code == "fabrication.repeated_trials"}


def test_the_closest_honest_trials_lie_far_outside_the_bound() -> None:
    found = []
    for path in sorted(REAL.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        sub = domain.parse(doc)
        cells: dict[Any, Any] = {}
        for i, m in enumerate(sub.measurements):
            raws = [(t.duration_s, t.energy_j, t.power_avg_w) for t in m.trials]
            found.append(copies.near_copy(copies.logs_of(raws), i, cells, 100 * copies.NEAR_COPY_REL))
    assert found and not any(found)


# R2: a row made from another's trials rescaled, each value nudged below any sensor's noise. duplicate.near's
# fingerprints (ratios to 9 and 12 significant digits) no longer matched.
def _rescaled_from(doc: dict[str, Any], source: int, target: int, rel: float, start: int = 0) -> None:
    """Row ``target``'s trials from ``start`` on made from row ``source``'s (durations x 1.02, powers x 0.97, each
    moved by up to ``rel``), their energies and the sampler's readings following."""
    a_row, b_row = doc["measurements"][source], doc["measurements"][target]
    for k, (a, b) in enumerate(zip(a_row["trials"], b_row["trials"][start:], strict=False)):
        b["duration_s"] = a["duration_s"] * 1.02 * (1 + (k % 3 - 1) * rel)
        b["power_avg_w"] = a["power_avg_w"] * 0.97 * (1 - (k % 2) * rel)
        b["energy_j"] = round(b["duration_s"] * b["power_avg_w"] * a["energy_j"] / a["sampler_energy_j"], 3)
        b["energy_per_gpu_j"] = [b["energy_j"]]
        b["sampler_energy_j"] = b["power_avg_w"] * b["duration_s"]
        b["sample_rate_hz"] = b["power_samples"] / b["duration_s"]
    synthetic.resummarize(b_row)


@pytest.mark.parametrize("rel", [1e-9, 5e-8])
def test_a_row_rescaled_from_another_and_nudged_is_a_near_duplicate(rel: float) -> None:
    doc = _doc(GRAPHS)
    _rescaled_from(doc, 0, 2, rel)
    found = {(code, pointer) for code, pointer in _errors(doc) if code in ("duplicate.near", "fabrication.too_regular")}
    assert found == {("duplicate.near", "/measurements/2/trials/0")}


def test_trials_rescaled_from_their_own_row_are_made() -> None:
    doc = _doc(GRAPHS)
    row = doc["measurements"][0]
    copied = copy.deepcopy(row)
    _rescaled_from({"measurements": [copied, row]}, 0, 1, 1e-9, start=4)  # trials 4-6 from trials 0-2
    assert ("fabrication.too_regular", "/measurements/0/trials/4") in _errors(doc)


def test_steps_apart_by_more_than_the_bound_are_not_judged_rescaled() -> None:
    doc = _doc(GRAPHS)
    _rescaled_from(doc, 0, 2, 1e-6)
    assert not {code for code, _ in _errors(doc) if code in ("duplicate.near", "fabrication.too_regular")}


def _over_real_files(rule: Any) -> list[Any]:
    """``rule`` (copies.rescaled_copy or shuffled_copy) over each real file's rows in turn, at 100 x its bound."""
    found = []
    for path in sorted(REAL.glob("*.json")):
        sub = domain.parse(json.loads(path.read_text(encoding="utf-8")))
        cells: dict[Any, Any] = {}
        for i, m in enumerate(sub.measurements):
            raws = [(t.duration_s, t.energy_j, t.power_avg_w) for t in m.trials]
            found.append(rule(copies.logs_of(raws), i, cells, 100 * copies.RESCALED_REL))
    return found


def test_the_closest_honest_steps_lie_far_outside_the_bound() -> None:
    found = _over_real_files(copies.rescaled_copy)
    assert found and not any(found)


def test_a_crowded_cell_keeps_its_cap_and_equal_values_are_left_to_other_rules() -> None:
    # durations alike, powers in a geometric progression: every step falls in one cell; equal values give no step
    raws = [(4.0 + 1e-3 * (k % 2), 0.0, 500.0 * 1.001**k) for k in range(50)]
    cells: dict[Any, Any] = {}
    assert copies.rescaled_copy(copies.logs_of(raws), 0, cells, copies.RESCALED_REL) is not None
    assert all(len(kept) <= copies.CELL_CAP for kept in cells.values())
    assert copies.rescaled_copy(copies.logs_of([(4.0, 0.0, 500.0)] * 10), 1, {}, copies.RESCALED_REL) is None


def test_a_row_rescaled_from_another_in_another_order_is_a_near_duplicate() -> None:
    doc = _doc(GRAPHS)
    row = doc["measurements"][0]
    source = copy.deepcopy(row)
    source["trials"] = [source["trials"][k] for k in (3, 0, 5, 1, 6, 2, 4)]  # no three in the source's order
    _rescaled_from({"measurements": [source, doc["measurements"][2]]}, 0, 1, 1e-9)
    assert ("duplicate.near", "/measurements/2/trials") in _errors(doc)  # beside what the shuffled roles break


def test_the_closest_honest_sorted_gaps_lie_far_outside_the_bound() -> None:
    found = _over_real_files(copies.shuffled_copy)
    assert found and not any(found)
