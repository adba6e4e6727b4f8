"""The empty board of a two-GPU placement on desktop boards, which idle at 5-30 W (fphunt F1): a board
holding no module may draw 10 W above its higher idle window where a quarter of it is less."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ecocompute import domain
from validator import physics
from validator.findings import Finding


def _empty_board_codes(doc: dict[str, Any], idle_w: tuple[float, float], load_w: float) -> list[str]:
    return [f.code for f in _empty_board_findings(doc, idle_w, load_w)]


def _empty_board_findings(doc: dict[str, Any], idle_w: tuple[float, float], load_w: float) -> list[Finding]:
    """The valid document's row on two boards, the model whole on the first ({"": 0}); the second idles at
    ``idle_w`` in the windows before and after and holds ``load_w`` over every trial's window and its edges
    (the counter's step and two sampler periods: what the rule allows for), the rest on the first."""
    sub = domain.parse(doc)
    edge_s = physics.COUNTER_STEP_S + 2 * sub.protocol.sample_period_s
    m = sub.measurements[0]
    assert m.idle is not None and m.idle.power_after_w is not None
    before, after = m.idle.power_before_w, m.idle.power_after_w
    idle = domain.Idle(before + idle_w[0], after + idle_w[1], (before, idle_w[0]), (after, idle_w[1]))
    trials = []
    for t in m.trials:
        second = round(load_w * (t.duration_s + edge_s), 3)  # NVML's counter: whole millijoules
        trials.append(replace(t, energy_per_gpu_j=(round(t.energy_j - second, 3), second)))
    two = replace(m, idle=idle, trials=tuple(trials), placement=domain.Placement("device_map", {"": 0}))
    gpu = replace(sub.environment.gpu, count=2)
    one = replace(sub, measurements=(two,), environment=replace(sub.environment, gpu=gpu))
    return physics.check(one, "f.json")


def test_an_empty_desktop_board_may_step_up_one_idle_state(valid_doc: dict[str, Any]) -> None:
    # a GeForce idling at 8-9 W in the two idle windows and at 12 W in the trials (1.33 x): refused before
    assert "physics.board_above_idle" not in _empty_board_codes(valid_doc, (8.0, 9.0), 12.0)


@pytest.mark.parametrize(("load_w", "rejected"), [(18.99, False), (19.01, True), (40.0, True)])
def test_an_empty_desktop_board_stays_within_10_w_of_its_idle(
    valid_doc: dict[str, Any], load_w: float, rejected: bool
) -> None:
    # 10 W above the 9-W higher window and no more
    assert ("physics.board_above_idle" in _empty_board_codes(valid_doc, (8.0, 9.0), load_w)) is rejected


def test_a_board_idling_above_40_w_keeps_its_25_percent(valid_doc: dict[str, Any]) -> None:
    # 25 % of 72 W is 18 W, more than 10: the ceiling stays 1.25 x (test_validator_attack_bounds pins it too)
    assert "physics.board_above_idle" in _empty_board_codes(valid_doc, (70.0, 72.0), 72.0 * 1.26)
    assert "physics.board_above_idle" not in _empty_board_codes(valid_doc, (70.0, 72.0), 72.0 * 1.24)


def test_the_message_says_the_larger_bound_holds(valid_doc: dict[str, Any]) -> None:
    # review30: "more than 1.25 x its idle or 10 W above it" read as if exceeding either were enough
    found = [f for f in _empty_board_findings(valid_doc, (8.0, 9.0), 40.0) if f.code == "physics.board_above_idle"]
    assert found and all("1.25 x its idle or 10 W above it, whichever is more, over" in f.message for f in found)
