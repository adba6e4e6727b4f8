"""Physical bounds that per-file fixtures cannot show alone: the roofline of a model placed over
several GPUs (accelerate's device map runs the layers one board after another)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ecocompute import catalogue, domain, reference
from ecocompute.measurement import Placement
from validator import hardware


def _over_two_gpus(doc: dict[str, Any], speed: float) -> list[str]:
    """The first measurement placed over two GPUs by a device map, its trials decoding at ``speed``
    times one board's bandwidth roofline; the codes hardware.check finds."""
    ref = reference.default()
    sub = domain.parse(doc)
    m = sub.measurements[0]
    read_bytes = ref.models[m.model.id].active_parameter_count * catalogue.PRECISIONS[m.precision].bytes_per_param
    bound = m.batch_size * ref.gpus[sub.environment.gpu.name].memory_bandwidth_gb_s * 1e9 / read_bytes
    trials = tuple(replace(t, duration_s=t.generated_tokens / (speed * bound)) for t in m.trials)
    placed = replace(m, trials=trials, placement=Placement("device_map", {"model.layers.0": 0, "lm_head": 1}))
    gpu = replace(sub.environment.gpu, count=2)
    two = replace(sub, measurements=(placed,), environment=replace(sub.environment, gpu=gpu))
    return [f.code for f in hardware.check(two, "f.json", ref)]


@pytest.mark.parametrize(("speed", "rejected"), [(1.2, False), (1.3, True), (1.9, True)])
def test_two_gpus_do_not_double_the_roofline(valid_doc: dict[str, Any], speed: float, rejected: bool) -> None:
    # 1.9x one board's roofline passed while the bound counted both boards' bandwidth
    assert ("physics.roofline" in _over_two_gpus(valid_doc, speed)) is rejected
