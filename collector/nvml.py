"""The one adapter that owns NVML (pynvml from nvidia-ml-py).

Units are converted here, once: mJ -> J, mW -> W. NVMLError never leaves this module: it becomes
NvmlError / NvmlNotSupported.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from validator.hardware import PEAK_FACTOR

from . import counterprobe
from .counterprobe import COUNTER_STEP_MAX_S as COUNTER_STEP_MAX_S  # re-exported: what runs with the counter
from .errors import NvmlError, NvmlIndexError, NvmlNotSupported
from .nvmlnames import THROTTLE_NAMES, architecture

T = TypeVar("T")


# nvmlFieldValue_t.valueType -> member of its value union
_VALUE_ATTR = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


@dataclass(frozen=True)
class Sample:
    """One sampler reading, summed or maximised over the GPUs in use."""

    t_s: float
    power_w: float
    temperature_c: float
    sm_clock_mhz: float
    mem_clock_mhz: float
    throttle_mask: int
    power_avg_1s_w: float | None = None  # NVML's own 1-s average field; None where unsupported
    power_per_gpu_w: tuple[float, ...] = ()
    usage_fallback: bool = False  # a GPU's instant field failed: its power is nvmlDeviceGetPowerUsage's


# Reads of the instant power field before a board is taken to lack it (power_reading).
PROBE_READS = 3


# The end of the no-driver error: `run` points to doctor; doctor itself leaves it out (it is what runs).
DOCTOR_HINT = ": run `eco-collect doctor` to see what is missing"
# What a contributor does about an NVML error, by pynvml's class: NVML's own words ("GPU is lost", "RM has
# detected an NVML/RM version mismatch") say what, not what to do. True: the GPU and its driver are there, so
# nvmlInit failing so is not a machine without them (the advice that otherwise follows).
_HINTS = {
    "NVMLError_GpuIsLost": (
        "the board fell off the bus or was reset; `nvidia-smi` shows whether the driver still sees it (a reboot "
        "brings it back)",
        True,
    ),
    "NVMLError_NoPermission": (
        "this user may not query the GPU; in a container, pass the GPU in (docker run --gpus all), else ask the "
        "machine's administrator",
        True,
    ),
    "NVMLError_LibRmVersionMismatch": (
        "the NVIDIA library and kernel module differ, as when the driver was upgraded without a reboot: reboot",
        True,
    ),
    "NVMLError_ResetRequired": ("the board needs a reset (nvidia-smi -r -i <gpu>, as root, or a reboot)", True),
    "NVMLError_InsufficientPower": ("the board's external power cables are not properly attached", True),
    "NVMLError_Timeout": ("NVML did not answer in time; `nvidia-smi` shows whether the board is stuck", True),
    "NVMLError_Unknown": ("`nvidia-smi -q` shows the board's state", False),
}


class Nvml:
    """NVML for a set of GPU indices. Use as a context manager (init/shutdown)."""

    def __init__(self, indices: list[int] | None = None, module: ModuleType | None = None) -> None:
        self._nv = module
        self._indices = indices
        self.handles: list[Any] = []
        self._fields_supported = True  # until the driver says otherwise; then never asked again
        # id(handle) -> its board's highest settable power limit (W), read once. Keyed by id: pynvml's handles are
        # ctypes pointers, which are not hashable (a dict keyed by the handle failed on every real GPU); self.handles
        # holds each for the adapter's life, so its id stays its own
        self._ceilings: dict[int, float | None] = {}
        # the clock-event reasons' reading, by its name since driver 535, then its older name; () once neither is
        # supported: the trials then record no throttle reasons, as on a board that had none
        self._event_readers = ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons")

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Nvml:
        if self._nv is None:
            try:
                self._nv = importlib.import_module("pynvml")
            except ImportError as exc:
                raise NvmlError(
                    "nvidia-ml-py is not installed: pip install 'ecocompute-llm-energy[collect]' "
                    "(the [collect] extra brings torch, transformers, bitsandbytes and NVML)"
                ) from exc
        try:
            self._call(self._nv.nvmlInit)
        except NvmlError as exc:
            elsewhere = (
                ""
                if self._hint(exc.__cause__)[1]
                else "; eco-collect measures NVIDIA GPUs through NVML: run it on a machine with an NVIDIA GPU and its "
                "driver installed (`nvidia-smi` lists the GPU)"
            )
            raise NvmlError(f"no usable NVIDIA driver on this machine ({exc}){elsewhere}{DOCTOR_HINT}") from exc
        opened = False
        try:  # NVML initialised is shut down again on every way out but success (the block's __exit__ then)
            count = self._call(self._nv.nvmlDeviceGetCount)
            indices = self._indices if self._indices is not None else [0]
            missing = [i for i in indices if not 0 <= i < count]
            if missing:  # a value of --gpu this machine lacks: refused as a usage error, before anything is measured
                sees = f"{count} GPU{'s' if count > 1 else ''} (0 to {count - 1})" if count else "no GPU"
                raise NvmlIndexError(
                    f"--gpu: GPU index {', '.join(map(str, missing))} not present: NVML sees {sees}; nothing measured"
                )
            self.handles = [self._call(self._nv.nvmlDeviceGetHandleByIndex, i) for i in indices]
            opened = True
        finally:
            if not opened:
                self.__exit__()  # a failing shutdown, suppressed there, must not hide what went wrong here
        return self

    def __exit__(self, *exc: object) -> None:
        # A failing shutdown must not mask the error that ended the block.
        with contextlib.suppress(Exception):
            self._nv.nvmlShutdown()  # type: ignore[union-attr]

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        nv = self._nv
        try:
            return fn(*args)
        except nv.NVMLError as exc:  # type: ignore[union-attr]
            unsupported = tuple(getattr(nv, n, ()) for n in ("NVMLError_NotSupported", "NVMLError_FunctionNotFound"))
            if any(isinstance(exc, cls) for cls in unsupported if isinstance(cls, type)):
                raise NvmlNotSupported(f"{fn.__name__}: not supported on this GPU/driver") from exc
            hint = self._hint(exc)[0]
            raise NvmlError(f"{fn.__name__}: {exc}" + (f": {hint}" if hint else "")) from exc

    def _hint(self, exc: BaseException | None) -> tuple[str, bool]:
        """(what to do about ``exc``, whether the GPU and its driver are there), from _HINTS; ('', False) else."""
        for name, hint in _HINTS.items():
            cls = getattr(self._nv, name, None)
            if isinstance(cls, type) and isinstance(exc, cls):
                return hint
        return "", False

    # -- readings ------------------------------------------------------------------------
    def energy_j(self) -> list[float]:
        """Total-energy counter of each GPU since driver load (J)."""
        return [self._call(self._nv.nvmlDeviceGetTotalEnergyConsumption, h) / 1000.0 for h in self.handles]

    def supports_energy_counter(self) -> bool:
        try:
            self.energy_j()
        except NvmlNotSupported:
            return False
        return True

    def counter_step_s(self, now: Callable[[], float], sleep: Callable[[float], None]) -> float | None:
        """How often the energy counter moves, timed at the start (the board idle): the median time between
        its changes, polled every STEP_POLL_S, on the board whose counter moves least often; None where a
        board's did not change STEP_CHANGES times within STEP_LIMIT_S. A read NVML fails is skipped."""
        return counterprobe.probe(self.energy_j, now, sleep).step_s()

    def energy_method(self, now: Callable[[], float], sleep: Callable[[float], None]) -> tuple[bool, str | None]:
        """(whether the energy counter measures the trials, a note where it could but does not): a counter that
        moves in steps coarser than COUNTER_STEP_MAX_S, or not at all at idle, measures no window of a few
        seconds: its windows of under STILL_S read 0 J while power was drawn, which eco-collect takes for a
        failed counter and eco-validate refuses (its energy_power rule allows for steps of 0.1 s). Such a board's
        energy is its sampled power integrated, as on one without a counter."""
        if not self.supports_energy_counter():
            return False, None
        probe = counterprobe.probe(self.energy_j, now, sleep)
        step = probe.step_s()
        if step is not None and step <= COUNTER_STEP_MAX_S:
            return True, None
        return False, (
            f"the NVML energy counter {probe.describe(step)}: energy is the sampled power integrated "
            "(power_integration), as on a board without a counter"
        )

    def _power_fields(self, handle: Any) -> tuple[float | None, float | None]:
        """(instant, 1-s average) board power from NVML's field values in one call (W); None for a
        field the GPU or driver lacks (both before Ampere, or on GA100)."""
        nv = self._nv
        fields = [getattr(nv, "NVML_FI_DEV_POWER_INSTANT", None), getattr(nv, "NVML_FI_DEV_POWER_AVERAGE", None)]
        if not self._fields_supported or None in fields:
            return None, None
        try:
            values = self._call(nv.nvmlDeviceGetFieldValues, handle, fields)
        except NvmlNotSupported:  # a driver without field values at all: never asked again
            self._fields_supported = False
            return None, None
        except NvmlError:  # a passing failure: this sample falls back (and its window says so)
            return None, None
        watts = [
            getattr(v.value, _VALUE_ATTR.get(v.valueType, "uiVal")) / 1000.0
            if v.nvmlReturn == nv.NVML_SUCCESS
            else None
            for v in values
        ]
        # a powered board never draws 0 W, nor beyond its ceiling: such a reading is a failed one (a board's glitch,
        # NVML's 'not available' read as a number), not a measurement
        return tuple(w if w and self._drawable(handle, w) is None else None for w in watts)  # type: ignore[return-value]

    def _drawable(self, handle: Any, watts: float) -> str | None:
        """Why ``watts`` is no reading of ``handle``'s board: above PEAK_FACTOR x its highest settable power limit
        (eco-validate's bound on a peak: physics.peak_power); None for a reading. A board that will not say its
        limits has no bound here."""
        if id(handle) not in self._ceilings:
            limits = self._maybe(self._nv.nvmlDeviceGetPowerManagementLimitConstraints, handle, default=None)
            self._ceilings[id(handle)] = None if not limits else limits[1] / 1000.0
        highest = self._ceilings[id(handle)]
        if highest is None or watts <= PEAK_FACTOR * highest:
            return None
        return f"read {watts:.3f} W, beyond {PEAK_FACTOR:g} x the board's highest limit ({highest:g} W)"

    def power_reading(self) -> str:
        """Which NVML reading the sampler's power is: the instant field, or nvmlDeviceGetPowerUsage
        (a 1-s average on Ampere and newer, hence slower to follow the workload). A board has the field where
        any of a few reads returns it: one read failing in passing (a timeout, a 0-W glitch) labelled the
        whole run nvmlDeviceGetPowerUsage while its trials read the field (attackmeas F10)."""
        instant = [any(self._power_fields(h)[0] is not None for _ in range(PROBE_READS)) for h in self.handles]
        return "nvml_power_instant_field" if all(instant) else "nvml_power_usage"

    def sample(self, t_s: float) -> Sample:
        nv = self._nv
        temp = sm = mem = 0.0
        average: float | None = 0.0
        mask = 0
        per_gpu = []
        fallback = False
        for h in self.handles:
            instant, avg_1s = self._power_fields(h)
            if instant is None:
                fallback = True
                instant = self._call(nv.nvmlDeviceGetPowerUsage, h) / 1000.0
                if not instant:  # the sampler leaves the reading out (and counts it), as any failed one
                    raise NvmlError("nvmlDeviceGetPowerUsage: read 0 W, which no powered board draws")
                beyond = self._drawable(h, instant)
                if beyond:
                    raise NvmlError(f"nvmlDeviceGetPowerUsage: {beyond}: not a reading")
            per_gpu.append(instant)
            average = None if average is None or avg_1s is None else average + avg_1s
            temp = max(temp, float(self._call(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)))
            sm += self._call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM)
            mem += self._call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM)
            mask |= self._clock_events(h)
        n = len(self.handles)
        return Sample(t_s, sum(per_gpu), temp, sm / n, mem / n, mask, average, tuple(per_gpu), fallback)

    def _clock_events(self, handle: Any) -> int:
        """The board's clock-event (throttle) reasons as NVML's bit mask. A driver before 535 lacks
        nvmlDeviceGetCurrentClocksEventReasons: every reading failed on it, and the sampler ended the run after
        2 s, though the validator takes drivers from branch 450 on; its older name reads the same bits."""
        while self._event_readers:
            read = getattr(self._nv, self._event_readers[0], None)  # a binding may lack one name too
            try:
                if read is not None:
                    return self._call(read, handle)
            except NvmlNotSupported:
                pass
            self._event_readers = self._event_readers[1:]  # never asked again
        return 0

    def uuids(self) -> list[str]:
        """The measured GPUs' UUIDs ('GPU-...'), to find the same boards among PyTorch's devices."""
        return [_text(self._call(self._nv.nvmlDeviceGetUUID, h)) for h in self.handles]

    def memory_free_bytes(self) -> list[float] | None:
        """Free memory of each GPU (bytes); None where the driver will not say."""
        try:
            return [float(self._call(self._nv.nvmlDeviceGetMemoryInfo, h).free) for h in self.handles]
        except NvmlError:
            return None

    def throttle_names(self, mask: int) -> list[str]:
        return sorted(name for attr, name in THROTTLE_NAMES.items() if mask & getattr(self._nv, attr, 0))

    def other_processes(self) -> tuple[list[dict[str, Any]], list[str]]:
        """(compute processes on our GPUs that are not this process, why a board's could not be listed: 'board k:
        <error>'). A board without the query lists none; one refusing it (a vGPU, a container without the
        permission) is said, not the end of the run: the list is a caveat of the file, not a measurement."""
        found, unread = [], []
        for index, h in enumerate(self.handles):
            try:
                procs = self._call(self._nv.nvmlDeviceGetComputeRunningProcesses, h)
            except NvmlNotSupported:
                continue
            except NvmlError as exc:
                unread.append(f"board {index}: {exc}")
                continue
            for p in procs:
                if p.pid != os.getpid():
                    found.append({"gpu": index, "pid": p.pid, "used_memory_mib": (p.usedGpuMemory or 0) / 2**20})
        return found, unread

    # -- static facts for the provenance -------------------------------------------------
    def _maybe(self, fn: Callable[..., T], *args: Any, default: T) -> T:
        """Optional facts: a GPU or VM that refuses them yields ``default`` instead of failing the run."""
        try:
            return self._call(fn, *args)
        except NvmlError:
            return default

    def unlike_boards(self) -> list[str]:
        """What sets the measured boards apart where the submission records one value for all (its name,
        MIG mode and enforced power limit come from the first board): each difference, in words. A value
        a board cannot report reads "unsupported", which differs too."""
        nv = self._nv

        def facts(h: Any) -> dict[str, Any]:  # each read once per board
            mig = self._maybe(nv.nvmlDeviceGetMigMode, h, default=None)
            return {
                "name": _text(self._maybe(nv.nvmlDeviceGetName, h, default="unsupported")),
                "enforced power limit (mW)": self._maybe(nv.nvmlDeviceGetEnforcedPowerLimit, h, default="unsupported"),
                "MIG enabled": bool(mig and mig[0]),
            }

        first, *rest = [facts(h) for h in self.handles]
        return [
            f"board {k} ({what}: {board[what]}) differs from board 0 ({first[what]})"
            for k, board in enumerate(rest, 1)
            for what in first
            if board[what] != first[what]
        ]

    def describe(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(gpu, driver) sections of the submission's environment, for the first GPU."""
        nv, h = self._nv, self.handles[0]
        major, minor = self._call(nv.nvmlDeviceGetCudaComputeCapability, h)
        arch_id = self._maybe(nv.nvmlDeviceGetArchitecture, h, default=-1)
        ecc = self._maybe(nv.nvmlDeviceGetEccMode, h, default=None)
        mig = self._maybe(nv.nvmlDeviceGetMigMode, h, default=None)
        cuda = self._call(nv.nvmlSystemGetCudaDriverVersion_v2)
        gpu = {
            "name": _text(self._call(nv.nvmlDeviceGetName, h)),
            "architecture": architecture(nv, arch_id),
            "compute_capability": f"{major}.{minor}",
            "memory_total_mib": int(self._call(nv.nvmlDeviceGetMemoryInfo, h).total // 2**20),
            "uuid_sha256": hashlib.sha256(_text(self._call(nv.nvmlDeviceGetUUID, h)).encode()).hexdigest(),
            "count": len(self.handles),
            "power_limit_enforced_w": self._call(nv.nvmlDeviceGetEnforcedPowerLimit, h) / 1000.0,
            "power_limit_default_w": self._call(nv.nvmlDeviceGetPowerManagementDefaultLimit, h) / 1000.0,
            "power_limit_max_w": self._call(nv.nvmlDeviceGetPowerManagementLimitConstraints, h)[1] / 1000.0,
            "vbios_version": _text(self._maybe(nv.nvmlDeviceGetVbiosVersion, h, default="unavailable")),
            "persistence_mode": bool(self._maybe(nv.nvmlDeviceGetPersistenceMode, h, default=0)),
            "ecc_mode": "unsupported" if ecc is None else ("enabled" if ecc[0] else "disabled"),
            "mig_mode": "unsupported" if mig is None else ("enabled" if mig[0] else "disabled"),
        }
        driver = {
            "driver_version": _text(self._call(nv.nvmlSystemGetDriverVersion)),
            "nvml_version": _text(self._call(nv.nvmlSystemGetNVMLVersion)),
            "cuda_driver_version": f"{cuda // 1000}.{cuda % 1000 // 10}",
        }
        return gpu, driver


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
