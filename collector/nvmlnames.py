"""Names for NVML's numeric ids: the clock-event reasons a trial records as throttle reasons, and the board's
architecture. Tables only, no NVML call: collector/nvml.py reads the ids and names them here."""

from __future__ import annotations

from types import ModuleType

THROTTLE_NAMES = {  # clock-event reason bit -> name (GPU idle is not a throttle)
    "nvmlClocksEventReasonApplicationsClocksSetting": "applications_clocks_setting",
    "nvmlClocksEventReasonSwPowerCap": "sw_power_cap",
    "nvmlClocksEventReasonHwSlowdown": "hw_slowdown",
    "nvmlClocksEventReasonSyncBoost": "sync_boost",
    "nvmlClocksEventReasonSwThermalSlowdown": "sw_thermal_slowdown",
    "nvmlClocksEventReasonHwThermalSlowdown": "hw_thermal_slowdown",
    "nvmlClocksEventReasonHwPowerBrakeSlowdown": "hw_power_brake_slowdown",
    "nvmlClocksEventReasonDisplayClockSetting": "display_clock_setting",
}


# NVML's architecture ids (nvml.h, nvmlDeviceArchitecture_t), for a binding older than the board: nvidia-ml-py 12.535,
# which eco-collect accepts (pyproject.toml: >=12.535), names no NVML_DEVICE_ARCH_BLACKWELL (12.560 does), so an RTX
# 5090 measured with it was recorded as 'unknown-arch-10' and eco-validate refused the run (reference.gpu_mismatch;
# fphunt3 F4). The binding's own names come first.
NVML_ARCHITECTURES = {
    2: "Kepler",
    3: "Maxwell",
    4: "Pascal",
    5: "Volta",
    6: "Turing",
    7: "Ampere",
    8: "Ada",
    9: "Hopper",
    10: "Blackwell",
}


def architecture(nv: ModuleType, arch_id: int) -> str:
    for name in dir(nv):
        if (
            name.startswith("NVML_DEVICE_ARCH_")
            and getattr(nv, name, None) == arch_id
            and name != "NVML_DEVICE_ARCH_UNKNOWN"
        ):
            return name.removeprefix("NVML_DEVICE_ARCH_").title()
    return NVML_ARCHITECTURES.get(arch_id, f"unknown-arch-{arch_id}")
