"""The host's memory where /proc/meminfo says nothing: sysconf on POSIX, GlobalMemoryStatusEx on Windows, which
has no os.sysconf (eco-collect failed there with AttributeError before measuring: fphunt3)."""

from __future__ import annotations

import ctypes
import os
from typing import Any

import pytest

from collector import hostinfo


class FakeKernel32:
    """GlobalMemoryStatusEx as Windows' kernel32 answers it: the structure filled, non-zero returned."""

    def __init__(self, total: int, available: int, ok: bool = True) -> None:
        self.total, self.available, self.ok, self.length = total, available, ok, None

    def GlobalMemoryStatusEx(self, ref: Any) -> int:
        status = ref._obj
        self.length = status.dwLength
        status.ullTotalPhys, status.ullAvailPhys = self.total, self.available
        return 1 if self.ok else 0


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> FakeKernel32:
    """No /proc, no os.sysconf, a kernel32 that knows 64 GiB of which 24 GiB are free."""
    kernel32 = FakeKernel32(64 * 2**30, 24 * 2**30)
    monkeypatch.setattr(hostinfo, "_read", lambda _path: "")
    monkeypatch.delattr(os, "sysconf")
    monkeypatch.setattr(ctypes, "windll", type("WinDLL", (), {"kernel32": kernel32})(), raising=False)
    return kernel32


def test_windows_memory_is_read_from_global_memory_status_ex(windows: FakeKernel32) -> None:
    assert hostinfo.ram_total_gib() == 64.0
    assert hostinfo.ram_available_bytes() == 24 * 2**30
    assert windows.length == ctypes.sizeof(hostinfo._MemoryStatusEx) == 64  # the size Windows checks


def test_windows_memory_unreadable_is_an_os_error(windows: FakeKernel32) -> None:
    windows.ok = False
    with pytest.raises(OSError, match="GlobalMemoryStatusEx failed"):
        hostinfo.ram_available_bytes()


def test_posix_without_meminfo_asks_sysconf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostinfo, "_read", lambda _path: "")
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 2**22, "SC_AVPHYS_PAGES": 2**20}
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    assert hostinfo.ram_total_gib() == 16.0
    assert hostinfo.ram_available_bytes() == 4 * 2**30
