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
    board = replace(ref.gpus[domain.parse(doc).environment.gpu.name], **(board_edit or {}))
    eight_bit = catalogue.PRECISIONS[precision].eight_bit
    peak = max(board.tensor_fp16_tflops or 0, (board.tensor_int8_tops or 0) if eight_bit else 0)
    allowed = capacity.peak_clock_margin(board) * capacity.clock_factor(board) * peak * 1e12
    return _codes_at(doc, precision, speed * allowed, board, gpus=gpus, judged=replace(board, **(judged_edit or {})))


def _codes_at(
    doc: dict[str, Any], precision: str, flops_s: float, board: GpuSpec, *, gpus: int = 1, judged: GpuSpec | None = None
) -> list[str]:
    """The first row as Qwen2.5-0.5B at batch 8,192 in ``precision`` on ``board``, every trial's counted work
    done at ``flops_s`` FLOP/s; the codes capacity.check finds (on ``judged``, the board itself by default)."""
    ref = reference.default()
    sub = domain.parse(doc)
    m = sub.measurements[0]
    spec = ref.models[SMALL]
    batch = 8_192
    trials = []
    for t in m.trials:
        generated = batch * sub.protocol.output_tokens * t.requests
        work = _flops(sub, spec, batch, generated, t.requests)
        # at the highest SM clock physics.clocks allows: the clock the allowance credits (attack v22: a trial
        # is held to the peak at its own mean clock too)
        top = capacity.clock_factor(board) * (board.boost_clock_mhz or 0)
        trials.append(replace(t, generated_tokens=generated, duration_s=work / flops_s, sm_clock_mhz_mean=top))
    model = replace(m.model, id=SMALL, parameter_count=spec.parameter_count, model_type=spec.model_type)
    row = replace(m, model=model, precision=precision, batch_size=batch, trials=tuple(trials))
    if gpus > 1:
        row = replace(row, placement=Placement("device_map", {"model.layers.0": 0, "lm_head": 1}))
    gpu = replace(sub.environment.gpu, count=gpus, name=board.name)
    one = replace(sub, measurements=(row,), environment=replace(sub.environment, gpu=gpu))
    return [f.code for f in capacity.check(one, row, judged or board, spec, "/measurements/0", "f.json")]


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


@pytest.mark.parametrize(("speed", "rejected"), [(0.995, False), (1.02, True)])
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
    """Real rows stay far below the bound: it refuses what no board can do, not what boards do. Decode is bound by
    memory, so even Qwen2.5-32B at batch 256 on the H200 (the busiest row so far) reaches about 0.14 of the allowed
    peak; half of it leaves room for larger batches without a contributor's honest file tripping this test."""
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
                allowed = capacity.peak_clock_margin(board) * capacity.clock_factor(board) * peak * 1e12
                worst = max(worst, rate / allowed)
    assert 0.0 < worst < 0.5


def test_every_board_in_the_table_has_its_dense_peaks_and_their_source() -> None:
    for board in reference.default().gpus.values():
        assert board.tensor_fp16_tflops, board.name
        assert "dense tensor peaks" in board.source, board.name
        if board.architecture == "Volta":  # no int8 tensor cores
            assert board.tensor_int8_tops is None
            continue
        # int8 runs at twice fp16 with FP16 accumulate on every generation since Turing; the table holds fp16 with
        # FP32 accumulate, the same rate on data-centre and workstation boards, half of it on GeForce, L40 and A10G
        assert board.tensor_int8_tops, board.name
        ratio = board.tensor_int8_tops / board.tensor_fp16_tflops
        assert 1.9 <= ratio <= 2.05 or 3.9 <= ratio <= 4.05, board.name


# GeForce boards run torch's GEMMs (FP32 accumulate) at half their FP16-accumulate peak, rated at the boost clock
# that the 1.35 of GPU Boost already covers (attack v17 V17-3: the table's FP16-accumulate figure and a 1.2 clock
# margin stacked on the 1.35 allowed an RTX 4090 535 TFLOP/s, about 3x what it can reach).
@pytest.mark.parametrize(
    ("gpu", "fp32_accumulate"),
    [
        ("NVIDIA GeForce RTX 3090", 71),
        ("NVIDIA GeForce RTX 4090", 165.2),
        ("NVIDIA GeForce RTX 4090 D", 147.1),
        ("NVIDIA GeForce RTX 5090", 209.5),
        ("NVIDIA L40", 181.05),
    ],
)
def test_a_geforce_boards_fp16_peak_is_its_fp32_accumulate_rate(
    valid_doc: dict[str, Any], gpu: str, fp32_accumulate: float
) -> None:
    board = reference.default().gpus[gpu]
    assert board.tensor_fp16_tflops == fp32_accumulate
    allowed = capacity.clock_factor(board) * fp32_accumulate * 1e12 * (1.2 if board.data_centre else 1.0)
    assert "physics.compute_roofline" not in _codes_at(valid_doc, "fp16", 0.98 * allowed, board)
    assert "physics.compute_roofline" in _codes_at(valid_doc, "fp16", 1.02 * allowed, board)


def test_an_rtx_4090_is_allowed_its_boost_clocks_peak_and_no_more(valid_doc: dict[str, Any]) -> None:
    board = reference.default().gpus["NVIDIA GeForce RTX 4090"]
    # 1.35 x 165.2 = 223 TFLOP/s; 300 passed against 1.2 x 1.35 x 330.3 = 535
    assert "physics.compute_roofline" in _codes_at(valid_doc, "fp16", 300e12, board)
    assert "physics.compute_roofline" in _codes_at(valid_doc, "bf16", 230e12, board)
    assert "physics.compute_roofline" not in _codes_at(valid_doc, "bf16", 215e12, board)


@pytest.mark.parametrize("gpu", ["Tesla V100-SXM2-16GB", "Tesla V100-PCIE-32GB", "Tesla T4"])
@pytest.mark.parametrize(
    ("precision", "share", "rejected"),
    [("bf16", 0.11, False), ("bf16", 0.14, True), ("fp32", 0.14, True), ("fp16", 0.9, False)],
)
def test_bf16_and_fp32_on_volta_and_turing_run_at_the_cuda_cores_rate(
    valid_doc: dict[str, Any], gpu: str, precision: str, share: float, rejected: bool
) -> None:
    # no TF32 or bf16 tensor cores before Ampere: an eighth of the fp16 tensor peak (V17-5: bf16 was judged
    # against the whole fp16 peak, fp32 against half of it); share is of fp16's allowance
    board = reference.default().gpus[gpu]
    assert board.tensor_fp16_tflops
    fp16_allowed = 1.2 * 1.05 * board.tensor_fp16_tflops * 1e12
    assert ("physics.compute_roofline" in _codes_at(valid_doc, precision, share * fp16_allowed, board)) is rejected


def test_the_message_of_a_desktop_board_names_no_rated_clock_margin(valid_doc: dict[str, Any]) -> None:
    board = reference.default().gpus["NVIDIA GeForce RTX 4090"]
    ref = reference.default()
    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    t = m.trials[2]
    fast = replace(
        m,
        model=replace(m.model, id=SMALL),
        precision="bf16",
        batch_size=8_192,
        trials=(replace(t, generated_tokens=8_192 * 64 * t.requests, duration_s=1e-3),),
    )
    (finding,) = [
        f
        for f in capacity.check(sub, fast, board, ref.models[SMALL], "/measurements/0", "f.json")
        if f.code.endswith("compute_roofline")
    ]
    assert "165.2 dense fp16 TFLOP/s (allowed: x 1.35 above the rated boost: 223.0;" in finding.message
