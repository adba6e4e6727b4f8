"""A fake NVML: pynvml autospec'd, with a monotonically increasing energy counter.

The counter integrates a constant board power over wall time, so counter energy, sampled power
and duration agree like on a real GPU. Importable by the sampler's spawned process.
"""

from __future__ import annotations

import contextlib
import time
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pynvml

from collector.nvml import Nvml

POWER_W = 250.0


class Handle(str):
    """A device handle that cannot be hashed, as pynvml's are not (ctypes pointers): code keying a dict or a set
    by a handle fails here as it does on a real GPU (it once passed every test and failed on the first H100).
    Compared as its text (``h == "handle-1"``)."""

    __hash__ = None  # type: ignore[assignment]


IDLE_W = 70.0


class Board:
    """Board power: POWER_W while a workload runs (see ``busy``), IDLE_W otherwise."""

    def __init__(self) -> None:
        self.busy = False
        self._energy_j = 1_000_000.0
        self._since = time.monotonic()

    def _power(self, loaded_w: float) -> float:
        return loaded_w if self.busy else IDLE_W

    def energy_j(self, loaded_w: float) -> float:
        return self._energy_j + self._power(loaded_w) * (time.monotonic() - self._since)

    def set_busy(self, busy: bool, loaded_w: float = POWER_W) -> None:
        self._energy_j = self.energy_j(loaded_w)
        self._since = time.monotonic()
        self.busy = busy


BOARD = Board()


def autospec_module(module: Any) -> Any:
    """``mock.create_autospec(module)``, its functions autospec'd on first use: each mock of the same
    signature-checked kind that create_autospec makes of them, recording its calls on the module's
    mock. create_autospec makes one at once for each of pynvml's ~450 functions (0.08 s a fake, ~125
    fakes a test run); it already defers every other attribute this way (unittest.mock._SpecState),
    and on a Python without that it is called as it is."""
    spec_state = getattr(mock, "_SpecState", None)
    if spec_state is None:
        return mock.create_autospec(module, instance=False)
    nv = mock.NonCallableMagicMock(spec=module)  # what create_autospec makes of a module
    for name in dir(module):
        if name.startswith("__") and name.endswith("__"):  # the magic methods: MagicMock has its own
            continue
        with contextlib.suppress(AttributeError):
            # the arguments as create_autospec passes them (its instance falls on the ids parameter)
            nv._mock_children[name] = spec_state(getattr(module, name), False, nv, name, False)
    return nv


def fake_module(
    power_w: float = POWER_W, energy_supported: bool = True, gpus: int = 1, fields_supported: bool = True
) -> Any:
    nv = autospec_module(pynvml)
    for name in dir(pynvml):  # real constants and exception classes
        value = getattr(pynvml, name)
        if isinstance(value, int) or (isinstance(value, type) and issubclass(value, Exception)):
            setattr(nv, name, value)
    nv.nvmlDeviceGetCount.return_value = gpus
    nv.nvmlDeviceGetHandleByIndex.side_effect = lambda i: Handle(f"handle-{i}")
    if energy_supported:
        nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = lambda h: int(BOARD.energy_j(power_w) * 1000)
    else:
        nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    nv.nvmlDeviceGetPowerUsage.side_effect = lambda h: int(BOARD._power(power_w) * 1000)
    status = pynvml.NVML_SUCCESS if fields_supported else pynvml.NVML_ERROR_NOT_SUPPORTED
    nv.nvmlDeviceGetFieldValues.side_effect = lambda h, fields: [  # instant and 1-s average alike
        SimpleNamespace(nvmlReturn=status, valueType=1, value=SimpleNamespace(uiVal=int(BOARD._power(power_w) * 1000)))
        for _ in fields
    ]
    nv.nvmlDeviceGetTemperature.return_value = 45
    nv.nvmlDeviceGetClockInfo.side_effect = lambda h, kind: 1980 if kind == pynvml.NVML_CLOCK_SM else 2619
    nv.nvmlDeviceGetCurrentClocksEventReasons.return_value = pynvml.nvmlClocksEventReasonGpuIdle
    nv.nvmlDeviceGetCudaComputeCapability.return_value = (9, 0)
    nv.nvmlDeviceGetArchitecture.return_value = pynvml.NVML_DEVICE_ARCH_HOPPER
    nv.nvmlDeviceGetEccMode.return_value = (1, 1)
    nv.nvmlDeviceGetMigMode.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    nv.nvmlSystemGetCudaDriverVersion_v2.return_value = 13000
    nv.nvmlDeviceGetName.return_value = "NVIDIA H100 80GB HBM3"  # a board of the reference table
    nv.nvmlDeviceGetMemoryInfo.return_value = SimpleNamespace(total=80 * 2**30, free=79 * 2**30)
    # each board its own, as on a machine (GPU 0's as it always was: the fixtures' uuid_sha256): one UUID for all
    # made the boards' locks one lock, so a run that locked only its first board passed every test
    nv.nvmlDeviceGetUUID.side_effect = lambda h: f"GPU-{int(str(h).rsplit('-', 1)[-1]):08d}-fake"
    nv.nvmlDeviceGetEnforcedPowerLimit.return_value = 700_000
    nv.nvmlDeviceGetPowerManagementDefaultLimit.return_value = 700_000
    nv.nvmlDeviceGetPowerManagementLimitConstraints.return_value = (200_000, 700_000)
    nv.nvmlDeviceGetVbiosVersion.return_value = "96.00.99.00.01"
    nv.nvmlDeviceGetPersistenceMode.return_value = 1
    nv.nvmlSystemGetDriverVersion.return_value = "580.159.04"
    nv.nvmlSystemGetNVMLVersion.return_value = "13.580.159.04"
    nv.nvmlDeviceGetComputeRunningProcesses.return_value = []
    return nv


def make(indices: list[int]) -> Nvml:
    """Picklable factory for the sampler process."""
    return Nvml(indices, module=fake_module())


def make_without_counter(indices: list[int]) -> Nvml:
    return Nvml(indices, module=fake_module(energy_supported=False))
