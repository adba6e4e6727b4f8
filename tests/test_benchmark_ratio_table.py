"""The per-architecture ratio table the closing notes quote (benchmarks/ratio_table.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from conftest import script_module

from advisor.analysis import Config
from advisor.estimate import LogEstimate, of_mean


def _module() -> ModuleType:
    return script_module("benchmarks/ratio_table.py")


def _config(model: str, params: int, precision: str, engine: str, batch: int, ratio: LogEstimate | None,
            statuses: tuple[str, ...] = ("ok",), gpu: str = "NVIDIA H100 80GB HBM3",
            weights: str = "random_init") -> Config:  # fmt: skip
    ids = tuple(f"{model}-{weights}-{precision}-{engine}-{batch}-{i}" for i in range(len(statuses)))
    paired = 0 if ratio is None else len(statuses)
    return Config(gpu, model, weights, params, precision, engine, batch, 128, ids, statuses,
                  of_mean(1.0, 0.01, 5), 100.0, 300.0, ratio, paired)  # fmt: skip


def test_cell_names_interval_sessions_and_failed_gates() -> None:
    m = _module()
    one = of_mean(1.1, 0.011, 5)  # a ratio's LogEstimate has the same shape
    assert m.cell(_config("a", 10**9, "nf4", "cuda-graph", 1, one)).startswith("1.100 [")
    assert m.cell(_config("a", 10**9, "nf4", "cuda-graph", 1, one)).endswith("]")
    assert m.cell(_config("a", 10**9, "nf4", "cuda-graph", 1, LogEstimate(0.0, None, None))) == "1.000"
    two = _config("a", 10**9, "int8", "generate", 8, one, ("gate_failed", "ok"))
    assert m.cell(two).endswith("(2 sessions, 1 gate_failed)")
    failed = _config("a", 10**9, "int8", "generate", 8, one, ("gate_failed",))
    assert m.cell(failed).endswith("(gate_failed)")
    # two sessions, one of them on a board without an fp16 row: the ratio pools one
    one_paired = replace(_config("a", 10**9, "bf16", "cuda-graph", 1, one, ("ok", "ok")), vs_fp16_sessions=1)
    assert m.cell(one_paired).endswith("]")
    assert m.cell(one_paired, one).endswith("(2 sessions)")  # a value given: every session's energy


def test_table_orders_by_size_then_engine_and_filters_the_gpu() -> None:
    r = of_mean(0.9, 0.009, 5)  # se 0.009 / (sqrt(5) x 0.9), t(4) = 2.776: 0.9 x exp(-+0.0124)
    configs = [
        _config("big", 14 * 10**9, "nf4", "cuda-graph", 1, r),
        _config("small", 5 * 10**8, "nf4", "cuda-graph", 8, r),
        _config("small", 5 * 10**8, "int8", "generate", 1, r, ("gate_failed",)),
        _config("small", 5 * 10**8, "fp16", "cuda-graph", 8, None),  # the reference: no column
        _config("other", 10**9, "nf4", "cuda-graph", 1, r, gpu="NVIDIA A800 80GB"),
        _config("big", 14 * 10**9, "nf4", "cuda-graph", 1, of_mean(0.5, 0.005, 5), weights="pretrained"),
    ]
    out = _module().table(SimpleNamespace(configs=configs), "h100")
    assert out[0] == "| GPU | model | parameters | weights | tokens | engine | batch | int8 | nf4 |"
    assert out[1] == "|---|---|---|---|---|---|---|---|---|"
    models = [line.split(" | ")[1:7] for line in out[2:]]
    assert models == [  # the same model with other weights is a line of its own, not a value overwritten
        ["small", "500 M", "random_init", "128", "generate", "1"],
        ["small", "500 M", "random_init", "128", "cuda-graph", "8"],
        ["big", "14.00 B", "pretrained", "128", "cuda-graph", "1"],
        ["big", "14.00 B", "random_init", "128", "cuda-graph", "1"],
    ]
    assert out[4].endswith("| - | 0.500 [0.494-0.506] |") and out[5].endswith("| - | 0.900 [0.889-0.911] |")
    assert out[2].endswith("(gate_failed) | - |") and out[3].endswith("| - | 0.900 [0.889-0.911] |")
    assert _module().table(SimpleNamespace(configs=configs), "RTX") == []


def test_main_fails_in_one_line_without_a_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _module().main([str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_engine_table_divides_by_fp16_on_the_cuda_graph_of_the_same_model_and_batch() -> None:
    def cfg(model: str, precision: str, engine: str, batch: int, energy: float) -> Config:
        return Config("NVIDIA H100 80GB HBM3", model, "random_init", 10**9, precision, engine, batch, 128,
                      (f"{model}{precision}{engine}{batch}",), ("gate_failed",) if engine == "generate" else ("ok",),
                      of_mean(energy, energy / 100, 5), 100.0, 300.0, None)  # fmt: skip

    configs = [
        cfg("a", "fp16", "cuda-graph", 1, 1.0),
        cfg("a", "fp16", "generate", 1, 4.0),
        cfg("a", "int8", "generate", 1, 12.0),
        cfg("a", "int8", "generate", 8, 12.0),  # no fp16 on the CUDA graph at batch 8: left out
        cfg("b", "nf4", "generate", 1, 2.0),  # nor for another model
    ]
    out = _module().engine_table(SimpleNamespace(configs=configs), "H100")
    assert out[0].endswith("| fp16 / fp16 on cuda-graph | int8 / fp16 on cuda-graph |")
    assert len(out) == 3
    assert out[2].startswith("| NVIDIA H100 80GB HBM3 | a | 1.00 B | random_init | 128 | generate | 1 | 4.000 [")
    assert "| 12.000 [" in out[2] and out[2].endswith("(gate_failed) |")
    assert _module().engine_table(SimpleNamespace(configs=configs[:1]), "H100") == []
