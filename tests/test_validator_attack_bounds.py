"""Bounds from the s17a attacker's review, each just inside and just outside: average power against
the enforced limit, the gate window's energy against its power x duration, the energy floors (reading
the weights, and the arithmetic of every token), super-linear batching within a file, MIG, the driver's
versions, the idle board of a two-GPU placement and the perplexity's token count. What a trial's power
readings claim (the fallback reading's lag, NVML's 1-s average) is test_validator_attack_bounds_power_readings.py's."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from conftest import FIXTURES, batch_rows
from hypothesis import given, settings
from hypothesis import strategies as st

from ecocompute import catalogue, domain, reference
from ecocompute.domain import Submission
from validator import capacity, hardware, lag, physics, provenance, scaling


def _codes(sub: Submission) -> list[str]:
    return [f.code for f in physics.check(sub, "f.json")]


# --- average power against the enforced limit --------------------------------------------------------


def _at_power(t: domain.Trial, power_w: float) -> domain.Trial:
    """``t`` at ``power_w`` on average (NVML's 1-s average too), its energies moved with it."""
    energy_j = power_w * t.duration_s
    return replace(
        t,
        power_avg_w=power_w,
        power_nvml_avg_1s_w=power_w,
        power_peak_w=1.05 * power_w,
        energy_j=energy_j,
        energy_per_gpu_j=(energy_j,),
        sampler_energy_j=energy_j,
    )


@pytest.mark.parametrize(("factor", "rejected"), [(1.049, False), (1.051, True)])
@pytest.mark.parametrize("field", ["power_avg_w", "power_nvml_avg_1s_w"])
def test_average_power_at_most_1_05_x_the_enforced_limit(
    valid_doc: dict[str, Any], field: str, factor: float, rejected: bool
) -> None:
    # a file averaging 755 W on a board enforcing 700 W passed within the 1.1 x allowed before
    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    limit_w = 240.0
    trials = [_at_power(t, 0.9 * limit_w) for t in m.trials]
    trials[4] = (
        _at_power(trials[4], factor * limit_w)
        if field == "power_avg_w"
        # its peak with it: a 1-s average above the window's own peak is physics.power_range's too
        else replace(trials[4], power_nvml_avg_1s_w=factor * limit_w, power_peak_w=1.05 * factor * limit_w)
    )
    gpu = replace(sub.environment.gpu, power_limit_enforced_w=limit_w)
    one = replace(sub, measurements=(replace(m, trials=tuple(trials)),), environment=replace(sub.environment, gpu=gpu))
    assert ("physics.power_range" in _codes(one)) is rejected


# --- the gate window's energy against its power x duration -------------------------------------------


def _with_window_bias(sub: Submission, residuals: list[float]) -> Submission:
    """The first measurement's measured trials with (E - P d) / E = each of ``residuals`` in turn."""
    m = sub.measurements[0]
    drawn = iter(residuals)
    trials = []
    for t in m.trials:
        if t.role == "measured":
            energy_j = t.power_avg_w * t.duration_s / (1 - next(drawn))
            t = replace(t, energy_j=energy_j, energy_per_gpu_j=(energy_j,), sampler_energy_j=energy_j)
        trials.append(t)
    return replace(sub, measurements=(replace(m, trials=tuple(trials)),))


@pytest.mark.parametrize(("residual", "rejected"), [(0.049, False), (0.051, True), (-0.049, False), (-0.051, True)])
def test_window_energy_within_5_pct_of_power_x_duration(
    valid_doc: dict[str, Any], residual: float, rejected: bool
) -> None:
    # every trial 40 % below its power x duration passed, hidden in each short trial's edge slack
    sub = domain.parse(valid_doc)
    n = sum(t.role == "measured" for t in sub.measurements[0].trials)
    assert ("physics.energy_bias" in _codes(_with_window_bias(sub, [residual] * n))) is rejected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.3, 0.3, allow_nan=False), min_size=5, max_size=5))
def test_window_bias_is_judged_on_the_sum(residuals: list[float]) -> None:
    """Whatever each trial's residual, the finding says exactly whether the window's sum is off by
    more than 5 %: errors of either sign cancel."""
    doc = json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))
    one = _with_window_bias(domain.parse(doc), residuals)
    window = [t for t in one.measurements[0].trials if t.role == "measured"]
    energy_j = sum(t.energy_j for t in window)
    off = abs(energy_j - sum(t.power_avg_w * t.duration_s for t in window)) / energy_j
    if abs(off - lag.WINDOW_ENERGY_BIAS) > 1e-9:  # not on the bound itself, where rounding decides
        assert ("physics.energy_bias" in _codes(one)) is (off > lag.WINDOW_ENERGY_BIAS)


# --- the energy floors --------------------------------------------------------------------------------


def _floor_codes(
    doc: dict[str, Any], precision: str, batch: int, net_j_per_trial: Any, ref: reference.Reference | None = None
) -> list[str]:
    """The first measurement (Mistral-7B) in ``precision`` at ``batch``, each trial's energy above the
    lower idle window set to ``net_j_per_trial(trial, spec)``; the codes hardware.check finds."""
    ref = ref or reference.default()
    sub = domain.parse(doc)
    m = sub.measurements[0]
    spec = ref.models[m.model.id]
    assert m.idle is not None
    lower_idle_w = m.idle.lower_power_w
    trials = []
    for t in m.trials:
        t = replace(t, generated_tokens=t.generated_tokens * batch // m.batch_size)
        trials.append(replace(t, energy_j=lower_idle_w * t.duration_s + net_j_per_trial(t, spec)))
    changed = replace(m, precision=precision, batch_size=batch, trials=tuple(trials))
    return [f.code for f in hardware.check(replace(sub, measurements=(changed,)), "f.json", ref)]


def _read_floor_j(t: domain.Trial, spec: reference.ModelSpec, precision: str, output_tokens: int = 64) -> float:
    weights = spec.active_parameter_count * catalogue.PRECISIONS[precision].bytes_per_param
    return capacity.READ_ENERGY_FLOOR_J_PER_BYTE * weights * t.requests * output_tokens


def _flop_floor_j(t: domain.Trial, spec: reference.ModelSpec, batch: int, prompt_tokens: int = 64) -> float:
    """Generated tokens at 2 FLOPs per active parameter, every prompt token but the last at 2 per layer
    parameter (embedding and head taken off)."""
    prompt = t.requests * batch * (prompt_tokens - 1) * capacity._prompt_flops_per_token(spec)
    return capacity.FLOP_ENERGY_FLOOR_J * (2 * spec.active_parameter_count * t.generated_tokens + prompt)


@pytest.mark.parametrize(("above", "rejected"), [(0.99, True), (1.01, False)])
def test_read_floor_at_20_pj_per_weight_byte(valid_doc: dict[str, Any], above: float, rejected: bool) -> None:
    # nf4 rows at 15 pJ per byte passed the 8 pJ/byte floor of before (HBM3 alone costs 28-31)
    codes = _floor_codes(valid_doc, "nf4", 1, lambda t, spec: above * _read_floor_j(t, spec, "nf4"))
    assert ("physics.energy_floor" in codes) is rejected


@pytest.mark.parametrize(("above", "rejected"), [(0.99, True), (1.01, False)])
def test_compute_floor_at_0_2_pj_per_flop(valid_doc: dict[str, Any], above: float, rejected: bool) -> None:
    # at batch 32 in nf4 the arithmetic costs more than the reads: 0.3 pJ/FLOP rows passed unjudged
    def net(t: domain.Trial, spec: reference.ModelSpec) -> float:
        assert _flop_floor_j(t, spec, 32) > _read_floor_j(t, spec, "nf4")  # the compute floor binds
        return above * _flop_floor_j(t, spec, 32)

    assert ("physics.energy_floor" in _floor_codes(valid_doc, "nf4", 32, net)) is rejected


def test_weights_an_l2_cache_could_hold_escape_the_read_floor_only(valid_doc: dict[str, Any]) -> None:
    # Qwen2.5-0.5B in nf4 (236 MiB) is judged now; a model of 95 MiB in nf4 reads from SRAM at most
    ref = reference.default()
    mistral = "mistralai/Mistral-7B-Instruct-v0.2"
    small = replace(ref.models[mistral], active_parameter_count=200_000_000)  # 95 MiB in nf4
    tiny = replace(ref, models={**ref.models, mistral: small})
    assert capacity.FLOOR_MIN_WEIGHT_BYTES > 200_000_000 * 0.5
    below_reads = _floor_codes(valid_doc, "nf4", 1, lambda t, spec: 0.5 * _read_floor_j(t, spec, "nf4"), tiny)
    assert "physics.energy_floor" not in below_reads
    below_flops = _floor_codes(valid_doc, "nf4", 1, lambda t, spec: 0.5 * _flop_floor_j(t, spec, 1), tiny)
    assert "physics.energy_floor" in below_flops


# --- super-linear batching within one file ------------------------------------------------------------


def _rows_at(doc: dict[str, Any], rows: list[tuple[int, float]]) -> Submission:
    """The first measurement once per (batch, per-sequence tok/s) of ``rows``, its summary alone changed."""
    return batch_rows(doc, [(b, b * s) for b, s in rows])


def _scaling_rows(sub: Submission) -> set[int]:
    found = physics.check(sub, "f.json")
    return {int(f.pointer.split("/")[2]) for f in found if f.code == "physics.batch_scaling"}


@pytest.mark.parametrize(("speedup", "rejected"), [(1.99, False), (2.01, True)])
def test_a_larger_batch_decodes_a_sequence_at_most_twice_as_fast(
    valid_doc: dict[str, Any], speedup: float, rejected: bool
) -> None:
    # batch 8 at 17 x batch 1's throughput (2.1 x per sequence) passed: below the bandwidth roofline
    assert bool(_scaling_rows(_rows_at(valid_doc, [(1, 30.0), (8, speedup * 30.0)]))) is rejected


def test_batch_scaling_compares_with_every_smaller_batch(valid_doc: dict[str, Any]) -> None:
    # 1.9 x twice over is 3.6 x batch 1's per-sequence speed: the slowest smaller batch is the yardstick
    assert _scaling_rows(_rows_at(valid_doc, [(1, 30.0), (8, 57.0), (16, 108.0)])) == {2}


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 4, 8, 16, 32]), st.floats(1e-3, 1e6, allow_nan=False)),
        min_size=1,
        max_size=8,
    )
)
def test_batch_scaling_flags_exactly_the_super_linear_rows(rows: list[tuple[int, float]]) -> None:
    """Against the quadratic definition: a row is flagged iff some smaller batch's sequences were more
    than twice slower."""
    doc = json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))
    sub = _rows_at(doc, rows)
    per = [(m.batch_size, m.summary.throughput_tok_s_mean / m.batch_size) for m in sub.measurements if m.summary]
    expected = {
        i for i, (b, s) in enumerate(per) if any(b0 < b and s > scaling.BATCH_SPEEDUP_MAX * s0 for b0, s0 in per)
    }
    assert _scaling_rows(sub) == expected


# --- MIG and the driver's versions --------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "rejected"), [("disabled", False), ("unsupported", False), ("enabled", True)])
def test_mig_slices_are_refused(valid_doc: dict[str, Any], mode: str, rejected: bool) -> None:
    sub = domain.parse(valid_doc)
    gpu = replace(sub.environment.gpu, mig_mode=mode)
    one = replace(sub, environment=replace(sub.environment, gpu=gpu))
    codes = [f.code for f in hardware.check(one, "f.json", reference.default())]
    assert ("protocol.mig_enabled" in codes) is rejected


def _driver_codes(doc: dict[str, Any], driver: str, nvml: str, torch_cuda: str) -> list[str]:
    sub = domain.parse(doc)
    env = replace(
        sub.environment,
        driver={**sub.environment.driver, "driver_version": driver, "nvml_version": nvml},
        software={**sub.environment.software, "torch_cuda": torch_cuda},
    )
    return [f.code for f in provenance.check(replace(sub, environment=env), "f.json")]


@pytest.mark.parametrize(
    ("driver", "nvml", "torch_cuda", "rejected"),
    [
        ("580.159.04", "13.580.159.04", "13.0", False),  # every real file
        ("580.159.04", "13.580.159.04", "12.8", False),  # an older CUDA's torch loads
        ("535.104.05", "12.535.104.05", "13.0", True),  # a newer CUDA major than the driver's
        ("470.57.02", "12.535.104.05", "11.4", True),  # NVML of another driver
        ("580.159.04", "13.1580.159.04", "13.0", True),  # a suffix, not the field
    ],
)
def test_driver_nvml_and_cuda_versions_belong_together(
    valid_doc: dict[str, Any], driver: str, nvml: str, torch_cuda: str, rejected: bool
) -> None:
    assert ("provenance.driver_versions" in _driver_codes(valid_doc, driver, nvml, torch_cuda)) is rejected


_VERSIONISH = st.one_of(
    st.text(max_size=20),
    st.from_regex(r"[0-9]{1,8}(\.[0-9]{1,4}){0,3}", fullmatch=True),
    st.sampled_from(["", ".", "13.", ".13", "١٣.0", "none", "not installed", "9" * 40]),
)


@settings(max_examples=100, deadline=None)
@given(driver=_VERSIONISH, nvml=_VERSIONISH, torch_cuda=_VERSIONISH)
def test_driver_versions_never_fail_on_any_text(driver: str, nvml: str, torch_cuda: str) -> None:
    doc = json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))
    codes = _driver_codes(doc, driver, nvml, torch_cuda)
    if driver and nvml.endswith("." + driver) and not torch_cuda[:1].isdigit():
        assert "provenance.driver_versions" not in codes


@settings(max_examples=60, deadline=None)
@given(
    cuda=st.integers(9, 30),
    torch_major=st.integers(9, 30),
    driver=st.from_regex(r"[1-9][0-9]{2}\.[0-9]{2,3}(\.[0-9]{2})?", fullmatch=True),
)
def test_driver_versions_judge_the_cuda_majors(cuda: int, torch_major: int, driver: str) -> None:
    doc = json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))
    codes = _driver_codes(doc, driver, f"{cuda}.{driver}", f"{torch_major}.1")
    assert ("provenance.driver_versions" in codes) is (torch_major > cuda)


# --- the empty board of a two-GPU placement -----------------------------------------------------------


def _second_board_codes(
    doc: dict[str, Any], factor: float, device_map: dict[str, int], roles: tuple[str, ...] = ()
) -> list[str]:
    """Two boards (the second idling at 70/72 W), the second holding ``factor`` x the empty-board
    ceiling in every trial (of ``roles`` only, where given; the others hold its idle), the rest of each
    trial's energy on the first."""
    sub = domain.parse(doc)
    m = sub.measurements[0]
    assert m.idle is not None and m.idle.power_after_w is not None
    before, after = m.idle.power_before_w, m.idle.power_after_w
    idle = domain.Idle(before + 70.0, after + 72.0, (before, 70.0), (after, 72.0))
    edge_s = physics.COUNTER_STEP_S + 2 * sub.protocol.sample_period_s
    trials = []
    for t in m.trials:
        share = factor * physics.EMPTY_BOARD_CEILING if not roles or t.role in roles else 1.0
        second = share * 72.0 * (t.duration_s + edge_s)
        trials.append(replace(t, energy_per_gpu_j=(t.energy_j - second, second)))
    placement = domain.Placement("device_map" if len(set(device_map.values())) > 1 else "single_gpu", device_map)
    two = replace(m, idle=idle, trials=tuple(trials), placement=placement)
    gpu = replace(sub.environment.gpu, count=2)
    one = replace(sub, measurements=(two,), environment=replace(sub.environment, gpu=gpu))
    return _codes(one)


@pytest.mark.parametrize(("factor", "rejected"), [(0.99, False), (1.01, True)])
def test_a_board_the_device_map_leaves_empty_stays_near_idle(
    valid_doc: dict[str, Any], factor: float, rejected: bool
) -> None:
    # board 1 drew 476 W with the whole model on board 0, which drew its idle: only the sum was judged
    assert ("physics.board_above_idle" in _second_board_codes(valid_doc, factor, {"": 0})) is rejected


def test_a_warm_up_on_the_board_the_device_map_leaves_empty_stays_near_idle_too(valid_doc: dict[str, Any]) -> None:
    """The trials config publishes each board's share of a warm-up as well: no module there, no load."""
    assert "physics.board_above_idle" in _second_board_codes(valid_doc, 1.01, {"": 0}, roles=("warmup",))
    assert "physics.board_above_idle" not in _second_board_codes(valid_doc, 0.99, {"": 0}, roles=("warmup",))


def test_a_board_holding_modules_may_draw_above_idle(valid_doc: dict[str, Any]) -> None:
    codes = _second_board_codes(valid_doc, 2.0, {"model.layers.0": 0, "lm_head": 1})
    assert "physics.board_above_idle" not in codes


def test_a_long_prompt_costs_its_prefill_in_the_compute_floor(valid_doc: dict[str, Any]) -> None:
    """A row measured with 64-token prompts, relabelled as 16,384-token ones with its throughput and
    energy kept (attack s17a, finding 1): the prefill's arithmetic alone exceeds the energy."""
    ref = reference.default()
    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    spec = ref.models[m.model.id]
    assert m.idle is not None
    trials = tuple(
        replace(t, energy_j=m.idle.lower_power_w * t.duration_s + 1.01 * max(
            _flop_floor_j(t, spec, m.batch_size), _read_floor_j(t, spec, m.precision, sub.protocol.output_tokens)
        ))
        for t in m.trials
    )  # fmt: skip
    honest = replace(sub, measurements=(replace(m, trials=trials),))
    assert "physics.energy_floor" not in [f.code for f in hardware.check(honest, "f.json", ref)]
    relabelled = replace(honest, protocol=replace(honest.protocol, prompt_tokens=16_384))
    found = [f for f in hardware.check(relabelled, "f.json", ref) if f.code == "physics.energy_floor"]
    assert found and "prompt tokens before them" in found[0].message


# --- the perplexity's token count ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("corpus", "tokens", "rejected"),
    [
        ("wikitext-2-raw-v1/test", 4095, False),
        ("wikitext-2-raw-v1/test", 4094, True),
        ("wikitext-2-raw-v1/test", 1, True),
        ("notes.txt", 1, False),
        ("notes.txt", 4095, False),
        ("notes.txt", 4096, True),
    ],
)
def test_the_perplexity_counts_what_eco_collect_counts(
    valid_doc: dict[str, Any], corpus: str, tokens: int, rejected: bool
) -> None:
    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    quality = domain.Quality("perplexity", 7.5, corpus, "1" * 64, tokens)
    one = replace(sub, measurements=(replace(m, quality=quality),))
    codes = [f.code for f in hardware.check(one, "f.json", reference.default())]
    assert ("quality.perplexity" in codes) is rejected
