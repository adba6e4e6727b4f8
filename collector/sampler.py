"""Power/clock sampler that runs beside the workload, in its own process.

The measuring process never polls NVML during a trial: the sampler samples continuously into a
ring buffer (its own process, so no GIL contention with generate()), and after each trial the
measuring process asks for the summary of the window [t0, t1] on the shared monotonic clock.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import multiprocessing as mp
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import CollectError, NvmlError
from .nvml import Nvml, Sample

BUFFER_S = 900.0  # longest window the ring buffer can answer for
# A reading NVML fails (a timeout, an unknown error, a power of 0 W) is left out, and the window says how
# many were; readings failing for this long in a row end the sampler (the board is lost, or NVML is).
FAILING_S = 2.0


@dataclass(frozen=True)
class WindowStats:
    power_avg_w: float
    power_peak_w: float
    energy_j: float  # sampled power integrated over the window
    samples: int
    sample_rate_hz: float
    temperature_max_c: float
    sm_clock_mhz_mean: float
    mem_clock_mhz_mean: float
    throttle_reasons: list[str]
    power_avg_1s_w: float | None = None  # mean of NVML's 1-s average field over the window
    power_reading: str = "nvml_power_instant_field"  # or nvml_power_usage / mixed: what the samples read
    # each board's sampled power integrated over the window as energy_j is: they sum to it (to float
    # rounding), the trial's energy per GPU where no energy counter reads it
    energy_per_gpu_j: tuple[float, ...] = ()
    failed_readings: int = 0  # readings NVML failed within the window, left out of it
    gap_s: float = 0.0  # the longest stretch of the window without a reading: power interpolated over it


def _total(s: Sample) -> float:
    return s.power_w


def _interp(a: Sample, b: Sample, t: float, power: Callable[[Sample], float] = _total) -> float:
    pa, pb = power(a), power(b)
    if b.t_s == a.t_s:
        return pa
    return pa + (pb - pa) * (t - a.t_s) / (b.t_s - a.t_s)


def _integral(
    samples: tuple[list[Sample], list[Sample], list[Sample]],
    t0: float,
    t1: float,
    power: Callable[[Sample], float] = _total,
) -> float:
    """Trapezoid integral of ``power`` over [t0, t1] (before, inside, after the window), the ends
    interpolated from their neighbours."""
    before, inside, after = samples
    first = inside[0] if inside else after[0]
    last = inside[-1] if inside else before[-1]
    points = [(t0, _interp(before[-1], first, t0, power) if before else power(first))]
    points += [(s.t_s, power(s)) for s in inside]
    points.append((t1, _interp(last, after[0], t1, power) if after else power(last)))
    return math.fsum((tb - ta) * (pa + pb) / 2 for (ta, pa), (tb, pb) in itertools.pairwise(points))


def summarize_window(
    samples: Sequence[Sample],
    t0: float,
    t1: float,
    names: Callable[[int], list[str]],
    failed: Sequence[float] = (),
) -> WindowStats:
    """Trapezoid integral of power over [t0, t1], with the ends interpolated from neighbours; each
    board's power integrated the same way. ``failed``: when readings failed (counted where in the window)."""
    inside = [s for s in samples if t0 <= s.t_s <= t1]
    before = [s for s in samples if s.t_s < t0]
    after = [s for s in samples if s.t_s > t1]
    if not inside and not (before and after):
        raise CollectError(f"sampler has no readings for the window {t0:.3f}-{t1:.3f} s")
    energy_j = _integral((before, inside, after), t0, t1)
    duration_s = t1 - t0
    used = inside or [after[0]]
    mask = 0
    for s in used:
        mask |= s.throttle_mask
    averaged = [s.power_avg_1s_w for s in used if s.power_avg_1s_w is not None]
    fallbacks = sum(s.usage_fallback for s in used)
    reading = "nvml_power_instant_field" if not fallbacks else "nvml_power_usage" if fallbacks == len(used) else "mixed"
    gpus = len(used[0].power_per_gpu_w)
    return WindowStats(
        power_avg_w=energy_j / duration_s,
        power_peak_w=max(s.power_w for s in used),
        energy_j=energy_j,
        samples=len(inside),
        sample_rate_hz=len(inside) / duration_s,
        temperature_max_c=max(s.temperature_c for s in used),
        sm_clock_mhz_mean=math.fsum(s.sm_clock_mhz for s in used) / len(used),
        mem_clock_mhz_mean=math.fsum(s.mem_clock_mhz for s in used) / len(used),
        throttle_reasons=names(mask),
        power_avg_1s_w=math.fsum(averaged) / len(averaged) if averaged else None,
        energy_per_gpu_j=tuple(
            _integral((before, inside, after), t0, t1, lambda s, g=g: s.power_per_gpu_w[g]) for g in range(gpus)
        ),
        power_reading=reading,
        failed_readings=sum(t0 <= t <= t1 for t in failed),
        gap_s=_gap(before, inside, after, t0, t1),
    )


def _gap(before: list[Sample], inside: list[Sample], after: list[Sample], t0: float, t1: float) -> float:
    """The longest part of [t0, t1] between two consecutive readings (or a window's end and its nearest)."""
    times = [before[-1].t_s if before else t0, *(s.t_s for s in inside), after[0].t_s if after else t1]
    return max(min(b, t1) - max(a, t0) for a, b in itertools.pairwise(times))


def _serve(conn: Any, factory: Callable[[], Nvml], period_s: float, pin: bool = False) -> None:
    """Sampler loop (child process or thread): sample, answer window requests, stop on request."""
    if pin:
        from .hostinfo import pin_to_cpus

        pin_to_cpus(1, skip=1)  # the CPU next to the measuring process's
    try:
        with factory() as nvml:
            buffer: deque[Sample] = deque(maxlen=int(BUFFER_S / period_s) + 16)
            failed: deque[float] = deque(maxlen=buffer.maxlen)  # when readings failed
            read = _Reader(nvml, buffer, failed)
            conn.send(("ready", None))
            next_t = time.monotonic()
            paused = False  # the overhead A/B toggles sampling without restarting the process
            while True:
                if not paused:
                    read()
                    next_t += period_s
                while conn.poll(None if paused else max(0.0, next_t - time.monotonic())):
                    message = conn.recv()
                    if message[0] == "stop":
                        return
                    if message[0] in ("pause", "resume"):
                        paused = message[0] == "pause"
                        next_t, read.failing_since = time.monotonic(), None  # no reading while paused is no failure
                        conn.send((message[0], None))
                        if not paused:
                            break
                        continue
                    _, t0, t1 = message
                    read()  # one reading after t1
                    conn.send(("window", summarize_window(list(buffer), t0, t1, nvml.throttle_names, list(failed))))
                if time.monotonic() - next_t > 10 * period_s:  # fell far behind: do not burst
                    next_t = time.monotonic()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it as CollectError
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _child(conn: Any, factory: Callable[[], Nvml], period_s: float, pin: bool) -> None:
    """The sampler as a process of its own. Ctrl-C reaches the terminal's whole process group: the measuring
    process ends the run and stops this one; a KeyboardInterrupt here too printed a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(conn, factory, period_s, pin)


class _Reader:
    """One reading into the buffer; one that NVML fails is left out, its time kept in ``failed``, until
    readings have failed for FAILING_S in a row: then the error ends the sampler. The time counts from the
    first failed reading, not the last good one: a good reading that NVML took seconds to give, or a sampler
    the host held up, followed by one failed reading is one failure, not seconds of them."""

    def __init__(self, nvml: Nvml, buffer: deque[Sample], failed: deque[float]) -> None:
        self.nvml, self.buffer, self.failed = nvml, buffer, failed
        self.failing_since: float | None = None  # when the readings that fail now began to

    def __call__(self) -> None:
        now = time.monotonic()
        try:
            self.buffer.append(self.nvml.sample(now))
        except NvmlError as exc:
            if self.failing_since is None:
                self.failing_since = now
            elif now - self.failing_since > FAILING_S:
                failing_s = now - self.failing_since
                raise NvmlError(f"NVML readings failed for {failing_s:.1f} s in a row, last: {exc}") from exc
            self.failed.append(now)
            return
        self.failing_since = None


class Sampler:
    """Context manager around the sampling process (``mode="thread"`` for tests and A/B runs)."""

    def __init__(
        self, factory: Callable[[], Nvml], period_s: float = 0.05, mode: str = "process", pin: bool = False
    ) -> None:
        self.period_s = period_s
        self.mode = mode
        self.pin = pin and mode == "process"
        self._factory = factory
        self._conn: Any = None
        self._worker: Any = None

    def __enter__(self) -> Sampler:
        if self.mode == "process":
            ctx = mp.get_context("spawn")  # never fork a process that holds CUDA
            self._conn, child = ctx.Pipe()
            self._worker = ctx.Process(target=_child, args=(child, self._factory, self.period_s, self.pin), daemon=True)
        else:
            self._conn, child = mp.Pipe()
            self._worker = threading.Thread(target=_serve, args=(child, self._factory, self.period_s), daemon=True)
        self._worker.start()
        self._expect("ready", timeout_s=60.0)
        return self

    def _expect(self, kind: str, timeout_s: float) -> Any:
        if not self._conn.poll(timeout_s):
            raise CollectError(f"power sampler did not answer within {timeout_s:.0f} s")
        got, payload = self._conn.recv()
        if got == "error":
            raise CollectError(f"power sampler failed: {payload}")
        return payload

    def window(self, t0: float, t1: float) -> WindowStats:
        self._conn.send(("window", t0, t1))
        return self._expect("window", timeout_s=30.0)

    def pause(self) -> None:
        """Stop sampling (the process stays, blocked on its pipe) until ``resume``."""
        self._conn.send(("pause",))
        self._expect("pause", timeout_s=30.0)

    def resume(self) -> None:
        self._conn.send(("resume",))
        self._expect("resume", timeout_s=30.0)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError, ValueError):  # the worker may be gone already
            self._conn.send(("stop",))
        self._worker.join(timeout=10)
        if self.mode == "process" and self._worker.is_alive():
            self._worker.terminate()
