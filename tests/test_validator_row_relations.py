"""Relations between the rows of one file: a larger batch's power (attack v14 U1) and LLM.int8() against
int8-pure (attack v11 U2)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from ecocompute import catalogue, domain
from ecocompute.domain import Submission
from validator import physics, precisions, scaling

ROOT = Path(__file__).resolve().parents[1]

VALID = FIXTURES / "valid" / "synthetic-two-measurements.json"

Row = tuple[int, float, float]  # (batch, tok/s in all, W)


def _rows(doc: dict[str, Any], rows: list[Row], precision: str = "fp16", engine: str | None = None) -> Submission:
    """The document's first measurement once per (batch, tok/s in all, W) of ``rows``, its summary alone
    changed; a throughput that scales with the batch keeps physics.batch_scaling and batch_throughput quiet."""
    sub = domain.parse(doc)
    m = sub.measurements[0]
    assert m.summary is not None
    named = m.engine if engine is None else replace(m.engine, name=engine)
    return replace(
        sub,
        measurements=tuple(
            replace(
                m,
                precision=precision,
                batch_size=b,
                engine=named,
                summary=replace(m.summary, throughput_tok_s_mean=t, power_w_mean=w),
            )
            for b, t, w in rows
        ),
    )


def _flagged(sub: Submission, code: str = "physics.batch_power") -> set[int]:
    return {int(f.pointer.split("/")[2]) for f in physics.check(sub, "f.json") if f.code == code}


@pytest.mark.parametrize(("ratio", "rejected"), [(0.81, False), (0.79, True), (0.62, True)])
def test_a_larger_batch_draws_no_much_less_power(valid_doc: dict[str, Any], ratio: float, rejected: bool) -> None:
    # attack v14 U1: batch 8's power and energies x 0.6 drew 0.62 x batch 1's, and passed
    assert bool(_flagged(_rows(valid_doc, [(1, 30.0, 250.0), (8, 200.0, ratio * 250.0)]))) is rejected


def test_the_power_finding_says_what_and_where(valid_doc: dict[str, Any]) -> None:
    found = physics.check(_rows(valid_doc, [(1, 30.0, 250.0), (8, 200.0, 150.0)]), "f.json")
    (f,) = [f for f in found if f.code == "physics.batch_power"]
    assert f.pointer == "/measurements/1/summary/power_w_mean"
    assert "batch 8 draws 150.0 W, 0.60 x the 250.0 W of batch 1 (/measurements/0" in f.message
    assert "never scale one row's power" in f.as_dict()["fix"]


def test_the_hungriest_smaller_batch_is_the_yardstick(valid_doc: dict[str, Any]) -> None:
    # batch 16 at 0.77 x batch 8's power, though above batch 1's
    rows = [(1, 30.0, 200.0), (8, 200.0, 300.0), (16, 380.0, 230.0)]
    assert _flagged(_rows(valid_doc, rows)) == {2}


def test_only_batches_up_to_8_are_power_yardsticks(valid_doc: dict[str, Any]) -> None:
    # beyond batch 8 a step may be bound by arithmetic, or by an allocator that synchronises: not a yardstick
    assert _flagged(_rows(valid_doc, [(1, 30, 200.0), (8, 200, 300.0), (64, 1500, 400.0), (128, 2800, 310.0)])) == set()
    assert _flagged(_rows(valid_doc, [(1, 30, 200.0), (8, 200, 300.0), (64, 1500, 400.0), (128, 2800, 230.0)])) == {3}


def test_power_is_compared_within_one_engine_and_precision(valid_doc: dict[str, Any]) -> None:
    # generate()'s host overhead leaves the board idle part of a step: a CUDA graph's batch 1 is no yardstick
    graph = _rows(valid_doc, [(1, 60.0, 400.0)], engine="cuda-graph")
    plain = _rows(valid_doc, [(8, 200.0, 200.0)])
    assert _flagged(replace(graph, measurements=graph.measurements + plain.measurements)) == set()
    fp16 = _rows(valid_doc, [(1, 30.0, 400.0)])
    int8 = _rows(valid_doc, [(8, 90.0, 200.0)], precision="int8")
    assert _flagged(replace(fp16, measurements=fp16.measurements + int8.measurements)) == set()


def _paced_and(doc: dict[str, Any], paced: Row, other: Row, engine: str) -> Submission:
    """A generate() row and a row of ``engine`` of the same model, weights and precision."""
    first, second = _rows(doc, [paced]), _rows(doc, [other], engine=engine)
    return replace(first, measurements=first.measurements + second.measurements)


@pytest.mark.parametrize("engine", ["cuda-graph", "generate-static"])
def test_generates_smaller_batches_are_yardsticks_for_every_engine(valid_doc: dict[str, Any], engine: str) -> None:
    # attack v18 E2: the scaled row relabelled to an engine with no smaller batch of its own passed; generate()'s
    # host paces its steps, and a captured or compiled step of more sequences leaves the board no less busy
    assert _flagged(_paced_and(valid_doc, (1, 30.0, 250.0), (8, 200.0, 0.6 * 250.0), engine)) == {1}
    assert _flagged(_paced_and(valid_doc, (1, 30.0, 250.0), (8, 200.0, 0.81 * 250.0), engine)) == set()
    (f,) = [
        f
        for f in physics.check(_paced_and(valid_doc, (1, 30.0, 250.0), (8, 200.0, 150.0), engine), "f.json")
        if f.code == "physics.batch_power"
    ]
    assert "(/measurements/0: same model, weights and precision on generate, whose host paces the board)" in f.message


def test_generate_is_no_yardstick_at_the_same_batch_or_above_8(valid_doc: dict[str, Any]) -> None:
    assert _flagged(_paced_and(valid_doc, (8, 200.0, 250.0), (8, 200.0, 150.0), "cuda-graph")) == set()
    assert _flagged(_paced_and(valid_doc, (16, 400.0, 250.0), (32, 800.0, 150.0), "cuda-graph")) == set()
    # and no other engine is one for generate()
    graph, plain = _rows(valid_doc, [(1, 60.0, 400.0)], engine="cuda-graph"), _rows(valid_doc, [(8, 200.0, 200.0)])
    assert _flagged(replace(graph, measurements=graph.measurements + plain.measurements)) == set()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 4, 8, 16, 32]), st.floats(1.0, 1000.0, allow_nan=False)),
        min_size=1,
        max_size=8,
    )
)
def test_batch_power_flags_exactly_the_rows_below_a_smaller_batch(rows: list[tuple[int, float]]) -> None:
    """Against the quadratic definition (throughput growing with the batch: only power decides)."""
    valid_doc = json.loads(VALID.read_text(encoding="utf-8"))
    expected = {
        i
        for i, (b, w) in enumerate(rows)
        if any(b0 < b and b0 <= 8 and w < scaling.BATCH_POWER_MIN * w0 for b0, w0 in rows)
    }
    assert _flagged(_rows(valid_doc, [(b, 30.0 * b, w) for b, w in rows])) == expected


def _int8_pair(doc: dict[str, Any], ratio: float, **other: Any) -> Submission:
    """int8-pure at 16 tok/s and int8 at ``ratio`` x that, batch 1; ``other``: the int8 row's batch_size or engine."""
    pure = _rows(doc, [(1, 16.0, 200.0)], precision="int8-pure")
    mixed = _rows(doc, [(other.get("batch_size", 1), ratio * 16.0, 190.0)], "int8", other.get("engine"))
    return replace(pure, measurements=pure.measurements + mixed.measurements)


def _int8_flagged(sub: Submission) -> set[int]:
    return {int(f.pointer.split("/")[2]) for f in precisions.check(sub, "f.json") if f.code == "physics.int8_outliers"}


@pytest.mark.parametrize(("ratio", "rejected"), [(0.57, False), (1.0, False), (1.09, False), (1.11, True), (1.7, True)])
def test_llm_int8_decodes_no_faster_than_int8_pure(valid_doc: dict[str, Any], ratio: float, rejected: bool) -> None:
    # attack v11 U2: int8 and int8-pure rows' labels swapped (int8 1.3-1.7 x faster) passed
    assert bool(_int8_flagged(_int8_pair(valid_doc, ratio))) is rejected


def test_int8_is_compared_at_its_batch_and_engine_only(valid_doc: dict[str, Any]) -> None:
    assert _int8_flagged(_int8_pair(valid_doc, 1.7, batch_size=8)) == set()
    assert _int8_flagged(_int8_pair(valid_doc, 1.7, engine="generate-static")) == set()


def test_the_int8_finding_says_what_and_where(valid_doc: dict[str, Any]) -> None:
    (f,) = precisions.check(_int8_pair(valid_doc, 1.5), "f.json")
    assert f.pointer == "/measurements/1/summary/throughput_tok_s_mean"
    assert "int8 (LLM.int8(), outlier threshold 6) decodes 24.0 tok/s, 1.50 x the 16.0 tok/s of int8-pure" in f.message
    assert "(/measurements/0: same model, weights and engine)" in f.message


def test_the_labels_differ_in_the_outlier_threshold_only() -> None:
    """The rule's premise: the same 8-bit load, int8 with outlier decomposition, int8-pure without."""
    mixed = catalogue.PRECISIONS[precisions.LLM_INT8].bnb_kwargs()
    pure = catalogue.PRECISIONS[precisions.INT8_PURE].bnb_kwargs()
    assert mixed.pop("llm_int8_threshold") > 0 and pure.pop("llm_int8_threshold") == 0 and mixed == pure


@pytest.mark.parametrize(
    ("engine", "status", "rejected"), [("cuda-graph", "ok", True), ("cuda-graph", "skipped", False)]
)
def test_llm_int8_is_never_replayed_from_a_cuda_graph(
    valid_doc: dict[str, Any], engine: str, status: str, rejected: bool
) -> None:
    # attack v18: the int8 row relabelled cuda-graph (token check by hand) left int8_outliers no yardstick
    sub = _int8_pair(valid_doc, 1.5, engine=engine)
    spec = catalogue.ENGINES[engine]
    mixed = sub.measurements[1]
    graphed = replace(mixed, status=status, engine=replace(mixed.engine, cuda_graph=spec.cuda_graph))
    found = precisions.check(replace(sub, measurements=(sub.measurements[0], graphed)), "f.json")
    assert [f.pointer for f in found] == (["/measurements/1/engine/name"] if rejected else [])
    assert all("CUDA graph capture failed" in f.message for f in found)


def test_int8_pure_and_int8_on_generate_may_share_a_file_with_cuda_graph_rows(valid_doc: dict[str, Any]) -> None:
    pure = _rows(valid_doc, [(1, 16.0, 200.0)], precision="int8-pure", engine="cuda-graph")
    mixed = _rows(valid_doc, [(1, 10.0, 190.0)], precision="int8")
    assert precisions.check(replace(pure, measurements=pure.measurements + mixed.measurements), "f.json") == []


def test_the_real_files_keep_a_wide_margin_from_both_bounds() -> None:
    """Every int8 / int8-pure pair of the real files decodes far below 1.1 x (batch 1 to 256), and every larger
    batch draws far above 0.8 x the power of a smaller one of at most 8: the bounds refuse what no board does."""
    speeds, powers, crossed = [], [], []
    for path in sorted(ROOT.glob("submissions/*/*.json")):
        rows = [m for m in domain.parse(json.loads(path.read_bytes())).measurements if m.summary]
        for m in rows:
            for n in rows:
                assert m.summary and n.summary
                if (m.model.id, m.model.weights, m.engine.name) != (n.model.id, n.model.weights, n.engine.name):
                    continue
                if m.batch_size == n.batch_size and (m.precision, n.precision) == ("int8", "int8-pure"):
                    speeds.append(m.summary.throughput_tok_s_mean / n.summary.throughput_tok_s_mean)
                if m.precision == n.precision and n.batch_size < m.batch_size and n.batch_size <= 8:
                    powers.append(m.summary.power_w_mean / n.summary.power_w_mean)
            for n in rows:  # generate()'s smaller batches against every other engine's
                if (m.model.id, m.model.weights, m.precision) != (n.model.id, n.model.weights, n.precision):
                    continue
                if n.engine.name == "generate" != m.engine.name and n.batch_size < m.batch_size and n.batch_size <= 8:
                    assert m.summary and n.summary
                    crossed.append(m.summary.power_w_mean / n.summary.power_w_mean)
    assert len(speeds) >= 10 and max(speeds) < 0.75 * precisions.INT8_OUTLIERS_SPEED_MAX
    assert len(powers) >= 100 and min(powers) > 1.2 * scaling.BATCH_POWER_MIN
    assert len(crossed) >= 8 and min(crossed) > 1.8 * scaling.BATCH_POWER_MIN
