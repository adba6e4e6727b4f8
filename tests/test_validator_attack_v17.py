"""Attack v17: physics.compute_roofline's count and peak.

- A head tied to the input embedding multiplies by it for every generated token. Taking the embedding off
  there hid 28 % of a tied Qwen2.5-0.5B's least work: a batch-5504 fp16 row at 1.75 x an H100's dense peak
  passed.
- An fp32 row's matmuls reach at most TF32's rate, half fp16's. A fp16 row relabelled fp32 at 1.8 x an
  H100's TF32 peak passed against the fp16 one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ecocompute import domain, reference
from validator import capacity

TIED = "Qwen/Qwen2.5-0.5B-Instruct"  # tie_word_embeddings: true
UNTIED = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"


def _old_count(spec: reference.ModelSpec, generated: int, prompt: int) -> float:
    """The count before attack v17: the embedding taken off every generated token and twice off every
    other prompt token, tied or not."""
    embedding = spec.vocab_size * spec.hyperparameters["hidden_size"]
    return (
        2 * (spec.active_parameter_count - embedding) * generated
        + 2 * (spec.active_parameter_count - 2 * embedding) * prompt
    )


def _roofline(doc: dict[str, Any], model: str, precision: str, speed: float) -> bool:
    """Whether capacity.check refuses the first row as ``model`` at batch 8,192 in ``precision``, every
    trial lasting as long as its old count takes at ``speed`` times the board's allowed fp16 peak."""
    ref = reference.default()
    sub = domain.parse(doc)
    m = sub.measurements[0]
    spec = ref.models[model]
    board = ref.gpus[sub.environment.gpu.name]
    assert board.tensor_fp16_tflops
    allowed = capacity.peak_clock_margin(board) * capacity.clock_factor(board) * board.tensor_fp16_tflops * 1e12
    batch, trials = 8_192, []
    for t in m.trials:
        generated = batch * sub.protocol.output_tokens * t.requests
        prompt = t.requests * batch * (sub.protocol.prompt_tokens - 1)
        work = _old_count(spec, generated, prompt)
        top = capacity.clock_factor(board) * (board.boost_clock_mhz or 0)  # the clock the allowance credits
        trials.append(
            replace(t, generated_tokens=generated, duration_s=work / (speed * allowed), sm_clock_mhz_mean=top)
        )
    row_model = replace(m.model, id=model, parameter_count=spec.parameter_count, model_type=spec.model_type)
    row = replace(m, model=row_model, precision=precision, batch_size=batch, trials=tuple(trials))
    one = replace(sub, measurements=(row,))
    found = capacity.check(one, row, board, spec, "/measurements/0", "f.json")
    return any(f.code == "physics.compute_roofline" for f in found)


def test_a_head_tied_to_the_embedding_is_counted_for_every_generated_token(valid_doc: dict[str, Any]) -> None:
    assert reference.default().models[TIED].hyperparameters["tie_word_embeddings"] is True
    # 0.9 of the allowance by the old count is 1.2 of it by the tied model's least work: refused
    assert _roofline(valid_doc, TIED, "fp16", 0.9)
    assert not _roofline(valid_doc, TIED, "fp16", 0.6)
    # an untied model's count is what it was
    assert not _roofline(valid_doc, UNTIED, "fp16", 0.98)
    assert _roofline(valid_doc, UNTIED, "fp16", 1.02)


@pytest.mark.parametrize(("speed", "rejected"), [(0.45, False), (0.55, True), (0.9, True)])
def test_fp32_rows_are_judged_against_tf32s_peak_half_of_fp16s(
    valid_doc: dict[str, Any], speed: float, rejected: bool
) -> None:
    # speed is relative to fp16's allowance (an untied model: the count is the old one)
    assert _roofline(valid_doc, UNTIED, "fp32", speed) is rejected
    assert not _roofline(valid_doc, UNTIED, "fp16", 0.9)


@pytest.mark.parametrize("python", ["V3.12.3+", " 3.12.3+", "3.12.\u0663+", "1!3.12.3+"])
def test_an_unpinned_python_is_named_as_the_file_has_it(valid_doc: dict[str, Any], python: str) -> None:
    # the release python_release judges is the version less its '+'; the message quoted that, not the file's value
    from validator.check import check_data

    valid_doc["environment"]["software"]["python"] = python
    (finding,) = [f for f in check_data(valid_doc, "f.json").findings if f.pointer == "/environment/software/python"]
    assert finding.code == "provenance.unpinned_version"
    assert repr(python) in finding.message


def test_a_trailing_plus_on_an_exact_python_still_passes(valid_doc: dict[str, Any]) -> None:
    from validator.check import check_data

    valid_doc["environment"]["software"]["python"] = "3.12.3+"
    assert not [f for f in check_data(valid_doc, "f.json").findings if f.pointer.endswith("/python")]
