"""Attack v6: a board older than Turing (compute capability below 7.5: the table's V100s) runs no torch
built for CUDA 13 and no driver after branch 580 (validator/architecture.py)."""

from __future__ import annotations

import copy

import synthetic

from validator.check import check_data


def _volta(doc: dict) -> dict:
    g = doc["environment"]["gpu"]
    g.update(
        name="Tesla V100-SXM2-32GB",
        architecture="Volta",
        compute_capability="7.0",
        memory_total_mib=32510,
        power_limit_default_w=300.0,
        power_limit_enforced_w=300.0,
        power_limit_max_w=300.0,
    )
    return doc


def test_a_volta_board_under_cuda_13_or_a_driver_after_580_is_named() -> None:
    doc = synthetic.submission(seed=12, n_measurements=1, n_trials=7)
    base = {f.code for f in check_data(_volta(copy.deepcopy(doc)), "v.json").findings}
    software, driver = doc["environment"]["software"], doc["environment"]["driver"]
    assert driver["driver_version"].startswith("580.") and software["torch_cuda"].startswith("13.")

    cuda_13 = _volta(copy.deepcopy(doc))
    found = check_data(cuda_13, "v.json").findings
    assert [f.pointer for f in found if f.code == "provenance.software_versions"] == [
        "/environment/software/torch_cuda"
    ]

    cuda_12 = _volta(copy.deepcopy(doc))
    cuda_12["environment"]["software"].update(torch="2.11.0+cu128", torch_cuda="12.8")
    assert "provenance.software_versions" not in {f.code for f in check_data(cuda_12, "v.json").findings}

    newer_driver = copy.deepcopy(cuda_12)
    newer_driver["environment"]["driver"].update(driver_version="590.44.01", nvml_version="13.590.44.01")
    assert [f.pointer for f in check_data(newer_driver, "v.json").findings if f.code == "provenance.driver_cuda"] == [
        "/environment/driver/driver_version"
    ]
    turing = copy.deepcopy(newer_driver)
    turing["environment"]["gpu"].update(compute_capability="7.5")
    assert "provenance.driver_cuda" not in {f.code for f in check_data(turing, "v.json").findings}
    assert "provenance.driver_cuda" not in base
