"""Host provenance (CPU, RAM, OS, package versions) and per-trial host load signals."""

from __future__ import annotations

import ctypes
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = {  # schema key -> distribution name
    "torch": "torch",
    "transformers": "transformers",
    "bitsandbytes": "bitsandbytes",
    "accelerate": "accelerate",
    "tokenizers": "tokenizers",
    "huggingface_hub": "huggingface-hub",
    "nvidia_ml_py": "nvidia-ml-py",
}
_COUNT = re.compile(r"[0-9]{1,20}")  # a count /proc writes (kB of memory, ticks of CPU time)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name") and ":" in line:
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def os_name() -> str:
    fields = dict(
        line.split("=", 1) for line in _read("/etc/os-release").splitlines() if "=" in line and not line.startswith("#")
    )
    return fields.get("PRETTY_NAME", "").strip('"') or f"{platform.system()} {platform.release()}"


def _meminfo_bytes(field: str) -> int | None:
    """``field`` of /proc/meminfo in bytes; None where it is missing or not a count of kB (a container's or an
    emulator's /proc may write anything: the caller then asks sysconf)."""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith(f"{field}:"):
            words = line.split()
            return int(words[1]) * 1024 if len(words) > 1 and _COUNT.fullmatch(words[1]) else None
    return None


class _MemoryStatusEx(ctypes.Structure):
    """Windows' MEMORYSTATUSEX, which GlobalMemoryStatusEx fills (sizes in bytes; DWORD is 32 bits, c_ulong is not on Linux)."""

    _fields_ = [
        ("dwLength", ctypes.c_uint32),
        ("dwMemoryLoad", ctypes.c_uint32),
        ("ullTotalPhys", ctypes.c_ulonglong),
        ("ullAvailPhys", ctypes.c_ulonglong),
        ("ullTotalPageFile", ctypes.c_ulonglong),
        ("ullAvailPageFile", ctypes.c_ulonglong),
        ("ullTotalVirtual", ctypes.c_ulonglong),
        ("ullAvailVirtual", ctypes.c_ulonglong),
        ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
    ]


def _system_memory_bytes(kernel32: Any = None) -> tuple[int, int]:
    """(total, available) physical memory where /proc/meminfo says nothing: sysconf on POSIX; on Windows, which
    has no sysconf (eco-collect failed there before measuring), GlobalMemoryStatusEx (``kernel32``: the DLL, or a
    stand-in in tests)."""
    if kernel32 is None and hasattr(os, "sysconf"):
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    status = _MemoryStatusEx()
    status.dwLength = ctypes.sizeof(_MemoryStatusEx)
    dll = kernel32 if kernel32 is not None else ctypes.windll.kernel32  # type: ignore[attr-defined]
    if not dll.GlobalMemoryStatusEx(ctypes.byref(status)):
        raise OSError("GlobalMemoryStatusEx failed: the host's memory cannot be read")
    return int(status.ullTotalPhys), int(status.ullAvailPhys)


def ram_total_gib() -> float:
    total = _meminfo_bytes("MemTotal")
    if total is None:
        total = _system_memory_bytes()[0]
    return round(total / 2**30, 2)


def ram_available_bytes() -> int:
    """Memory a new allocation can take without swapping (MemAvailable, counting reclaimable cache)."""
    available = _meminfo_bytes("MemAvailable")
    return available if available is not None else _system_memory_bytes()[1]


def package_versions() -> dict[str, str]:
    """Exact installed versions; a missing package is an error the doctor reports."""
    versions = {"python": platform.python_version()}
    for key, dist in PACKAGES.items():
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[key] = "not installed"
    try:
        import torch

        versions["torch_cuda"] = str(torch.version.cuda or "none")
    except ImportError:
        versions["torch_cuda"] = "not installed"
    return versions


def host() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpu_logical_cores": os.cpu_count() or 1,
        "ram_total_gib": ram_total_gib(),
        "os": os_name(),
        "kernel": platform.release(),
    }


@dataclass(frozen=True)
class CpuTimes:
    total: float
    steal: float


def cpu_times() -> CpuTimes | None:
    first = _read("/proc/stat").splitlines()[:1]
    if not first or not first[0].startswith("cpu "):
        return None
    words = first[0].split()[1:]
    if not all(_COUNT.fullmatch(w) for w in words):  # the kernel writes counts of ticks: anything else is unknown
        return None
    values = [float(v) for v in words]
    steal = values[7] if len(values) > 7 else 0.0
    return CpuTimes(sum(values[:8]), steal)


def host_signals(before: CpuTimes | None, after: CpuTimes | None) -> dict[str, float | None]:
    """Load average and CPU steal time (%) over a trial window."""
    steal = None
    if before and after and after.total > before.total:
        steal = 100.0 * (after.steal - before.steal) / (after.total - before.total)
    try:  # Windows has no os.getloadavg: the load is then unknown (null), as where the OS refuses it
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = None
    return {"cpu_load_1m": load, "cpu_steal_pct": steal}


def pin_to_cpus(count: int = 1, skip: int = 0) -> list[int] | None:
    """Pin this process to ``count`` dedicated CPUs from the top of its allowed set (``skip`` first).

    The decoding loop of eager generate() is host-bound: migrations between vCPUs add trial-to-trial
    noise. Returns the CPUs used, or None where affinity cannot be set.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < count + skip + 1:
        return None
    chosen = allowed[len(allowed) - skip - count : len(allowed) - skip]
    os.sched_setaffinity(0, chosen)
    return chosen


def _spin(n: int = 2000) -> int:
    """A fixed piece of pure-Python work: what host-bound decoding spends its time on."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def host_speed(
    windows: int = 8,
    window_s: float = 1.0,
    clock: Callable[[], float] = time.perf_counter,
    work: Callable[[], object] = _spin,
) -> list[float]:
    """Rounds of ``work`` per second in consecutive windows: a host whose vCPUs drift in speed shows it
    here, and so would any loop the host paces (eager ``generate()``)."""
    rates = []
    for _ in range(windows):
        start = clock()
        rounds = 0
        while (elapsed := clock() - start) < window_s:
            work()
            rounds += 1
        rates.append(rounds / elapsed)
    return rates
