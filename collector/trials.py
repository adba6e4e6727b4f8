"""One configuration's measurement: idle baselines, warm-up until settled, gated trial window.

Pure orchestration over injected pieces (a generator, a counter, a sampler, a clock), so it runs
the same against a GPU and against the fakes in the tests.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ecocompute import gates as gates_mod
from ecocompute import stats
from ecocompute.domain import Idle, Trial

from . import hostinfo
from .errors import CollectError
from .sampler import WindowStats


class Workload(Protocol):
    def run_request(self) -> int: ...
    def synchronize(self) -> None: ...


class WindowSource(Protocol):
    def window(self, t0: float, t1: float) -> WindowStats: ...


@dataclass(frozen=True)
class TrialPlan:
    """The protocol knobs of the trial loop (recorded in the submission's protocol)."""

    warmup_min: int = 2
    warmup_max: int = 6
    settle_pct: float = 2.0
    trial_min_s: float = 10.0
    idle_window_s: float = 5.0
    max_config_s: float = 600.0  # a configuration's own time (its trials and idle windows), not wall time
    gates: gates_mod.Gates = gates_mod.DEFAULT_GATES


@dataclass
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass
class ConfigResult:
    idle: Idle
    trials: list[Trial]
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def settled(throughputs: list[float], plan: TrialPlan) -> bool:
    """Warm-up is over when the last two warm-up trials agree within settle_pct."""
    if len(throughputs) < 2:
        return False
    a, b = throughputs[-2], throughputs[-1]
    return abs(b - a) / max(a, b) * 100.0 < plan.settle_pct


class Runner:
    def __init__(
        self,
        workload: Workload,
        sampler: WindowSource,
        counter: Callable[[], list[float]] | None,
        plan: TrialPlan,
        clock: Clock | None = None,
        on_trial: Callable[[Trial], None] | None = None,
    ) -> None:
        self.workload = workload
        self.sampler = sampler
        self.counter = counter  # None: the energy counter is unsupported, integrate sampled power
        self.plan = plan
        self.clock = clock or Clock()
        self.on_trial = on_trial or (lambda _t: None)
        self.notes: list[str] = []
        self.trials: list[Trial] = []
        self.window: list[int] = []  # positions in ``trials`` of the last gates.min_trials measured trials
        self.requests = 1
        self.measured = 0
        self.busy_s = 0.0  # this configuration's own time: its trials and idle windows (budget basis)

    def idle_power_w(self) -> float:
        t0, e0 = self.clock.now(), self.counter() if self.counter else None
        self.clock.sleep(self.plan.idle_window_s)
        t1, e1 = self.clock.now(), self.counter() if self.counter else None
        self.busy_s += t1 - t0
        if e0 is not None and e1 is not None:
            return sum(b - a for a, b in zip(e0, e1, strict=True)) / (t1 - t0)
        return self.sampler.window(t0, t1).power_avg_w

    def trial(self, index: int, role: str, requests: int) -> Trial:
        for attempt in range(2):
            gc.collect()
            gc.disable()  # a collection inside the window would be measured as model time
            try:
                cpu0 = hostinfo.cpu_times()
                self.workload.synchronize()
                t0, e0 = self.clock.now(), self.counter() if self.counter else None
                tokens = sum(self.workload.run_request() for _ in range(requests))
                self.workload.synchronize()
                t1, e1 = self.clock.now(), self.counter() if self.counter else None
                cpu1 = hostinfo.cpu_times()
            finally:
                gc.enable()
            window = self.sampler.window(t0, t1)
            per_gpu = [b - a for a, b in zip(e0, e1, strict=True)] if e0 is not None and e1 is not None else None
            if per_gpu is not None and min(per_gpu) < 0:
                self.notes.append(
                    f"energy counter went backwards during trial {index} (attempt {attempt + 1}); trial repeated"
                )
                continue
            break
        else:
            raise CollectError(
                "the NVML energy counter went backwards twice in a row; is another tool resetting the GPU?"
            )
        self.busy_s += t1 - t0
        energy = sum(per_gpu) if per_gpu is not None else window.energy_j
        host = hostinfo.host_signals(cpu0, cpu1)
        result = Trial(
            index=index,
            role=role,
            requests=requests,
            duration_s=t1 - t0,
            generated_tokens=tokens,
            energy_j=energy,
            energy_per_gpu_j=tuple(per_gpu) if per_gpu is not None else (window.energy_j,),
            power_avg_w=window.power_avg_w,
            power_peak_w=window.power_peak_w,
            power_nvml_avg_1s_w=window.power_avg_1s_w,
            power_samples=window.samples,
            sample_rate_hz=window.sample_rate_hz,
            sampler_energy_j=window.energy_j if per_gpu is not None else None,
            temperature_max_c=window.temperature_max_c,
            sm_clock_mhz_mean=window.sm_clock_mhz_mean,
            mem_clock_mhz_mean=window.mem_clock_mhz_mean,
            throttle_reasons=tuple(window.throttle_reasons),
            cpu_load_1m=host["cpu_load_1m"],
            cpu_steal_pct=host["cpu_steal_pct"],
        )
        self.on_trial(result)
        return result

    def warm_up(self) -> None:
        """Trials marked warm-up until two at full size agree (bounded); the gate window slides past the rest."""
        plan, sized = self.plan, []  # sized: throughputs of consecutive warm-ups at the final trial size
        while True:
            t = self.trial(len(self.trials), "warmup", self.requests)
            self.trials.append(t)
            if t.duration_s < 0.9 * plan.trial_min_s:  # too short: resize, and start settling again
                self.requests = max(1, math.ceil(plan.trial_min_s / (t.duration_s / self.requests)))
                sized = []
            else:
                sized.append(t.throughput_tok_s)
            if len(self.trials) >= plan.warmup_min and settled(sized, plan):
                return
            if len(self.trials) >= plan.warmup_max:
                self.notes.append(
                    f"warm-up did not settle within {plan.warmup_max} trials (settle {plan.settle_pct} %)"
                )
                return

    def step(self) -> bool:
        """One measured trial; True when the window passes the gates or the budget is spent."""
        plan, n = self.plan, self.plan.gates.min_trials
        t = self.trial(len(self.trials), "measured", self.requests)
        self.trials.append(t)
        self.window.append(len(self.trials) - 1)
        self.measured += 1
        if len(self.window) > n:
            left = self.window.pop(0)
            self.trials[left] = replace(self.trials[left], role="discarded")
        if len(self.window) < n:
            return False
        if gates_mod.evaluate(stats.summarize([self.trials[i] for i in self.window], 0.0), plan.gates).passed:
            return True
        # Budgets end the search for a passing window, never a window shorter than the gate needs.
        return self.measured >= plan.gates.max_trials or self.busy_s > plan.max_config_s

    def result(self, idle: Idle) -> ConfigResult:
        throttles = sorted({r for t in self.trials for r in t.throttle_reasons} - {"applications_clocks_setting"})
        if throttles:
            self.notes.append(f"clock events during trials: {', '.join(throttles)}")
        return ConfigResult(idle, self.trials, self.notes, self.busy_s)

    def run(self) -> ConfigResult:
        """The sequential protocol: idle, warm-up, trials until the gates pass or the budget ends, idle."""
        idle_before = self.idle_power_w()
        self.warm_up()
        while not self.step():
            pass
        idle_after = self.idle_power_w()
        return self.result(Idle(idle_before, idle_after))


def finish(result: ConfigResult, plan: TrialPlan) -> dict[str, Any]:
    """Summary, gate and status of a configuration, computed as the validator recomputes them."""
    summary = stats.summarize(result.trials, result.idle.power_w)
    gate = gates_mod.evaluate(summary, plan.gates)
    return {
        "idle": result.idle.to_dict(),
        "trials": [t.to_dict() for t in result.trials],
        "summary": summary.to_dict() if summary else None,
        "gate": gate.to_dict(),
        "status": gates_mod.status_for(gate),
    }
