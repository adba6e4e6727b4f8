"""eco-collect without NVML's energy counter (power_integration) on several boards, through the real
sampler arithmetic (``Nvml.sample`` on a fake NVML, ``summarize_window``) on fake time; and eco-validate
on the files eco-collect 0.1.0-0.5.0 wrote in that setting (review 22 F5)."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fake_nvml
import pytest
import test_collector_e2e as e2e
from fakes import Board, FakeTime

from collector.collect import collect
from collector.nvml import Nvml, Sample
from collector.sampler import WindowStats, summarize_window
from validator.check import check_data
from validator.run import exit_code, validate

_request, _hooks = e2e._request, e2e._hooks
tiny_config, _cuda_build = e2e.tiny_config, e2e._cuda_build  # the end-to-end tests' fixtures


class NvmlSampler:
    """The real sampler's arithmetic on fake time, without an energy counter: for each window the real
    ``Nvml.sample`` reads a fake NVML every period (slightly uneven) from before the window to the reading
    after it, and the real ``summarize_window`` integrates them. Board 0 draws what ``board`` draws, every
    other board idles at ``other_w``; each reading ripples by up to half a watt in whole mW, as a real
    board's does. Use ``nvml`` as Hooks.nvml and the sampler as Hooks.sampler."""

    def __init__(self, board: Board, gpus: int = 2, other_w: float = 60.0) -> None:
        self.board, self.gpus, self.other_w = board, gpus, other_w
        self.at = board.time.now()  # the time the fake NVML reads
        self.reads = 0
        self.period_s = 0.05
        self.windows: dict[float, tuple[float, float]] = {}  # duration -> (t0, t1) of each window asked for
        self.samples: dict[tuple[float, float], list[Sample]] = {}  # (t0, t1) -> the readings around it

    def power_mw(self, handle: str) -> int:
        k = int(handle.rsplit("-", 1)[1])
        self.reads += 1
        watts = self.board.power_at(self.at) if k == 0 else self.other_w
        return round(watts * 1000) + self.reads * 7919 % 500

    def nvml(self, indices: list[int]) -> Nvml:
        nv = fake_nvml.fake_module(energy_supported=False, gpus=self.gpus)
        nv.nvmlDeviceGetFieldValues.side_effect = lambda h, fields: [
            SimpleNamespace(nvmlReturn=nv.NVML_SUCCESS, valueType=1, value=SimpleNamespace(uiVal=self.power_mw(h)))
            for _ in fields
        ]
        nv.nvmlDeviceGetPowerUsage.side_effect = self.power_mw
        return Nvml(indices, module=nv)

    def __call__(self, factory: Callable[[], Nvml], period_s: float, *_args: Any) -> NvmlSampler:
        self.factory, self.period_s = factory, period_s  # as Sampler(factory, period, mode, pin)
        return self

    def __enter__(self) -> NvmlSampler:
        self._nvml = self.factory().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._nvml.__exit__(*exc)

    def window(self, t0: float, t1: float) -> WindowStats:
        self.windows[t1 - t0] = (t0, t1)
        samples: list[Sample] = []
        k = math.floor(t0 / self.period_s) - 1
        while not samples or samples[-1].t_s <= t1:  # up to the one reading after the window
            self.at = (k + 0.3 * math.sin(k)) * self.period_s
            samples.append(self._nvml.sample(self.at))
            k += 1
        self.samples[t0, t1] = samples
        return summarize_window(samples, t0, t1, self._nvml.throttle_names)


def test_two_gpus_without_an_energy_counter_record_each_boards_integrated_energy(
    tmp_path: Path, tiny_config: Path
) -> None:
    """--gpu 0,1 on boards without NVML's energy counter (power_integration), through the real sampler
    arithmetic (Nvml.sample, summarize_window) on rippling whole-mW readings: the model on board 0, board
    1 idle. Each board's energy is its own sampled power integrated over the window, the two summing to
    the trial's, and each idle baseline its own integral over the idle window: eco-validate accepts the
    file. eco-collect 0.1.0-0.5.0 wrote one per-GPU energy (physics.per_gpu_sum) and each board's mean of
    samples as its idle (protocol.placement: their sum is not the integral's)."""
    board = Board(FakeTime())
    sampled = NvmlSampler(board, gpus=2, other_w=60.0)
    request = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,), gpus=(0, 1))
    path, doc = collect(request, hooks=_hooks(board, nvml=sampled.nvml, sampler=sampled))
    assert doc["protocol"]["energy_method"] == "power_integration" and doc["environment"]["gpu"]["count"] == 2
    (m,) = doc["measurements"]
    for t in m["trials"]:
        assert t["sampler_energy_j"] is None and len(t["energy_per_gpu_j"]) == 2
        assert sum(t["energy_per_gpu_j"]) == pytest.approx(t["energy_j"], rel=1e-12)
        busy, idle = t["energy_per_gpu_j"]
        assert idle == pytest.approx(60.25 * t["duration_s"], rel=0.01)  # board 1: 60 W and its ripple
        t0, t1 = sampled.windows[t["duration_s"]]  # board 0's own energy, less one period of its step at the edges
        assert busy == pytest.approx(board.energy_j(t1) - board.energy_j(t0) + 0.25 * (t1 - t0), abs=180 * 0.05)
    for name in ("power_per_gpu_before_w", "power_per_gpu_after_w"):
        # board 0's window edge may interpolate to a loaded reading one period away
        assert m["idle"][name] == [pytest.approx(70.25, abs=6.0), pytest.approx(60.25, rel=0.01)]
        assert sum(m["idle"][name]) == pytest.approx(m["idle"][name.replace("_per_gpu", "")], rel=1e-12)
    report = validate([path], accepted_root=None)
    assert exit_code(report) == 0, report.findings


def _as_written_by_0_5_0(doc: dict[str, Any], sampled: NvmlSampler) -> dict[str, Any]:
    """The file eco-collect 0.1.0-0.5.0 wrote from the same readings: one per-GPU energy (the trial's), and
    each board's idle the mean of its samples in the window (WindowStats.power_per_gpu_w then)."""
    means = {}
    for (t0, t1), samples in sampled.samples.items():
        used = [s for s in samples if t0 <= s.t_s <= t1] or [samples[-1]]
        now = tuple(e / (t1 - t0) for e in summarize_window(samples, t0, t1, lambda _m: []).energy_per_gpu_j)
        means[now] = [math.fsum(s.power_per_gpu_w[g] for s in used) / len(used) for g in range(sampled.gpus)]
    old = copy.deepcopy(doc)
    old["collector"]["version"] = "0.5.0"
    for m in old["measurements"]:
        for name in ("power_per_gpu_before_w", "power_per_gpu_after_w"):
            m["idle"][name] = means[tuple(m["idle"][name])]
        for t in m["trials"]:
            t["energy_per_gpu_j"] = [t["energy_j"]]
    return old


def _codes(doc: dict[str, Any]) -> set[str]:
    return {f.code for f in check_data(doc, "power-integration.json").findings if f.severity.value == "error"}


@pytest.mark.parametrize("gpus", [(0,), (0, 1)])
def test_files_of_eco_collect_0_5_0_without_an_energy_counter_stay_valid(
    tmp_path: Path, tiny_config: Path, gpus: tuple[int, ...]
) -> None:
    """0.1.0-0.5.0 wrote each board's idle as the mean of its samples, summing apart from the idle total
    (the integral over the window) wherever the readings ripple; on several boards one per-GPU energy, the
    trial's. Such an honest file is accepted (it was rejected: protocol.placement, physics.per_gpu_sum);
    the same shapes from a later eco-collect, an idle for a board not measured or a per-GPU energy that is not the
    trial's are not."""
    board = Board(FakeTime())
    sampled = NvmlSampler(board, gpus=len(gpus), other_w=60.0)
    request = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,), gpus=gpus)
    _, doc = collect(request, hooks=_hooks(board, nvml=sampled.nvml, sampler=sampled))
    old = json.loads(json.dumps(_as_written_by_0_5_0(doc, sampled)))
    idle = old["measurements"][0]["idle"]
    assert sum(idle["power_per_gpu_before_w"]) != pytest.approx(idle["power_before_w"], rel=1e-6)  # it ripples
    assert _codes(old) == set()

    later = copy.deepcopy(old)
    later["collector"]["version"] = "0.6.0"
    assert {"protocol.placement"} | ({"physics.per_gpu_sum"} if len(gpus) > 1 else set()) <= _codes(later)
    extra = copy.deepcopy(old)  # an idle for a board not measured
    extra["measurements"][0]["idle"]["power_per_gpu_before_w"].append(60.0)
    assert "protocol.placement" in _codes(extra)
    if len(gpus) > 1:
        split = copy.deepcopy(old)  # one value that is not the trial's energy
        split["measurements"][0]["trials"][2]["energy_per_gpu_j"][0] *= 0.5
        assert "physics.per_gpu_sum" in _codes(split)


def test_a_board_whose_counter_steps_every_second_is_measured_by_integrated_power(
    tmp_path: Path,
    tiny_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A counter that moves once a second read 0 J over short windows and a quarter off over 4-s trials:
    eco-collect refused the run as a failed counter, or eco-validate refused its file at the end (collrev39
    F4). Its step is timed at the start, and the energy integrated from the sampled power instead."""
    board = Board(FakeTime())

    def nvml(indices: list[int]) -> Nvml:
        nv = fake_nvml.fake_module()
        nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = lambda h: int(
            board.energy_j(math.floor(board.time.now())) * 1000  # what the board drew up to the last whole second
        )
        return Nvml(indices, module=nv)

    one = {"precisions": ("fp32",), "batch_sizes": (1,), "engines": ("generate",)}
    _, doc = collect(_request(tmp_path, tiny_config, **one), hooks=_hooks(board, nvml=nvml))
    assert doc["protocol"]["energy_method"] == "power_integration"
    (m,) = doc["measurements"]
    assert m["status"] == "ok" and any(
        n.startswith("the NVML energy counter moved only once in 2 s") for n in m["notes"]
    )
    assert all(t["sampler_energy_j"] is None for t in m["trials"])
    monkeypatch.chdir(tmp_path / "repo")
    report = validate([Path("submissions")])
    assert exit_code(report) == 0, report.findings
