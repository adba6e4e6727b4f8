"""Physical bounds that per-file fixtures cannot show alone: the roofline of a model placed over
several GPUs (accelerate's device map runs the layers one board after another), and one session at a
time on one GPU across files."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import synthetic
from conftest import write_json

from ecocompute import catalogue, domain, reference
from ecocompute.measurement import Placement
from validator import hardware
from validator.check import Checked
from validator.run import cross_file_findings, validate


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


def _two_sessions_on_one_gpu(tmp_path: Path, second_start: str, second_created: str) -> set[str]:
    first, second = (
        synthetic.submission(seed=1, n_measurements=2, n_trials=7),
        synthetic.submission(seed=2, n_measurements=2, n_trials=7),
    )
    second["environment"]["gpu"] = copy.deepcopy(first["environment"]["gpu"])  # the same board
    second["session"]["started_at"], second["created_at"] = second_start, second_created
    paths = [write_json(tmp_path / "a.json", first), write_json(tmp_path / "b.json", second)]
    return {f.code for f in validate(paths, accepted_root=None).findings}


def test_one_gpu_measures_one_session_at_a_time(tmp_path: Path) -> None:
    # the first file's session runs 11:00-12:00; one starting at 11:30 on the same board cannot be real
    assert _two_sessions_on_one_gpu(tmp_path, "2026-11-22T11:30:00Z", "2026-11-22T12:30:00Z") == {"duplicate.gpu_time"}


def test_sessions_one_after_another_on_one_gpu_pass(tmp_path: Path) -> None:
    assert _two_sessions_on_one_gpu(tmp_path, "2026-11-22T12:00:01Z", "2026-11-22T13:00:01Z") == set()


def test_overlap_is_found_among_many_sessions_of_one_gpu(tmp_path: Path) -> None:
    """A long session reaching past several later ones: the sweep compares with the latest end so far."""
    pool = [
        Checked(f"{i}.json", [], f"id-{i}", gpu=("u", "H100"), session=span)
        for i, span in enumerate([(0.0, 1000.0), (10.0, 20.0), (30.0, 40.0), (2000.0, 2100.0)])
    ]
    found = {f.file for f in cross_file_findings(pool[1:3], pool[:1] + pool[3:])}
    assert found == {"1.json", "2.json"}
