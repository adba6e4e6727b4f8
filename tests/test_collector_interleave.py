"""The interleaved schedule on fakes: turn order, gates per configuration, checkpoints, faults."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count, repeat
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from test_collector_trials import POWER_W, FakeTime, FakeWindows

from collector import interleave, records
from collector.models import LoadedModel
from collector.sweep import Events, SweepConfig
from collector.trials import Clock, TrialPlan
from ecocompute.gates import Gates

STEADY = 0.5  # seconds per request


class Log:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.checkpointed: list[tuple[str, int, str]] = []

    def add(self, m: dict[str, Any]) -> None:  # the checkpoint
        self.checkpointed.append((m["precision"], m["batch_size"], m["status"]))


class Workload:
    def __init__(self, name: str, clock: FakeTime, durations: Iterator[float], log: Log, oom_at: int | None) -> None:
        self.name, self.clock, self.durations, self.log, self.oom_at = name, clock, durations, log, oom_at

    def synchronize(self) -> None: ...

    def run_request(self) -> int:
        self.log.calls.append(self.name)
        if self.oom_at is not None and sum(c == self.name for c in self.log.calls) == self.oom_at:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.clock.t += next(self.durations)
        return 128


class Source:
    def __init__(self, oom_precision: str | None = None) -> None:
        self.oom_precision = oom_precision

    def load(self, precision: str) -> LoadedModel:
        if precision == self.oom_precision:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        quant = {"method": "none", "torch_dtype": "float16"}
        return LoadedModel(precision, None, {"id": "m", "parameter_count": 10}, quant, "sdpa")

    def describe(self) -> dict[str, Any]:
        return {"id": "m", "parameter_count": 10}

    def quantization(self, precision: str) -> dict[str, Any]:
        return {"method": "none", "torch_dtype": "float16"}


def _run(
    durations: dict[str, Iterator[float]] | None = None,
    oom_at: dict[str, int] | None = None,
    source: Source | None = None,
    max_trials: int = 12,
) -> tuple[list[dict[str, Any]], Log]:
    clock, log = FakeTime(), Log()
    durations, oom_at = durations or {}, oom_at or {}
    plan = TrialPlan(trial_min_s=1.0, idle_window_s=1.0, warmup_min=2, warmup_max=3, gates=Gates(max_trials=max_trials))
    cfg = SweepConfig(model_id="m", precisions=["fp16", "nf4"], batch_sizes=[1, 8], weights="random", plan=plan)

    def generator(model: str, prompt: Any, batch: int, tokens: int, cache: str) -> Workload:
        name = f"{model} bs={batch}"
        return Workload(name, clock, durations.get(name, repeat(STEADY)), log, oom_at.get(name))

    hooks = SimpleNamespace(generator=generator, clock=Clock(clock.now, clock.sleep))

    def counter() -> list[float]:
        return [clock.t * POWER_W]

    ctx = records.Context(cfg, hooks, Events(), log, None, None, source or Source(), counter, FakeWindows(), 4)
    return interleave.run_interleaved(ctx, {"fp16": [1, 8], "nf4": [1, 8]}), log


def test_configurations_take_turns_and_the_first_turn_rotates() -> None:
    records, log = _run()
    names = ["fp16 bs=1", "fp16 bs=8", "nf4 bs=1", "nf4 bs=8"]
    # warm-ups per configuration (1 sizing request, then trials of 2 requests until two agree)
    warm = [n for n in names for _ in range(1 + 2 + 2)]
    assert log.calls[: len(warm)] == warm
    measured = log.calls[len(warm) :: 2]  # 2 requests per trial
    rounds = [measured[i : i + 4] for i in range(0, len(measured), 4)]
    assert rounds[0] == names and rounds[1] == names[1:] + names[:1] and rounds[2] == names[2:] + names[:2]
    assert len(rounds) == 5 and all(sorted(r) == sorted(names) for r in rounds)
    assert [m["status"] for m in records] == ["ok"] * 4
    idles = {m["idle"]["power_before_w"] for m in records}
    assert len(idles) == 1  # one shared idle baseline before


def test_a_noisy_configuration_keeps_measuring_after_the_others_are_checkpointed() -> None:
    noisy = (STEADY * (1 + 0.05 * (i % 7)) for i in count())
    records, log = _run(durations={"nf4 bs=1": noisy}, max_trials=9)
    assert log.checkpointed[:3] == [("fp16", 1, "ok"), ("fp16", 8, "ok"), ("nf4", 8, "ok")]
    assert log.checkpointed[3] == ("nf4", 1, "gate_failed")
    (failed,) = [m for m in records if m["status"] == "gate_failed"]
    assert sum(t["role"] in ("measured", "discarded") for t in failed["trials"]) == 9
    assert sum(t["role"] == "measured" for t in failed["trials"]) == 5
    assert all(m["idle"]["power_after_w"] == pytest.approx(POWER_W) for m in records)  # an idle window each


def test_out_of_memory_in_a_trial_skips_that_configuration_alone() -> None:
    records, log = _run(oom_at={"fp16 bs=8": 9})
    status = {(m["precision"], m["batch_size"]): m["status"] for m in records}
    assert status == {("fp16", 1): "ok", ("fp16", 8): "skipped", ("nf4", 1): "ok", ("nf4", 8): "ok"}
    (skipped,) = [m for m in records if m["status"] == "skipped"]
    assert "out of memory at batch 8" in skipped["skip_reason"] and skipped["trials"] == []
    assert log.checkpointed[0] == ("fp16", 8, "skipped")


def test_out_of_memory_while_loading_skips_that_precision() -> None:
    records, _ = _run(source=Source(oom_precision="nf4"))
    status = {(m["precision"], m["batch_size"]): m["status"] for m in records}
    assert status == {("nf4", 1): "skipped", ("nf4", 8): "skipped", ("fp16", 1): "ok", ("fp16", 8): "ok"}
    assert all("next to the other precisions" in m["skip_reason"] for m in records if m["status"] == "skipped")


def test_auto_interleaves_only_when_every_precision_fits() -> None:
    params = 7_240_000_000
    precisions = ["fp16", "int8", "int8-pure", "nf4"]
    need = interleave.resident_bytes(params, precisions)
    assert 35 * 2**30 < need < 45 * 2**30
    assert interleave.choose("auto", params, precisions, 8, 79 * 2**30) == (True, None)
    on, why = interleave.choose("auto", params, precisions, 8, 23 * 2**30)
    assert not on and "not interleaved" in (why or "") and "23 GiB" in (why or "")
    assert interleave.choose("auto", params, precisions, 8, None)[0] is False
    assert interleave.choose("sequential", params, precisions, 8, 79 * 2**30) == (False, None)
    assert interleave.choose("interleaved", params, precisions, 8, 1.0) == (True, None)
    assert interleave.choose("auto", params, ["fp16"], 1, 79 * 2**30) == (False, None)
