"""One configuration's measurement: idle baselines, warm-up until settled, trials until the gate
window passes or passing has become implausible or a budget ends.

Pure orchestration over injected pieces (a workload, an energy counter, a sampler, a clock), so it
runs the same against a GPU and against the fakes in the tests.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from ecocompute import catalogue, stats, warmup
from ecocompute import gates as gates_mod
from ecocompute.domain import GateOutcome, Idle, Summary, Trial

from . import hostinfo
from .engines import Workload
from .errors import CollectError, NvmlError, TrialsTooShort
from .request import TrialPlan
from .sampler import WindowStats

# The energy counter steps every 0.1 s (a board whose counter steps more coarsely than
# counterprobe.COUNTER_STEP_MAX_S, timed at the start, is measured without it): over a window this long it has moved,
# wherever the board drew power; and the sampler, reading every period, has read inside it.
STILL_S = 0.5
# More than this many times the sampled energy, plus this long at the sampled peak (nvmlDeviceGetPowerUsage
# trails by up to its 1-s average, the window's edges by a sample), is no measurement but a counter's jump.
COUNTER_JUMP_FACTOR = 2.0
COUNTER_JUMP_LAG_S = 1.5
# A stretch of a window this long (or this many sampler periods) without a reading is the sampler stalled
# (or the whole VM suspended), not its jitter: the window's power would be interpolated over it.
GAP_S, GAP_PERIODS = 1.0, 10
_COUNTER_HINT = "another tool resetting the GPU, a driver reload?"
_SAMPLER_HINT = "the host starving the sampler's process of CPU, a suspended VM?"
_READ_HINT = "NVML timing out or failing, the GPU fallen off the bus?"


def window_fault(
    energy_per_gpu: list[float] | None, window: WindowStats, duration_s: float, period_s: float = 0.05
) -> tuple[str, str] | None:
    """(what, its likely cause) where a window's readings cannot be written as measured; None when they can.
    ``energy_per_gpu``: each board's energy-counter difference between the window's ends (None: no counter),
    judged against the sampler's power over the same window. Backwards: a driver reload or a reset (or, in
    theory, a wrap); still while power was sampled, or far above what the sampler read: the counter failed.
    No reading inside a window of several sampler periods (``period_s``), or none for a second or more of
    it: its sampled power would be drawn from readings outside that stretch."""
    if duration_s >= max(STILL_S, 4 * period_s) and window.samples == 0:
        return f"the power sampler took no reading in {duration_s:.1f} s", _SAMPLER_HINT
    if window.gap_s > max(GAP_S, GAP_PERIODS * period_s):
        return f"the power sampler took no reading for {window.gap_s:.1f} s of {duration_s:.1f} s", _SAMPLER_HINT
    if energy_per_gpu is None:
        return None
    total = sum(energy_per_gpu)
    if min(energy_per_gpu) < 0:
        return "the NVML energy counter went backwards (a driver reload or a reset)", _COUNTER_HINT
    if duration_s >= STILL_S and window.energy_j > 0 and min(energy_per_gpu) == 0:
        what = f"the NVML energy counter stood still for {duration_s:.1f} s"
        what += f" while the sampler read {window.power_avg_w:.0f} W"
        return what, _COUNTER_HINT
    if total > COUNTER_JUMP_FACTOR * window.energy_j + window.power_peak_w * COUNTER_JUMP_LAG_S:
        what = (
            f"the NVML energy counter jumped: {total:.0f} J in {duration_s:.1f} s, where the sampler read "
            f"{window.energy_j:.0f} J (peak {window.power_peak_w:.0f} W)"
        )
        return what, _COUNTER_HINT
    return None


def _difference(e0: list[float] | NvmlError | None, e1: list[float] | NvmlError | None) -> list[float] | None:
    """Each board's counter difference over a window; None without a counter or where a read failed."""
    if not isinstance(e0, list) or not isinstance(e1, list):
        return None
    return [b - a for a, b in zip(e0, e1, strict=True)]


def _unread(e0: list[float] | NvmlError | None, e1: list[float] | NvmlError | None) -> tuple[str, str] | None:
    """(what, its likely cause) where reading the energy counter at an end of the window failed."""
    error = next((e for e in (e0, e1) if isinstance(e, NvmlError)), None)
    return None if error is None else (f"the NVML energy counter could not be read ({error})", _READ_HINT)


def _read(counter: Callable[[], list[float]] | None) -> list[float] | NvmlError | None:
    """Each board's energy counter (None: no counter), or the NVML error that reading it met: a read
    failing in passing (a timeout) is a window's fault, measured again, not the end of the run."""
    if counter is None:
        return None
    try:
        return counter()
    except NvmlError as exc:
        return exc


def _failed(notes: list[str], fault: tuple[str, str], window: str, attempt: int) -> None:
    """A window whose readings are broken: noted and measured again once; twice, the run ends."""
    what, cause = fault
    if attempt:
        raise CollectError(
            f"{what}, in {window} measured twice in a row: the readings cannot be trusted here ({cause}); "
            "nothing of this window is written"
        )
    notes.append(f"{what} during {window}; measured again")


class WindowSource(Protocol):
    def window(self, t0: float, t1: float) -> WindowStats: ...


@dataclass
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass
class IdleReading:
    power_w: float
    per_gpu_w: tuple[float, ...]


@dataclass
class ConfigResult:
    idle: Idle
    trials: list[Trial]
    stopped_by: str
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def outcome(self, plan: TrialPlan) -> tuple[Summary | None, GateOutcome, str]:
        """Summary, gate and status, computed as the validator recomputes them."""
        summary = stats.summarize(self.trials, self.idle.power_w)
        gate = gates_mod.evaluate(summary, plan.gates)
        return summary, gate, gates_mod.status_for(gate)


def settled(throughputs: list[float], plan: TrialPlan) -> bool:
    """Warm-up is over when the last two warm-up trials agree within settle_pct (``ecocompute.warmup``)."""
    return len(throughputs) >= 2 and warmup.settled(throughputs[-2], throughputs[-1], plan.settle_pct)


@dataclass
class IdleWindow:
    reading: IdleReading
    notes: list[str]  # its readings' faults, each measured again
    elapsed_s: float  # its time, a window measured again included (the budget's basis)


@dataclass
class IdleMeter:
    """Idle windows: board power with nothing running (per GPU and summed). It holds no engine: the interleaved
    schedule measures the windows its configurations share with one, not through a configuration's runner."""

    sampler: WindowSource
    counter: Callable[[], list[float]] | None
    plan: TrialPlan
    clock: Clock
    sample_period_s: float = 0.05

    def measure(self) -> IdleWindow:
        notes: list[str] = []
        elapsed = 0.0
        for attempt in range(2):
            t0, e0 = self.clock.now(), _read(self.counter)
            self.clock.sleep(self.plan.idle_window_s)
            t1, e1 = self.clock.now(), _read(self.counter)
            elapsed += t1 - t0
            window = self.sampler.window(t0, t1)
            energy = _difference(e0, e1)
            fault = _unread(e0, e1) or window_fault(energy, window, t1 - t0, self.sample_period_s)
            if fault is None:
                break
            _failed(notes, fault, "an idle window", attempt)
        if energy is not None:
            per_gpu = tuple(e / (t1 - t0) for e in energy)
            return IdleWindow(IdleReading(sum(per_gpu), per_gpu), notes, elapsed)
        # each board's integral over the window, as the total's: a mean of its samples (0.1.0-0.5.0) sums
        # to a different figure wherever the readings vary and the samples are not evenly spread
        per_board = tuple(e / (t1 - t0) for e in window.energy_per_gpu_j) or (window.power_avg_w,)
        return IdleWindow(IdleReading(window.power_avg_w, per_board), notes, elapsed)


class Runner:
    def __init__(
        self,
        workload: Workload,
        sampler: WindowSource,
        counter: Callable[[], list[float]] | None,
        plan: TrialPlan,
        clock: Clock | None = None,
        on_trial: Callable[[Trial], None] | None = None,
        session_t0: float = 0.0,
        sample_period_s: float = 0.05,
    ) -> None:
        self.workload = workload
        self.sampler = sampler
        self.counter = counter  # None: the energy counter is unsupported, integrate sampled power
        self.plan = plan
        self.clock = clock or Clock()
        self.on_trial = on_trial or (lambda _t: None)
        self.session_t0 = session_t0  # trials record their start relative to it
        self.sample_period_s = sample_period_s  # the sampler's: a window of a few has readings inside
        self.notes: list[str] = []
        self.trials: list[Trial] = []
        self.window: list[int] = []  # positions in ``trials`` of the last gates.min_trials measured trials
        self.requests = 1
        self.busy_s = 0.0  # this configuration's own time: its trials and idle windows (budget basis)
        self.stopped_by: str | None = None
        self.failed_readings: dict[int, int] = {}  # trial index -> NVML readings that failed within it

    def idle_power(self) -> IdleReading:
        """Board power with nothing running, over one idle window of this configuration's own."""
        window = IdleMeter(self.sampler, self.counter, self.plan, self.clock, self.sample_period_s).measure()
        self.served(window)
        return window.reading

    def served(self, window: IdleWindow) -> None:
        """An idle window this configuration's row records: its notes, and its whole time on the time budget,
        one the interleaved schedule shares included (a configuration's budget then covers what a window of its
        own would take, as on the sequential schedule)."""
        self.notes += window.notes
        self.busy_s += window.elapsed_s

    def trial(self, index: int, role: str, requests: int) -> Trial:
        for attempt in range(2):
            gc.disable()  # a collection inside the window would be measured as model time
            try:
                cpu0 = hostinfo.cpu_times()
                self.workload.synchronize()
                t0, e0 = self.clock.now(), self._energy()
                tokens = sum(self.workload.run_request() for _ in range(requests))
                self.workload.synchronize()
                t1, e1 = self.clock.now(), self._energy()
                cpu1 = hostinfo.cpu_times()
            finally:
                gc.enable()
            window = self.sampler.window(t0, t1)
            per_gpu = _difference(e0, e1)
            fault = _unread(e0, e1) or window_fault(per_gpu, window, t1 - t0, self.sample_period_s)
            if fault is None:
                break
            _failed(self.notes, fault, f"trial {index}", attempt)
        if window.failed_readings:
            self.failed_readings[index] = window.failed_readings
        self.busy_s += t1 - t0
        host = hostinfo.host_signals(cpu0, cpu1)
        result = Trial(
            index=index,
            role=role,
            requests=requests,
            duration_s=t1 - t0,
            generated_tokens=tokens,
            energy_j=sum(per_gpu) if per_gpu is not None else window.energy_j,
            # no counter: each board's sampled power integrated over the window (0.1.0-0.5.0 wrote one value)
            energy_per_gpu_j=tuple(per_gpu) if per_gpu is not None else window.energy_per_gpu_j or (window.energy_j,),
            power_avg_w=window.power_avg_w,
            power_peak_w=window.power_peak_w,
            power_samples=window.samples,
            sample_rate_hz=window.sample_rate_hz,
            sampler_energy_j=window.energy_j if per_gpu is not None else None,
            temperature_max_c=window.temperature_max_c,
            sm_clock_mhz_mean=window.sm_clock_mhz_mean,
            mem_clock_mhz_mean=window.mem_clock_mhz_mean,
            throttle_reasons=tuple(window.throttle_reasons),
            cpu_load_1m=host["cpu_load_1m"],
            cpu_steal_pct=host["cpu_steal_pct"],
            power_nvml_avg_1s_w=window.power_avg_1s_w,
            started_at_s=t0 - self.session_t0,
            power_reading=window.power_reading,
        )
        self.on_trial(result)
        return result

    def _energy(self) -> list[float] | NvmlError | None:
        return _read(self.counter)

    def warm_up(self) -> None:
        """Trials marked warm-up until two at full size agree (bounded); the gate window slides past the rest."""
        plan = self.plan
        while True:
            t = self.trial(len(self.trials), catalogue.ROLE_WARMUP, self.requests)
            self.trials.append(t)
            full_size = warmup.full_size(t.duration_s, plan.trial_min_s)
            if not full_size:  # too short: resize
                self.requests = warmup.requests_for(plan.trial_min_s, t.duration_s / self.requests)
            # Settled when a full-size trial agrees with the one before it, whatever that one's size:
            # throughput is a rate, and a first request that still compiles or warms caches disagrees.
            rates = [w.throughput_tok_s for w in self.trials]
            ending = warmup.ended(len(self.trials), plan.warmup_min, plan.warmup_max, full_size, settled(rates, plan))
            if ending == "budget":
                self.notes.append(
                    f"warm-up did not settle within {plan.warmup_max} trials (settle {plan.settle_pct} %)"
                )
            if ending is not None:
                return

    def step(self) -> bool:
        """One measured trial; True when the configuration is done (``stopped_by`` says why)."""
        plan, n = self.plan, self.plan.gates.min_trials
        t = self.trial(len(self.trials), catalogue.ROLE_MEASURED, self.requests)
        self.trials.append(t)
        if t.duration_s < catalogue.TRIAL_DURATION_FRACTION * plan.trial_min_s:
            # Sizes are fixed after warm-up (the early stop compares trials of one size): a GPU that
            # ran more than twice as fast after sizing left trials the protocol does not allow.
            raise TrialsTooShort(
                f"a trial after warm-up lasted {t.duration_s:.3f} s, under {catalogue.TRIAL_DURATION_FRACTION:g} x "
                f"the {plan.trial_min_s:g}-s minimum: its {t.requests} request(s) were sized in warm-up and the "
                "GPU then ran more than twice as fast; measure this configuration again in a new run "
                "(--resume keeps it skipped)"
            )
        self.window.append(len(self.trials) - 1)
        if len(self.window) > n:
            left = self.window.pop(0)
            self.trials[left] = replace(self.trials[left], role=catalogue.ROLE_DISCARDED)
        if len(self.window) < n:
            return False
        if gates_mod.evaluate(stats.summarize([self.trials[i] for i in self.window], 0.0), plan.gates).passed:
            self.stopped_by = "gates_passed"
        elif gates_mod.implausible(self.trials, plan.gates, plan.early_stop):
            self.stopped_by = "implausible"
        # Budgets end the search for a passing window, never a window shorter than the gate needs.
        elif sum(not t.is_warmup for t in self.trials) >= plan.gates.max_trials:
            self.stopped_by = "trial_budget"
        elif self.busy_s > plan.max_config_s:
            self.stopped_by = "time_budget"
        return self.stopped_by is not None

    def result(self, idle: Idle) -> ConfigResult:
        if self.stopped_by is None:
            raise CollectError("result() before the configuration finished its trials")
        throttles = sorted({r for t in self.trials for r in t.throttle_reasons} - {"applications_clocks_setting"})
        if throttles:
            self.notes.append(f"clock events during trials: {', '.join(throttles)}")
        fallbacks = sorted({t.index for t in self.trials if t.power_reading != "nvml_power_instant_field"})
        if fallbacks:
            self.notes.append(
                f"NVML's instant power field failed during trial(s) {fallbacks}: their sampled power is partly "
                "nvmlDeviceGetPowerUsage, a 1-s average on Ampere and newer (see each trial's power_reading)"
            )
        if self.failed_readings:
            failed = ", ".join(f"{n} in trial {i}" for i, n in sorted(self.failed_readings.items()))
            self.notes.append(
                f"NVML power readings failed and were left out of the sampled power ({failed}): the sampler's "
                "figures of those trials rest on fewer readings (see each trial's power_samples)"
            )
        if self.stopped_by == "implausible":
            past_warm_up = sum(not t.is_warmup for t in self.trials)
            self.notes.append(
                f"stopped early after {past_warm_up} trials past warm-up: passing the throughput gate "
                f"had become implausible (rule {self.plan.early_stop.rule})"
            )
        return ConfigResult(idle, self.trials, self.stopped_by, self.notes, self.busy_s)

    def run(self) -> ConfigResult:
        """The sequential protocol: idle, warm-up, trials until done, idle."""
        before = self.idle_power()
        self.warm_up()
        while not self.step():
            pass
        after = self.idle_power()
        return self.result(Idle(before.power_w, after.power_w, before.per_gpu_w, after.per_gpu_w))
