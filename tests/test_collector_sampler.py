"""The sampler against the autospec'd fake NVML: its windows (the integral's edges, the 1-s field's average,
each board's share, the longest stretch without a reading), pausing, the sampler process, and readings that
fail for a moment or for seconds. The NVML adapter itself is test_collector_nvml.py's."""

from __future__ import annotations

import functools
import time
from types import SimpleNamespace

import pynvml
import pytest
from fake_nvml import BOARD, IDLE_W, fake_module, make

from collector.errors import NvmlError
from collector.nvml import Nvml, Sample
from collector.sampler import Sampler, summarize_window


def test_window_integral_interpolates_the_edges() -> None:
    samples = [Sample(t, p, 40, 1000, 2000, 0) for t, p in [(0.0, 100), (1.0, 200), (2.0, 200), (3.0, 100)]]
    stats = summarize_window(samples, 0.5, 2.5, lambda m: [])
    # 0.5-1: 150->200, 1-2: 200, 2-2.5: 200->150  => 87.5 + 200 + 87.5
    assert stats.energy_j == pytest.approx(375.0)
    assert stats.power_avg_w == pytest.approx(187.5)
    assert stats.samples == 2 and stats.power_peak_w == 200


def test_window_averages_the_one_second_field_where_present() -> None:
    samples = [Sample(t, 100, 40, 1000, 2000, 0, avg) for t, avg in [(0.0, 90), (1.0, None), (2.0, 120), (3.0, 80)]]
    assert summarize_window(samples, 0.5, 2.5, lambda m: []).power_avg_1s_w == pytest.approx(120.0)
    assert summarize_window(samples, 0.0, 3.0, lambda m: []).power_avg_1s_w == pytest.approx(290 / 3)
    plain = [Sample(t, 100, 40, 1000, 2000, 0) for t in (0.0, 1.0)]
    assert summarize_window(plain, 0.0, 1.0, lambda m: []).power_avg_1s_w is None


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_sampler_reports_windows(mode: str) -> None:
    with Sampler(functools.partial(make, [0]), period_s=0.01, mode=mode) as sampler:
        t0 = time.monotonic()
        time.sleep(0.3)
        t1 = time.monotonic()
        window = sampler.window(t0, t1)
    assert not BOARD.busy
    assert window.power_avg_w == pytest.approx(IDLE_W)
    assert window.energy_j == pytest.approx(IDLE_W * (t1 - t0), rel=1e-6)
    assert window.sample_rate_hz > 10  # >= 10 Hz required
    assert window.throttle_reasons == []  # GPU idle is not a throttle
    assert window.power_avg_1s_w == pytest.approx(IDLE_W)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_paused_sampler_takes_no_readings_until_resumed(mode: str) -> None:
    with Sampler(functools.partial(make, [0]), period_s=0.01, mode=mode) as sampler:
        sampler.pause()
        t0 = time.monotonic()
        time.sleep(0.2)
        t1 = time.monotonic()
        paused = sampler.window(t0, t1)
        sampler.resume()
        t2 = time.monotonic()
        time.sleep(0.2)
        running = sampler.window(t2, time.monotonic())
    assert paused.samples == 0  # only the reading taken to answer, after t1
    assert running.samples >= 10 and running.power_avg_w == pytest.approx(IDLE_W)


def test_each_boards_power_is_integrated_over_the_window_as_the_sum_is() -> None:
    """Each board's trapezoid over the window, its ends interpolated as the sum's: the boards' integrals add
    up to the window's energy, and one board's is that energy to the bit (a one-board file is unchanged)."""

    def sample(t: float, *watts: float) -> Sample:
        return Sample(t, sum(watts), 45, 1980, 2619, 0, None, tuple(watts))

    two = [sample(0.0, 100.0, 60.0), sample(0.5, 300.0, 61.0), sample(1.0, 200.0, 59.0), sample(1.5, 100.0, 60.0)]
    w = summarize_window(two, 0.25, 1.25, lambda _m: [])
    assert w.energy_per_gpu_j == pytest.approx((231.25, 60.0), rel=1e-12)  # by hand: trapezoids, ends interpolated
    assert sum(w.energy_per_gpu_j) == pytest.approx(w.energy_j, rel=1e-15)
    one = [sample(s.t_s, s.power_per_gpu_w[0] + 0.001 * k) for k, s in enumerate(two)]
    w = summarize_window(one, 0.25, 1.25, lambda _m: [])
    assert w.energy_per_gpu_j == (w.energy_j,)
    inside_none = summarize_window(two, 0.6, 0.9, lambda _m: [])  # no sample inside: its neighbours
    assert sum(inside_none.energy_per_gpu_j) == pytest.approx(inside_none.energy_j, rel=1e-15)


def test_a_window_says_its_longest_stretch_without_a_reading() -> None:
    times = [0.9, 1.0, 1.05, 1.1, 3.1, 3.15, 3.2, 4.6]  # the sampler stalled 2 s (a suspended VM); none 3.2-4.6
    samples = [Sample(t, 100, 40, 1000, 2000, 0) for t in times]
    assert summarize_window(samples, 1.0, 3.15, lambda m: []).gap_s == pytest.approx(2.0)
    assert summarize_window(samples, 3.1, 4.0, lambda m: []).gap_s == pytest.approx(0.8)  # to the window's end
    assert summarize_window(samples, 0.95, 1.1, lambda m: []).gap_s == pytest.approx(0.05)


class ScriptedPipe:
    """The sampler's end of its pipe, on fake time: ``poll`` lets ``idle`` periods pass (the fake clock
    advancing by each timeout) before it hands over each message of ``script``."""

    def __init__(self, clock: list[float], script: list[tuple[object, ...]], idle: int) -> None:
        self.clock, self.script, self.idle, self.sent = clock, script, idle, []

    def poll(self, timeout: float | None) -> bool:
        if self.idle:
            self.idle -= 1
            self.clock[0] += timeout or 0.0
            return False
        return bool(self.script)

    def recv(self) -> tuple[object, ...]:
        return self.script.pop(0)

    def send(self, message: tuple[object, object]) -> None:
        self.sent.append(message)


def _flaky_power(nv: object, failing: set[int], errors: list[int]) -> None:
    """nvmlDeviceGetPowerUsage fails (NVMLError of ``errors`` in turn) or reads 0 W on the calls numbered in
    ``failing``; the instant field reads 0 W always, so that every reading falls back to it."""
    calls = iter(range(10**6))
    kinds = iter(errors * 100)

    def power(handle: object) -> int:
        if next(calls) in failing:
            kind = next(kinds)
            if kind == 0:
                return 0
            raise pynvml.NVMLError(kind)
        return 250_000

    nv.nvmlDeviceGetPowerUsage.side_effect = power  # type: ignore[attr-defined]
    nv.nvmlDeviceGetFieldValues.side_effect = lambda h, fields: [  # type: ignore[attr-defined]
        SimpleNamespace(nvmlReturn=pynvml.NVML_SUCCESS, valueType=1, value=SimpleNamespace(uiVal=0)) for _ in fields
    ]


def test_a_passing_nvml_failure_or_a_0_w_reading_is_left_out_and_counted_not_the_end_of_the_run(monkeypatch) -> None:
    # One TIMEOUT from nvmlDeviceGetPowerUsage ended the sampler, and with it the whole run (power sampler
    # failed: ... Timeout); a reading of 0 W (instant field or usage) was integrated as 0 W.
    from collector import sampler as sampler_mod

    clock = [100.0]
    monkeypatch.setattr(sampler_mod.time, "monotonic", lambda: clock[0])
    nv = fake_module()
    errors = [pynvml.NVML_ERROR_TIMEOUT, pynvml.NVML_ERROR_UNKNOWN, pynvml.NVML_ERROR_NOT_SUPPORTED, 0]
    _flaky_power(nv, {3, 5, 6, 8}, errors)
    pipe = ScriptedPipe(clock, [("window", 100.0, 100.5), ("stop",)], idle=12)
    sampler_mod._serve(pipe, lambda: Nvml([0], module=nv), 0.05)
    _, (kind, window) = pipe.sent
    assert kind == "window", window
    assert window.failed_readings == 4 and window.samples == 11 - 4
    assert window.power_avg_w == pytest.approx(250.0) and window.power_reading == "nvml_power_usage"


def test_nvml_readings_failing_for_seconds_in_a_row_end_the_sampler(monkeypatch) -> None:
    from collector import sampler as sampler_mod

    clock = [100.0]
    monkeypatch.setattr(sampler_mod.time, "monotonic", lambda: clock[0])
    nv = fake_module()
    _flaky_power(nv, set(range(2, 10**6)), [pynvml.NVML_ERROR_GPU_IS_LOST])
    pipe = ScriptedPipe(clock, [("window", 100.0, 110.0), ("stop",)], idle=200)
    sampler_mod._serve(pipe, lambda: Nvml([0], module=nv), 0.05)
    kind, message = pipe.sent[-1]
    assert kind == "error" and "NVML readings failed for 2.0" in message and "GPU is lost" in message


def test_the_sampler_process_leaves_ctrl_c_to_the_measuring_process(monkeypatch) -> None:
    # Ctrl-C reaches the whole process group: the sampler's process printed a KeyboardInterrupt traceback of
    # its own beside eco-collect's one line (/work/notes/attackmeas/repro_sigint_sampler.py).
    import signal

    from collector import sampler as sampler_mod

    handlers: list[tuple[int, object]] = []
    monkeypatch.setattr(sampler_mod.signal, "signal", lambda sig, handler: handlers.append((sig, handler)))
    pipe = ScriptedPipe([0.0], [("stop",)], idle=0)
    sampler_mod._child(pipe, lambda: Nvml([0], module=fake_module()), 0.05, False)
    assert handlers == [(signal.SIGINT, signal.SIG_IGN)] and pipe.sent == [("ready", None)]


def test_one_failed_reading_after_a_slow_good_one_is_left_out_not_the_end_of_the_run(monkeypatch) -> None:
    """review30: 'readings failing for 2 s in a row' counted from the last good reading's start, so a good reading
    NVML took 2.5 s to give (or a sampler the host held up that long), then one passing failure, ended the
    sampler and the whole run; failures for 2 s in a row still end it."""
    from collections import deque

    from collector import sampler as sampler_mod

    clock = [100.0]
    monkeypatch.setattr(sampler_mod.time, "monotonic", lambda: clock[0])
    nv = fake_module()
    _flaky_power(nv, {1, 3, 4, 5, 6}, [pynvml.NVML_ERROR_TIMEOUT])
    buffer: deque[Sample] = deque()
    failed: deque[float] = deque()
    with Nvml([0], module=nv) as nvml:
        read = sampler_mod._Reader(nvml, buffer, failed)
        read()  # good, at 100.0
        clock[0] += 2.5  # NVML took 2.5 s over that reading, or the host held the sampler up
        read()  # one passing failure
        clock[0] += 0.05
        read()  # good again
        assert len(buffer) == 2 and list(failed) == [102.5]
        for step in (0.05, 0.9, 0.9):  # failing from 102.6 to 104.4: 1.8 s
            clock[0] += step
            read()
        assert len(failed) == 4
        clock[0] += 0.5
        with pytest.raises(NvmlError, match=r"failed for 2\.3 s in a row"):
            read()
