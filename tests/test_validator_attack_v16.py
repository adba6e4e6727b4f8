"""Attack v16: the fallback power reading's lag, allowed on its own side only."""

from __future__ import annotations

from typing import Any

import pytest
from test_validator_attack_bounds_power_readings import _as_fallback_reading

from ecocompute import domain
from validator import lag
from validator.check import check_document

H200 = "ecocompute-bot-h200-20261124-000621.json"


def _allowances(doc: dict[str, Any], row: int) -> tuple[float, float, float, float]:
    """(counter energy, power x duration, the lag's allowance above, below) of a row's gate window."""
    sub = domain.parse(doc)
    before = lag.powers_before(sub)[row]
    window = [(j, t) for j, t in enumerate(sub.measurements[row].trials) if t.role == "measured"]
    above = sum(max(0.0, t.power_avg_w - before[j]) for j, t in window)
    below = sum(max(0.0, before[j] - t.power_avg_w) for j, t in window)
    energy = sum(t.energy_j for _, t in window)
    return energy, sum(t.power_avg_w * t.duration_s for _, t in window), above, below


def _window_energy(doc: dict[str, Any], row: int, factor: float) -> None:
    """The row's gate-window counter energies x ``factor`` (whole mJ), its summary recomputed."""
    from synthetic import resummarize

    m = doc["measurements"][row]
    for t in m["trials"]:
        if t["role"] == "measured":
            t["energy_j"] = round(t["energy_j"] * factor * 1000) / 1000
            t["energy_per_gpu_j"] = [t["energy_j"]]
    starts = [t["started_at_s"] for t in m["trials"]]
    resummarize(m)
    for t, start in zip(m["trials"], starts, strict=True):  # keep the interleaved timeline
        t["started_at_s"] = start


@pytest.mark.parametrize(("side", "rejected"), [("below", True), ("above", False)])
def test_the_fallback_readings_lag_is_allowed_on_its_own_side_only(side: str, rejected: bool) -> None:
    """nvmlDeviceGetPowerUsage trails the power by its 1-s average: after a lower power it reads low, so
    the counter lies above power x duration. A window whose power rose over the power before it (the
    lag's allowance lies above) with its counter energies lowered below power x duration by 5 % plus
    half that allowance passed: the allowance was granted on either side (|P - P_before|). Raised by as
    much, the window stays on the lag's side and passes."""
    doc = _as_fallback_reading(H200)
    row = next(
        i
        for i in range(len(doc["measurements"]))
        if (a := _allowances(doc, i))[2] > 0.02 * a[0] and a[3] < 0.01 * a[0]  # the lag reads low here
    )
    energy, expected, above, below = _allowances(doc, row)
    off = lag.WINDOW_ENERGY_BIAS * expected + below + 0.5 * above
    _window_energy(doc, row, (expected - off if side == "below" else expected + off) / energy)
    energy, expected, above, below = _allowances(doc, row)
    assert abs(energy - expected) > lag.WINDOW_ENERGY_BIAS * energy + below  # beyond the bound without the lag
    assert abs(energy - expected) < lag.WINDOW_ENERGY_BIAS * energy + above + below  # within the old bound
    found = [f for f in check_document(doc, "f.json") if f.severity.value == "error"]
    assert [f.code for f in found] == (["physics.energy_bias"] if rejected else [])
    if rejected:
        assert found[0].pointer == f"/measurements/{row}/trials"
