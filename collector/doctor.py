"""Preflight checks before a measurement: GPU, energy counter, kernels, versions, other processes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecocompute import stats
from ecocompute.gates import DEFAULT_GATES
from validator.provenance import unpinned  # the validator's own rule, so doctor and CI agree

from . import hostinfo
from .errors import CollectError
from .nvml import DOCTOR_HINT, Nvml


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


# Host-bound engines follow the host's speed: where it drifts by half the throughput gate between
# one-second windows, their trials cannot be expected to stay within the gate.
HOST_DRIFT_WARN_PCT = DEFAULT_GATES.throughput_cv_max_pct / 2
INSTALL_HINT = "pip install 'ecocompute-llm-energy[collect]'"


def install_hint(refused: Mapping[str, str]) -> str:
    """How to install what ``refused`` (``validator.provenance.unpinned``'s answer) names: the [collect] extra,
    and a torch built for CUDA where the torch installed has none (the extra alone keeps a CPU-only torch)."""
    cuda = ", with a torch built for CUDA (https://pytorch.org/get-started/locally/ gives its pip command)"
    return INSTALL_HINT + (cuda if "torch_cuda" in refused else "")


def host_stability(windows: int, window_s: float = 1.0, **kw: Any) -> Check:
    """Does this host's CPU hold its speed? (``generate()`` decoding is paced by it.)"""
    rates = hostinfo.host_speed(windows, window_s, **kw)
    drift = stats.cv_pct(rates)
    detail = f"pure-Python speed varies by {drift:.1f} % (CV) between {windows} windows of {window_s:g} s"
    if drift < HOST_DRIFT_WARN_PCT:
        return Check("host stability", "ok", f"{detail}: host-bound engines (generate) can pass the gates")
    return Check(
        "host stability",
        "warn",
        f"{detail}: host-bound engines (generate, generate-static) will likely fail the {DEFAULT_GATES.throughput_cv_max_pct:g} % "
        "throughput gate here; the default engine (auto -> cuda-graph) replays the GPU work without the host",
    )


def run_checks(gpus: list[int], nvml_factory: Any = Nvml, stability_windows: int = 8) -> list[Check]:
    checks: list[Check] = []
    versions = hostinfo.package_versions()
    bad = {k: versions[k] for k in unpinned(versions)}
    listed = ", ".join(f"{k}={v}" for k, v in sorted((bad or versions).items()))
    checks.append(
        Check("packages", "fail", f"{listed}; install them with: {install_hint(bad)}")
        if bad
        else Check("packages", "ok", listed)
    )
    try:
        with nvml_factory(gpus) as nvml:
            gpu, driver = nvml.describe()
            checks.append(
                Check("gpu", "ok", f"{gpu['name']} (cc {gpu['compute_capability']}, {gpu['memory_total_mib']} MiB)")
            )
            checks.append(
                Check("driver", "ok", f"driver {driver['driver_version']}, CUDA {driver['cuda_driver_version']}")
            )
            counter, coarse = nvml.energy_method(time.monotonic, time.sleep)  # as `run` decides it
            checks.append(
                Check(
                    "energy counter",
                    "ok" if counter else "warn",
                    "NVML total-energy counter available"
                    if counter
                    else coarse or "unsupported: energy from integrated power",
                )
            )
            limit, default = gpu["power_limit_enforced_w"], gpu["power_limit_default_w"]
            checks.append(
                Check("power limit", "ok" if limit >= default else "warn", f"{limit:.0f} W (default {default:.0f} W)")
            )
            others, unread = nvml.other_processes()
            listed = ", ".join(f"pid {p['pid']} ({p['used_memory_mib']:.0f} MiB)" for p in others)
            if unread:
                listed = f"could not be listed ({'; '.join(unread)})" + (f"; {listed}" if listed else "")
            checks.append(Check("other GPU processes", "warn" if others or unread else "ok", listed or "none"))
    except CollectError as exc:
        checks.append(Check("gpu", "fail", str(exc).removesuffix(DOCTOR_HINT)))  # not "run doctor" in doctor
    else:
        checks.append(_cuda_and_kernels())
    if stability_windows:
        checks.append(host_stability(stability_windows))
    return checks


def _cuda_and_kernels() -> Check:
    """torch sees the GPU and bitsandbytes' int8 and 4-bit kernels run on it."""
    try:
        import bitsandbytes.functional as bnbf
        import torch
    except ImportError as exc:
        return Check("bitsandbytes kernels", "fail", f"import failed: {exc}; install with: {INSTALL_HINT}")
    if not torch.cuda.is_available():
        return Check("bitsandbytes kernels", "fail", "torch.cuda.is_available() is False")
    try:
        weights = torch.randn(256, 256, device="cuda", dtype=torch.float16)
        q4, state = bnbf.quantize_4bit(weights, quant_type="nf4")
        error4 = (bnbf.dequantize_4bit(q4, state) - weights).abs().mean().item()
        q8, scale = bnbf.int8_vectorwise_quant(weights)[:2]
        error8 = (q8.float() * scale[:, None] / 127 - weights.float()).abs().mean().item()
    except Exception as exc:  # noqa: BLE001 - any kernel failure is the finding itself
        return Check("bitsandbytes kernels", "fail", f"{type(exc).__name__}: {exc}")
    ok = error4 < 0.2 and error8 < 0.05
    return Check("bitsandbytes kernels", "ok" if ok else "fail", f"nf4 mean abs error {error4:.3f}, int8 {error8:.4f}")
