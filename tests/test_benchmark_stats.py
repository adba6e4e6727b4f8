"""The statistics the sampler A/B benchmark prints (the benchmark itself needs a GPU)."""

from __future__ import annotations

from types import ModuleType

import pytest
from conftest import script_module


def _module() -> ModuleType:
    return script_module("benchmarks/sampler_overhead.py")


@pytest.mark.parametrize(
    ("df", "exact"), [(4, 2.776), (11, 2.201), (20, 2.086), (30, 2.042), (60, 2.000), (149, 1.976)]
)
def test_t_quantile_matches_tables(df: int, exact: float) -> None:
    assert _module().t95(df) == pytest.approx(exact, abs=0.003)


def test_paired_overhead_cancels_drift_common_to_both_arms() -> None:
    drift = [100.0 * (1 + 0.2 * (i % 7)) for i in range(40)]  # 20 % swings, shared by each pair
    off = drift
    on = [d * 0.99 for d in drift]  # the sampler costs exactly 1 %
    mean, half, sd = _module().paired_overhead_pct(off, on)
    assert mean == pytest.approx(1.0) and half == pytest.approx(0.0, abs=1e-9) and sd == pytest.approx(0.0, abs=1e-9)
    mean, half, _ = _module().paired_overhead_pct([100.0, 102.0, 98.0, 100.0], [99.0, 102.0, 99.0, 99.0])
    assert mean == pytest.approx((1 + 0 - 100 / 98 + 1) / 4) and half > 1.0  # four noisy pairs prove nothing
