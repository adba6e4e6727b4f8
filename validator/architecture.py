"""What a board's architecture (its compute capability) admits beside it: no driver from a branch before
the first CUDA release that knew the architecture, and on a board older than Turing no torch built for
CUDA 13 and no driver after branch 580. A file naming such a pair was not measured as stated. Capabilities
the table does not list are not judged. The versions' relations to each other are versions.py's."""

from __future__ import annotations

from ecocompute.domain import Submission

from .findings import Finding, make
from .versions import major, nvml_driver

_DRIVER = "/environment/driver"
# Compute capabilities below 7.5 (Maxwell, Pascal, Volta: of the table's boards, the V100s) left CUDA at
# its 13.0 release (NVIDIA, CUDA 12.9 release notes and "Navigating GPU Architecture Support": offline
# compilation and library support removed for compute capability 5.x, 6.x, 7.0 and 7.2, so no torch built
# for CUDA 13 holds kernels or a cuBLAS for them) and the driver after branch 580 (NVIDIA's Unix driver
# deprecation schedule: "The Release 580 series will be the last to support GPUs based on the Maxwell,
# Pascal, and Volta architectures").
OLDEST_CC_OF_CUDA_13 = (7, 5)
LAST_BRANCH_BEFORE_TURING = 580
# ... and no driver older than its architecture drives a board: the first CUDA release that knew each compute
# capability (CUDA Toolkit release notes: 10.0 Turing, 11.0 the A100, 11.1 GA10x, 11.8 "support for the Hopper
# and Ada Lovelace GPU families", 12.8 Blackwell, sm_100 and sm_120) and that release's first driver in the
# table versions.FIRST_BRANCH_OF_CUDA_MAJOR cites (10.0.130 >= 410.48, 11.0.1 >= 450.36.06, 11.1.0 >= 455.23,
# 11.8 GA >= 520.61.05, 12.8 GA >= 570.26). The boards' launch drivers agree (RTX 3090 on 455.23.04, RTX 4090
# on 520.56.06, RTX 5090 on 570.86.16). A driver 510 beside an H100 passed. Risk: a board that a branch drove
# before CUDA's release named its architecture (none known); capabilities not listed are not judged.
FIRST_BRANCH_OF_CAPABILITY = {
    (7, 5): 410,
    (8, 0): 450,
    (8, 6): 455,
    (8, 9): 520,
    (9, 0): 520,
    (10, 0): 570,
    (12, 0): 570,
}


def check(sub: Submission, file: str) -> list[Finding]:
    return _before_turing(sub, file) + _before_the_board(sub, file)


def _capability(value: str) -> tuple[int, int] | None:
    parts = value.split(".")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
        return None  # the schema's pattern and reference.gpu_mismatch judge the spelling
    return int(parts[0]), int(parts[1])


def _before_turing(sub: Submission, file: str) -> list[Finding]:
    """A board older than Turing runs no torch built for CUDA 13 and no driver after branch 580."""
    env = sub.environment
    capability = _capability(env.gpu.compute_capability)
    if capability is None or capability >= OLDEST_CC_OF_CUDA_13:
        return []
    out = []
    built = major(env.software.get("torch_cuda"))
    if built is not None and built >= 13:
        out.append(
            make(
                "provenance.software_versions",
                file,
                "/environment/software/torch_cuda",
                f"torch built for CUDA {env.software.get('torch_cuda')!r} on a board of compute capability "
                f"{env.gpu.compute_capability}: CUDA 13 dropped compute capabilities below 7.5 (no kernels, no cuBLAS)",
            )
        )
    branch = major(env.driver.get("driver_version"))
    nvml = env.driver.get("nvml_version") or ""
    if branch is not None and branch > LAST_BRANCH_BEFORE_TURING and nvml.endswith("." + env.driver["driver_version"]):
        out.append(
            make(
                "provenance.driver_cuda",
                file,
                f"{_DRIVER}/driver_version",
                f"driver {env.driver['driver_version']!r} on a board of compute capability {env.gpu.compute_capability}: "
                f"branch {LAST_BRANCH_BEFORE_TURING} is the last that drives Maxwell, Pascal and Volta boards",
            )
        )
    return out


def _before_the_board(sub: Submission, file: str) -> list[Finding]:
    """A driver whose branch came before the first CUDA release that knew the board's architecture. Both
    numbers are judged, the recorded driver's and the one NVML names ('<CUDA major>.<driver>'), whether
    or not they agree: under WSL2 the driver is Windows's, whose number is at or above its Linux branch
    (R520's 521.90 and 522.25, R570's 572.16), and NVML is that Windows driver's Linux side; so a number
    below the floor is a branch that never drove the board, and an NVML that does not name the driver
    (provenance.driver_versions, a warning) no longer hides a driver 510 beside an H100 (attack v15)."""
    env = sub.environment
    capability = _capability(env.gpu.compute_capability)
    first = FIRST_BRANCH_OF_CAPABILITY.get(capability) if capability is not None else None
    if first is None:
        return []
    recorded = env.driver.get("driver_version") or ""
    nvml = env.driver.get("nvml_version") or ""
    named = nvml_driver(nvml)
    for where, version in (("driver_version", recorded), ("nvml_version", named)):
        branch = major(version)
        if branch is not None and branch < first:
            shown = f"driver {recorded!r}" if where == "driver_version" else f"NVML {nvml!r} (driver {named!r})"
            return [
                make(
                    "provenance.driver_cuda",
                    file,
                    f"{_DRIVER}/{where}",
                    f"{shown} on a board of compute capability {env.gpu.compute_capability} ({env.gpu.name}): no "
                    f"driver before branch {first}, that of the first CUDA release knowing that architecture, drives it",
                )
            ]
    return []
