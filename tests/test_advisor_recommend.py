"""eco-advise's recommendation on the synthetic sweeps (synthetic_sweeps): what it picks, the rows it
quotes, what it says without a close match, its JSON, and the parsing of what users type."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest
import synthetic_sweeps as sw
from hypothesis import given
from hypothesis import strategies as st

from advisor import advise, analysis, data, render, text
from advisor.advise import AdviceError, Query
from advisor.analysis import Analysis

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def found(advisor_build: Path) -> Analysis:
    return analysis.analyse(data.load(advisor_build))


def test_recommends_the_least_energy_configuration_and_quotes_its_rows(found: Analysis) -> None:
    advice = advise.recommend(found, Query("H100", 7e9))
    best = advice.recommendation
    assert advice.gpu_name == sw.H100 and best is not None
    # 7.6 B is nearest; nf4 saves there ((7.6/4)^-0.16 = 0.90) and batch 8 is cheapest per token
    assert (best.model_id, best.precision, best.engine, best.batch_size) == (
        "Qwen/Qwen2.5-7B-Instruct",
        "nf4",
        "generate",
        8,
    )
    assert best.energy_per_token.log == min(c.energy_per_token.log for c in advice.ranked)
    lo, hi = best.vs_fp16.interval()
    assert hi < 1 and lo < (7615616512 / 4e9) ** -0.16 < hi
    runner = advice.ranked[1]
    assert runner.precision == "fp16" and advice.margin.interval()[0] > 1  # distinguishable
    assert [c.batch_size for c in advice.best_per_batch] == [1, 8]
    assert [c.model_id for c in advice.also_close] == ["01-ai/Yi-1.5-6B-Chat"]
    rows = render.evidence(advice)
    reference = found.ratios[best.measurement_ids[0]].reference_id
    assert [r["measurement_id"] for r in rows][:2] == [best.measurement_ids[0], reference]
    assert all(r["status"] == "ok" and r["energy_per_token_j"]["low"] < r["energy_per_token_j"]["value"] for r in rows)
    assert {f.curve.precision for f in advice.fits} == {"int8", "nf4"} and all(f.at for f in advice.fits)


def test_small_model_keeps_fp16(found: Analysis) -> None:
    advice = advise.recommend(found, Query("NVIDIA H100 80GB HBM3", 1.1e9, batch_size=1))
    best = advice.recommendation
    assert (best.precision, best.batch_size, best.vs_fp16) == ("fp16", 1, None)
    assert advice.ranked[1].precision == "nf4" and advice.margin.interval()[0] > 1.1  # nf4 costs ~23 % there
    assert advice.best_per_batch == ()  # the batch size was fixed


def test_engine_filter_and_gate_failed_rows(found: Analysis, advisor_build: Path) -> None:
    advice = advise.recommend(found, Query("RTX 4090", 3e9, engine="generate"))
    assert advice.gpu_name == sw.RTX4090 and {c.engine for c in advice.ranked} == {"generate"}
    plain = advise.recommend(found, Query("H100", 3e9, batch_size=1))
    assert {c.precision for c in plain.ranked} == {"fp16", "int8"} and plain.notes == ()
    widened = analysis.analyse(data.load(advisor_build), include_gate_failed=True)
    loose = advise.recommend(widened, Query("H100", 3e9, batch_size=1))
    assert "nf4" in {c.precision for c in loose.ranked}
    assert any("gate_failed" in n for n in loose.notes)
    assert "gate_failed" in render.render_text(loose)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (Query("H100", 70e9), ["14.8 B (Qwen/Qwen2.5-14B-Instruct)", "Not extrapolated"]),
        (Query("L4", 7e9), ["no measurement on NVIDIA L4"]),
        (Query("H100", 7e9, engine="cuda-graph"), ["engines generate; batch sizes 1, 8"]),
        (Query("Quadro 9000", 7e9), ["no GPU called 'Quadro 9000'"]),
        (Query("RTX 5090", 1.5e9), ["only legacy rows"]),
    ],
)
def test_no_close_match_says_why(found: Analysis, query: Query, says: list[str]) -> None:
    advice = advise.recommend(found, query)
    assert advice.recommendation is None and advice.ranked == ()
    for phrase in says:
        assert phrase in advice.no_close_match
    out = render.render_text(advice)
    assert "No close match:" in out and "Recommendation:" not in out
    assert json.loads(render.json_text(advice))["recommendation"] is None


def test_between_sizes_only_the_fit_interpolates(found: Analysis) -> None:
    """5 B on the RTX 4090 lies between 3.09 B and 7.6 B: no measured row within 1.2x, so no
    recommendation, but each fit whose sizes contain 5 B gives its ratio there, labelled as a fit."""
    advice = advise.recommend(found, Query("RTX 4090", 5e9, max_params_ratio=1.2))
    assert advice.recommendation is None
    assert {(f.curve.engine, f.curve.precision) for f in advice.fits} == {
        (e, p) for e in ("generate", "cuda-graph") for p in ("nf4", "int8-pure")
    }
    nf4 = next(f for f in advice.fits if f.curve.precision == "nf4" and f.curve.engine == "generate")
    assert nf4.at.interval()[1] < 1  # past the crossover: saves
    assert "Fits on this GPU" in render.render_text(advice)


def test_json_answer_for_tools(found: Analysis) -> None:
    advice = advise.recommend(found, Query("H100", 7e9))
    text = render.json_text(advice)
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=2, sort_keys=True)  # keys sorted at every level (review32 F11)
    assert doc["gpu_name"] == sw.H100 and doc["statuses_used"] == ["ok"]
    rec = doc["recommendation"]
    assert rec["precision"] == "nf4" and rec["statuses"] == ["ok"]
    assert all(HEX64.match(i) for i in rec["measurement_ids"])
    assert rec["energy_vs_fp16"]["low"] < rec["energy_vs_fp16"]["value"] < rec["energy_vs_fp16"]["high"] < 1
    assert doc["evidence"][0]["fp16_reference_id"] == doc["evidence"][1]["measurement_id"]
    assert "delta method" in doc["method"] and "factor of 1.5" in doc["close_match_rule"]
    nf4 = next(f for f in doc["fits"] if f["precision"] == "nf4")
    assert nf4["crossover"]["kind"] == "crossover" and nf4["crossover"]["low"] < 4e9 < nf4["crossover"]["high"]
    assert doc["legacy"]["ratios"] == []


def test_echoed_text_is_escaped(found: Analysis) -> None:
    advice = advise.recommend(found, Query("H100\x1b[2J\u202e", 7e9))
    out = render.render_text(advice)
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b" in out


@given(st.floats(1.0, 1e13, allow_nan=False), st.sampled_from(["", "k", "M", "B", "b", "T"]))
def test_parameter_counts_parse(value: float, suffix: str) -> None:
    scale = {"": 1, "k": 1e3, "M": 1e6, "B": 1e9, "b": 1e9, "T": 1e12}[suffix]
    assert advise.parse_params(f"{value!r}{suffix}") == pytest.approx(value * scale)


@given(st.text(max_size=40))
def test_parameter_count_parser_rejects_cleanly(value: str) -> None:
    try:
        count = advise.parse_params(value)
    except AdviceError as exc:
        assert "\x1b" not in str(exc)
    else:
        assert math.isfinite(count) and count >= 1


@given(st.text(max_size=30))
def test_gpu_resolution_never_crashes(query: str) -> None:
    names = [sw.H100, sw.RTX4090, "NVIDIA GeForce RTX 4090 D", "NVIDIA A800 80GB"]
    try:
        got = advise.resolve_gpu(query, names)
    except AdviceError:
        return
    assert got is None or got in names


def test_gpu_names_resolve_by_exact_then_suffix_then_part() -> None:
    names = [sw.RTX4090, "NVIDIA GeForce RTX 4090 D", sw.H100]
    assert advise.resolve_gpu("rtx 4090", names) == sw.RTX4090  # the one ending with it
    assert advise.resolve_gpu("RTX 4090D", names) == "NVIDIA GeForce RTX 4090 D"
    assert advise.resolve_gpu("h100", names) == sw.H100
    assert advise.resolve_gpu("nvidia geforce rtx 4090", names) == sw.RTX4090
    assert advise.resolve_gpu("A100", names) is None
    with pytest.raises(AdviceError, match="matches several GPUs"):
        advise.resolve_gpu("GeForce", names)
    with pytest.raises(AdviceError, match="empty"):
        advise.resolve_gpu(" - ", names)


def test_legacy_rows_are_quoted_beside_flagged_never_used(found: Analysis) -> None:
    """No validated row on an RTX 5090: no recommendation, but the researcher's table is shown,
    labelled legacy: nf4 costs 25-30 % at 1.1-1.5 B there."""
    advice = advise.recommend(found, Query("RTX 5090", 1.5e9))
    assert advice.recommendation is None and advice.gpu_name == "NVIDIA GeForce RTX 5090"
    doc = json.loads(render.json_text(advice))
    ratios = doc["legacy"]["ratios"]
    assert [r["parameter_count"] for r in ratios] == [1.1e9, 1.5e9]
    for r in ratios:
        assert r["source"] == "legacy" and r["status"] == "legacy" and r["precision"] == "nf4"
        assert 1.2 < r["energy_vs_fp16"]["low"] < r["energy_vs_fp16"]["value"] < r["energy_vs_fp16"]["high"] < 1.35
    assert "never used" in doc["legacy"]["note"] and doc["evidence"] == []
    out = render.render_text(advice)
    assert "Legacy (not validated; shown beside, never used above):" in out
    assert "published-aggregate-003 Qwen/Qwen2-1.5B-Instruct 1.5 B nf4 b1 (gross energy): vs fp16 +29.4 %" in out


def test_the_gpus_listed_when_none_matches_are_bounded(found: Analysis) -> None:
    """A dataset (any Hub repository --dataset names) may hold any number of GPU names, each up to the
    length Parquet allows: the line listed every one of them, whole (attack d2 #8)."""
    many = [{**found.measurements[0], "gpu_name": f"GPU {i:05d} " + "x" * 5000} for i in range(500)]
    advice = advise.recommend(
        dataclasses.replace(found, measurements=[*found.measurements, *many]), Query("Quadro 9000", 7e9)
    )
    assert advice.recommendation is None and len(advice.no_close_match) < 3000
    assert re.search(r"GPU 00019 x+\.\.\. and [0-9]{3} more$", advice.no_close_match)


def test_text_answer_says_gross_and_tells_a_sequence_from_a_request(found: Analysis) -> None:
    """The card's J/request (energy_per_request_j) is one decoding of the whole batch; the answer's
    per-sequence figure is named as such, beside the per-request one, so the two never read as one."""
    advice = advise.recommend(found, Query("H100", 7e9))
    best = advice.recommendation
    assert best is not None and best.batch_size > 1
    out = render.render_text(advice)
    per_sequence = f"{text.number(best.energy_per_sequence_j)} J per sequence of {best.output_tokens} tokens"
    per_request = f"{text.number(best.energy_per_sequence_j * best.batch_size)} J per request of {best.batch_size}"
    assert per_sequence in out and per_request in out and "gross" in out


def test_the_request_figure_names_the_row_it_is_or_says_it_is_pooled(found: Analysis) -> None:
    """One row: the figure is that row's energy_per_request_j (the card's J/request). Several rows of one
    configuration: it is their pooled estimate, which no row states; it no longer claims to be the dataset's
    figure (review38 F8)."""
    advice = advise.recommend(found, Query("H100", 7e9))
    best = advice.recommendation
    assert best is not None and len(best.measurement_ids) == 1
    row = next(m for m in found.measurements if m["measurement_id"] == best.measurement_ids[0])
    assert math.isclose(best.energy_per_sequence_j * best.batch_size, row["energy_per_request_j"], rel_tol=1e-6)
    assert f"J per request of {best.batch_size} (the dataset's energy_per_request_j)" in render.render_text(advice)
    other = advice.ranked[1].measurement_ids[0]  # any row of the analysis: evidence() quotes it
    pooled = dataclasses.replace(best, measurement_ids=(*best.measurement_ids, other))
    out = render.render_text(dataclasses.replace(advice, ranked=(pooled, *advice.ranked[1:])))
    assert "(the dataset's energy_per_request_j)" not in out
    assert f"J per request of {best.batch_size} (pooled over 2 rows; each states its own energy_per_request_j)" in out
