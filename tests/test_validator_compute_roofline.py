"""physics.compute_roofline: no trial's arithmetic, counted at the least, outruns one board's dense
tensor peak (attack v16: a batch-8192 row of a 0.5B model claimed twice an H100's fp16 peak and passed,
its small KV cache under the bandwidth roofline)."""

from __future__ import annotations

import glob
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ecocompute import catalogue, domain, reference
from ecocompute.domain import Submission
from ecocompute.measurement import Placement
from ecocompute.reference import GpuSpec
from validator import capacity

ROOT = Path(__file__).resolve().parents[1]
SMALL = "Qwen/Qwen2.5-0.5B-Instruct"


def _flops(sub: Submission, spec: reference.ModelSpec, batch: int, generated: int, requests: int) -> float:
    """The work the rule counts: 2 FLOPs a generated token per parameter but the input embedding's (kept
    where the head is tied to it), and 2 per parameter between embedding and head for each other prompt token
    (the tied matrix taken off once)."""
    embedding = spec.vocab_size * spec.hyperparameters["hidden_size"]
    tied = spec.hyperparameters.get("tie_word_embeddings") is True
    prompt = requests * batch * (sub.protocol.prompt_tokens - 1)
    return (
        2 * (spec.active_parameter_count - (0 if tied else embedding)) * generated
        + 2 * (spec.active_parameter_count - (1 if tied else 2) * embedding) * prompt
    )


def _codes(
    doc: dict[str, Any],
    precision: str,
    speed: float,
    *,
    board_edit: dict[str, Any] | None = None,
    gpus: int = 1,
    judged_edit: dict[str, Any] | None = None,
) -> list[str]:
    """The first row as Qwen2.5-0.5B at batch 8,192 in ``precision``, every trial lasting as long as
    its counted work takes at ``speed`` times the board's allowed peak (fp16's, int8's for 8-bit
    loads); the codes capacity.check finds (on the board edited by ``judged_edit`` too)."""
    ref = reference.default()
    sub = domain.parse(doc)
    m = sub.measurements[0]
    spec = ref.models[SMALL]
    board = replace(ref.gpus[sub.environment.gpu.name], **(board_edit or {}))
    eight_bit = catalogue.PRECISIONS[precision].eight_bit
    peak = max(board.tensor_fp16_tflops or 0, (board.tensor_int8_tops or 0) if eight_bit else 0)
    allowed = capacity.PEAK_CLOCK_MARGIN * capacity.clock_factor(board) * peak * 1e12
    batch = 8_192
    trials = []
    for t in m.trials:
        generated = batch * sub.protocol.output_tokens * t.requests
        work = _flops(sub, spec, batch, generated, t.requests)
        trials.append(replace(t, generated_tokens=generated, duration_s=work / (speed * allowed)))
    model = replace(m.model, id=SMALL, parameter_count=spec.parameter_count, model_type=spec.model_type)
    row = replace(m, model=model, precision=precision, batch_size=batch, trials=tuple(trials))
    if gpus > 1:
        row = replace(row, placement=Placement("device_map", {"model.layers.0": 0, "lm_head": 1}))
    environment = replace(sub.environment, gpu=replace(sub.environment.gpu, count=gpus))
    one = replace(sub, measurements=(row,), environment=environment)
    judged = replace(board, **(judged_edit or {}))
    return [f.code for f in capacity.check(one, row, judged, spec, "/measurements/0", "f.json")]


@pytest.mark.parametrize(("speed", "rejected"), [(0.98, False), (1.02, True), (2.0, True)])
def test_fp16_arithmetic_stays_below_the_boards_dense_peak(
    valid_doc: dict[str, Any], speed: float, rejected: bool
) -> None:
    assert ("physics.compute_roofline" in _codes(valid_doc, "fp16", speed)) is rejected


@pytest.mark.parametrize(("precision", "rejected"), [("int8-pure", False), ("int8", False), ("nf4", True)])
def test_eight_bit_matmuls_may_reach_the_int8_peak_and_four_bit_ones_not(
    valid_doc: dict[str, Any], precision: str, rejected: bool
) -> None:
    # 1.5x fp16's allowance: within int8's (twice fp16's on an H100); nf4 dequantises and multiplies in fp16
    fp16_speed = 1.5
    ref = reference.default()
    board = ref.gpus[domain.parse(valid_doc).environment.gpu.name]
    assert board.tensor_fp16_tflops and board.tensor_int8_tops
    speed = fp16_speed * board.tensor_fp16_tflops / board.tensor_int8_tops if precision.startswith("int8") else 1.5
    assert ("physics.compute_roofline" in _codes(valid_doc, precision, speed)) is rejected


def test_eight_bit_rows_beyond_the_int8_peak_are_refused(valid_doc: dict[str, Any]) -> None:
    assert "physics.compute_roofline" in _codes(valid_doc, "int8-pure", 1.05)


def test_a_board_without_int8_tensor_cores_keeps_fp16s_peak_for_eight_bit_rows(valid_doc: dict[str, Any]) -> None:
    # a V100 has no int8 tensor cores: its 8-bit rows get no more than fp16's peak (speed is relative to it)
    assert "physics.compute_roofline" in _codes(valid_doc, "int8-pure", 1.05, board_edit={"tensor_int8_tops": None})
    assert "physics.compute_roofline" not in _codes(valid_doc, "int8-pure", 0.95, board_edit={"tensor_int8_tops": None})


@pytest.mark.parametrize(("speed", "rejected"), [(1.0, False), (1.02, True)])
def test_a_desktop_board_gets_the_clock_allowance_of_gpu_boost(
    valid_doc: dict[str, Any], speed: float, rejected: bool
) -> None:
    # speed is relative to the allowed peak, 1.35x the rated one on a desktop board (1.05x on a data-centre one)
    codes = _codes(valid_doc, "fp16", speed, board_edit={"data_centre": False})
    assert ("physics.compute_roofline" in codes) is rejected
    assert "physics.compute_roofline" in _codes(valid_doc, "fp16", 1.3 / capacity.DATA_CENTRE_BOOST_FACTOR)


def test_two_gpus_do_not_double_the_peak(valid_doc: dict[str, Any]) -> None:
    # accelerate's device map runs the layers one board after another: one board's arithmetic at a time
    assert "physics.compute_roofline" in _codes(valid_doc, "fp16", 1.5, gpus=2)


def test_a_table_without_the_column_judges_nothing(valid_doc: dict[str, Any]) -> None:
    # a pull request branched before the column: its table loads, and only this bound is gone
    codes = _codes(valid_doc, "fp16", 2.0, judged_edit={"tensor_fp16_tflops": None, "tensor_int8_tops": None})
    assert "physics.compute_roofline" not in codes


def test_the_message_names_the_rate_the_peak_and_the_allowance(valid_doc: dict[str, Any]) -> None:
    sub = domain.parse(valid_doc)
    board: GpuSpec = reference.default().gpus[sub.environment.gpu.name]
    ref = reference.default()
    m = sub.measurements[0]
    spec = ref.models[SMALL]
    t = m.trials[2]
    fast = replace(
        m,
        model=replace(m.model, id=SMALL),
        batch_size=8_192,
        trials=(replace(t, generated_tokens=8_192 * 64 * t.requests, duration_s=1e-3),),
    )
    (finding,) = [
        f
        for f in capacity.check(sub, fast, board, spec, "/measurements/0", "f.json")
        if f.code.endswith("compute_roofline")
    ]
    assert finding.pointer == "/measurements/0/trials/0/duration_s"
    assert "989.5 dense fp16 TFLOP/s" in finding.message and "x 1.05 above the rated boost" in finding.message


def test_every_real_row_keeps_a_wide_margin() -> None:
    """The H100 and H200 files reach at most about a tenth of the allowed peak: the bound refuses what no
    board can do, far from what boards do."""
    ref = reference.default()
    worst = 0.0
    for path in glob.glob(str(ROOT / "submissions" / "*" / "*.json")):
        sub = domain.parse(json.loads(Path(path).read_text(encoding="utf-8")))
        board = ref.gpus[sub.environment.gpu.name]
        for m in sub.measurements:
            if m.status == "skipped":
                continue
            spec = ref.models[m.model.id]
            eight_bit = catalogue.PRECISIONS[m.precision].eight_bit
            peak = max(board.tensor_fp16_tflops or 0, (board.tensor_int8_tops or 0) if eight_bit else 0)
            for t in m.trials:
                rate = _flops(sub, spec, m.batch_size, t.generated_tokens, t.requests) / t.duration_s
                worst = max(worst, rate / (capacity.PEAK_CLOCK_MARGIN * capacity.clock_factor(board) * peak * 1e12))
    assert 0.0 < worst < 0.12


def test_every_board_in_the_table_has_its_dense_peaks_and_their_source() -> None:
    for board in reference.default().gpus.values():
        assert board.tensor_fp16_tflops, board.name
        assert "dense tensor peaks" in board.source, board.name
        if board.architecture == "Volta":  # no int8 tensor cores
            assert board.tensor_int8_tops is None
        else:  # int8 runs at twice fp16 with FP16 accumulate, or at most that, on every generation since Turing
            assert board.tensor_int8_tops and 1.9 <= board.tensor_int8_tops / board.tensor_fp16_tflops <= 2.05, (
                board.name
            )
