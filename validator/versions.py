"""What the recorded versions of the driver and the software imply about each other: a file whose
versions could not have run together, or could not have run eco-collect, was not measured as stated.

No future driver or library is refused: the driver's branch fixes the CUDA major its NVML reports only
up to the newest branch below, and beyond it any later major is allowed; the one table of releases,
which CUDA runtimes PyTorch built each torch release's wheels for (ecocompute/reference/torch_cuda.json),
does not judge a torch newer than its last row. What the board's compute capability admits of the driver
and of CUDA is architecture.py's.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from ecocompute import reference
from ecocompute.domain import Submission

from .findings import Finding, make

# NVIDIA's CUDA Toolkit release notes, table "CUDA Toolkit and Corresponding Driver Versions" (Linux
# x86_64): the first driver of each CUDA major, 10.0.130 >= 410.48, 11.0.1 >= 450.36.06, 12.0 GA
# >= 525.60.13, 13.0 GA >= 580.65.06. A driver ships the CUDA of its branch, so branch 470 reports CUDA
# 11 and NVML '11.470.57.02'; branch 580 reports 13. Newest first.
FIRST_BRANCH_OF_CUDA_MAJOR = ((13, 580), (12, 525), (11, 450), (10, 410))
# eco-collect's own floor (pyproject.toml requires-python; it uses zip(strict=), new in 3.10): no Python
# older than this ran it. tests/test_versions.py keeps the two equal.
MIN_PYTHON = Version("3.10")
# eco-collect's floors for what it runs on (pyproject.toml: huggingface-hub in the dependencies, the rest in
# the collect extra; the same in every release 0.1.0-0.6.0, from the first commit on): pip installs no
# older version beside it, so a file naming an older one was not measured by it as stated (transformers
# 4.30 or torch 1.13 under eco-collect 0.6.0). tests/test_versions.py keeps the two equal. Only floors:
# no later release is refused.
COLLECT_FLOORS = {
    "torch": Version("2.2"),
    "transformers": Version("4.45"),
    "bitsandbytes": Version("0.44"),
    "nvidia_ml_py": Version("12.535"),
    "accelerate": Version("0.30"),
    "huggingface_hub": Version("0.23"),
}
# The first torch built for CUDA 13: PyTorch's own wheels (cu130) from 2.9.0; NVIDIA's NGC container 25.08,
# the first on CUDA 13.0, holds a 2.8 pre-release. No older torch builds against CUDA 13 (it removed the
# deprecated APIs they use), so torch 2.2-2.7 beside torch_cuda 13.x was edited.
FIRST_TORCH_OF_CUDA = ((13, Version("2.8")),)
# What torch.version.cuda reads in a torch built for CUDA: '<major>.<minor>' from the toolkit it was built
# against (eco-collect writes it as it is, 'none' for a build without CUDA: provenance.unpinned_version's
# placeholder). Every torch eco-collect runs on (2.2 or later) needs CUDA 11.0 or later to build ("PyTorch
# requires CUDA 11.0 or above", its cmake/public/cuda.cmake; its own wheels begin at 11.8, torch_cuda.json), so
# '0', '1.2' or '13' is no CUDA that torch was built with (attack v27 N4). A third field is let pass.
_CUDA_VERSION = re.compile(rf"{reference.MAJOR_MINOR.pattern}(?:\.[0-9]{{1,4}})?", re.ASCII)
FIRST_CUDA_OF_COLLECT = 11
_DRIVER = "/environment/driver"


def check(sub: Submission, file: str) -> list[Finding]:
    """The versions against each other; what the board's architecture admits is architecture.py's, which
    provenance.py asks next."""
    return _driver(sub, file) + _cuda_of_branch(sub, file) + _software(sub, file)


def nvml_cuda_first(nvml: str) -> bool:
    """Whether NVML's version opens with its CUDA major ('13.580.159.04'): a first field of three digits
    or more is no CUDA major but the driver itself, written without it ('535.104.05', review 27)."""
    head = nvml.split(".", 1)[0]
    return not (len(head) >= 3 and head.isascii() and head.isdigit())


def nvml_driver(nvml: str) -> str:
    """The driver NVML's version names: what follows its CUDA major, where that reads as a driver version
    (580.159[.04]), or the whole where it is written without one; '' where it names none ('13.0')."""
    fields = nvml.split(".")
    return nvml if not nvml_cuda_first(nvml) else ".".join(fields[1:]) if len(fields) >= 3 else ""


def major(version: str | None) -> int | None:
    """The leading number of a version ('13' of '13.0'); None when it does not start with ASCII digits."""
    head = (version or "").split(".", 1)[0]
    return int(head) if 0 < len(head) <= 6 and head.isascii() and head.isdigit() else None


def cuda_major_of_branch(branch: int) -> tuple[int, int | None] | None:
    """The CUDA majors a driver branch can report, (lowest, highest; None: no limit known), or None
    below the table (a driver older than CUDA 10, which no torch eco-collect supports loads on)."""
    for row, (cuda, first) in enumerate(FIRST_BRANCH_OF_CUDA_MAJOR):
        if branch >= first:
            return cuda, (None if row == 0 else cuda)  # the newest row: later majors may follow it
    return None


def _driver(sub: Submission, file: str) -> list[Finding]:
    """What follows from NVIDIA's own versioning: NVML's version is '<CUDA major>.<driver version>'
    (13.580.159.04 for driver 580.159.04), and torch built for a newer CUDA major than the driver's does
    not load (CUDA's minor-version compatibility holds within one major). A warning: under WSL2 the
    driver is Windows's, and a forward-compatibility package brings a newer CUDA to data-centre boards."""
    driver = sub.environment.driver
    out = []
    version, nvml = driver.get("driver_version"), driver.get("nvml_version")
    if version and nvml and not nvml.endswith("." + version):
        out.append(
            make(
                "provenance.driver_versions",
                file,
                f"{_DRIVER}/nvml_version",
                f"NVML {nvml!r} does not end with the driver's version {version!r} (NVML reports "
                f"'<CUDA major>.{version}' on Linux; under WSL2 the driver is Windows's)",
            )
        )
    cuda, torch_cuda = major(nvml), sub.environment.software.get("torch_cuda")
    built = major(torch_cuda)
    if cuda is not None and built is not None and built > cuda:
        out.append(
            make(
                "provenance.driver_versions",
                file,
                "/environment/software/torch_cuda",
                f"torch built for CUDA {torch_cuda!r} cannot load on a driver of CUDA {cuda} (NVML {nvml!r}): "
                "CUDA's compatibility holds within one major version, unless a forward-compatibility package "
                "(data-centre boards) supplies the newer one",
            )
        )
    return out


def _cuda_of_branch(sub: Submission, file: str) -> list[Finding]:
    """NVML comes with the driver: where it names the recorded driver (not WSL2's Windows driver), its
    CUDA major is the one that driver's branch ships. The CUDA driver (libcuda) may be newer than the
    branch's, from a forward-compatibility package, but never older: an older libcuda does not
    initialise on a newer kernel driver, so no trial could have run."""
    driver = sub.environment.driver
    version, nvml, reported = (
        driver.get("driver_version"),
        driver.get("nvml_version"),
        driver.get("cuda_driver_version"),
    )
    if not (version and nvml and nvml.endswith("." + version)):
        return []  # provenance.driver_versions says what is wrong
    branch, cuda = major(version), major(nvml)
    span = cuda_major_of_branch(branch) if branch is not None else None
    if span is None or cuda is None:
        return []
    lowest, highest = span
    out = []
    if cuda < lowest or (highest is not None and cuda > highest):
        ships = f"CUDA {lowest}" if highest is not None else f"CUDA {lowest} or later"
        out.append(
            make(
                "provenance.driver_cuda",
                file,
                f"{_DRIVER}/nvml_version",
                f"NVML {nvml!r} names CUDA {cuda}, but driver branch {branch} ships {ships} (NVIDIA's CUDA "
                "release notes: the first driver of each CUDA major)",
            )
        )
    libcuda = major(reported)
    if libcuda is not None and libcuda < cuda:
        out.append(
            make(
                "provenance.driver_cuda",
                file,
                f"{_DRIVER}/cuda_driver_version",
                f"the CUDA driver {reported!r} is older than the CUDA {cuda} of the installed driver (NVML "
                f"{nvml!r}): an older CUDA driver does not initialise on a newer kernel driver",
            )
        )
    return out


def _parsed(value: str | None) -> Version | None:
    try:
        return Version(value) if value else None
    except InvalidVersion:
        return None  # provenance.unpinned_version judges the spelling


def _exact(value: str | None) -> Version | None:
    """The version, where provenance.unpinned_version has nothing to say of its spelling (' 2.0 ' is its
    finding alone)."""
    from .provenance import version_problem  # provenance imports this module

    return _parsed(value) if value and version_problem(value) is None else None


def _software(sub: Submission, file: str) -> list[Finding]:
    """A Python or a package older than eco-collect runs on, a torch older than any built for the CUDA
    torch_cuda names, and a torch wheel whose local label (``+cu130``, ``+cpu``)
    names another CUDA than the one torch reported it was built with, or none."""
    from .provenance import python_release

    software, out = sub.environment.software, []
    python = _parsed(python_release(software.get("python")))
    if python is not None and python.release[:2] < MIN_PYTHON.release[:2]:  # 3.10.0rc2 is a 3.10
        out.append(
            make(
                "provenance.software_versions",
                file,
                "/environment/software/python",
                f"Python {software.get('python')!r}: eco-collect needs Python {MIN_PYTHON} or later",
            )
        )
    if sub.collector_name == "eco-collect":
        for key, floor in COLLECT_FLOORS.items():
            found = _exact(software.get(key))
            if found is not None and found.release < floor.release:  # 2.2.0a0 (NGC) is a 2.2
                out.append(
                    make(
                        "provenance.software_versions",
                        file,
                        f"/environment/software/{key}",
                        f"{key} {software.get(key)!r}: eco-collect needs {key} {floor} or later (its pyproject.toml), "
                        "so it did not run on this one",
                    )
                )
    torch, torch_cuda = _parsed(software.get("torch")), software.get("torch_cuda")
    built, exact = major(torch_cuda), _exact(software.get("torch"))
    out += _not_cuda(torch_cuda, sub.collector_name == "eco-collect", file)
    for cuda, first in FIRST_TORCH_OF_CUDA:
        if exact is not None and built is not None and built >= cuda and exact.release < first.release:
            out.append(
                make(
                    "provenance.software_versions",
                    file,
                    "/environment/software/torch",
                    f"torch {software.get('torch')!r} built for CUDA {torch_cuda!r}: no torch before {first} was built "
                    f"for CUDA {cuda} (PyTorch's cu{cuda}0 wheels begin at 2.9.0, NVIDIA's containers at a 2.8 pre-release)",
                )
            )
            break
    label = (torch.local or "") if torch is not None else ""
    out += _wheel_of_release(software.get("torch"), exact, label, file)
    if torch_cuda and _contradicts(label, torch_cuda):
        out.append(
            make(
                "provenance.software_versions",
                file,
                "/environment/software/torch",
                f"torch {software.get('torch')!r} is a build {_label_meaning(label)}, but torch_cuda says it was "
                f"built for CUDA {torch_cuda!r}",
            )
        )
    return out


def _not_cuda(torch_cuda: str | None, collect: bool, file: str) -> list[Finding]:
    """torch_cuda spelled as a version (provenance.unpinned_version has nothing to say) that names no CUDA torch
    was built with: not '<major>.<minor>', or for eco-collect older than FIRST_CUDA_OF_COLLECT."""
    if not torch_cuda or _exact(torch_cuda) is None:
        return []
    form = _CUDA_VERSION.fullmatch(torch_cuda)
    if form is not None and (not collect or int(form[1]) >= FIRST_CUDA_OF_COLLECT):
        return []
    return [
        make(
            "provenance.software_versions",
            file,
            "/environment/software/torch_cuda",
            f"torch_cuda {torch_cuda!r} is no CUDA version torch was built with: torch.version.cuda reads "
            f"'<major>.<minor>', {FIRST_CUDA_OF_COLLECT}.0 or later for any torch eco-collect runs on (2.2 or later; "
            "'none' where torch has no CUDA)",
        )
    ]


def _wheel_of_release(spelled: str | None, torch: Version | None, label: str, file: str) -> list[Finding]:
    """A released torch whose wheel label (``+cu118``) names a CUDA runtime outside the span PyTorch built
    that release's wheels for (ecocompute/reference/torch_cuda.json, from PyTorch's release matrix): the
    label is PyTorch's own, so ``2.11.0+cu118`` names a wheel that was never published (cu118 ended at 2.7).
    Only outside the span, oldest to newest: PyTorch also published wheels between them that its matrix
    omits (cu129 for 2.9). A pre-release or nightly (``2.12.0.dev20260301+cu129``), a build without a CUDA
    label (conda-forge, source, NVIDIA's containers) and a release newer than the table are not judged."""
    digits = _label_cuda(label)
    if torch is None or digits is None or torch.is_prerelease or torch.is_devrelease or len(torch.release) < 2:
        return []
    built = reference.torch_cuda().get((torch.release[0], torch.release[1]))
    if built is None:  # older than eco-collect's floor (its own finding) or newer than the table: not judged
        return []
    cuda = (int(digits[:-1]), int(digits[-1]))
    if built[0] <= cuda <= built[-1]:
        return []
    shown = ", ".join(f"{a}.{b}" for a, b in built)
    return [
        make(
            "provenance.software_versions",
            file,
            "/environment/software/torch",
            f"torch {spelled!r} names a PyTorch wheel for CUDA {cuda[0]}.{cuda[1]}, but PyTorch built torch "
            f"{torch.release[0]}.{torch.release[1]} for CUDA {shown} (its release matrix): no such wheel was published",
        )
    ]


def _contradicts(label: str, torch_cuda: str) -> bool:
    """A CUDA label beside another CUDA version or none, or a build without CUDA (whose
    torch.version.cuda is None) beside a CUDA version; any other label (a source build's, a container's
    commit) says nothing of CUDA."""
    digits, wanted = _label_cuda(label), _cuda_digits(torch_cuda)
    if digits is not None:
        return wanted != digits  # another CUDA, or none ('none', as eco-collect writes a CPU build's)
    return (label == "cpu" or label.startswith("rocm")) and wanted is not None


def _label_cuda(label: str) -> str | None:
    """The digits of a PyTorch wheel's CUDA label ('130' of 'cu130'), or None for any other label."""
    digits = label[2:] if label.startswith("cu") else ""
    return digits if 2 <= len(digits) <= 4 and digits.isascii() and digits.isdigit() else None


def _cuda_digits(torch_cuda: str) -> str | None:
    """'130' of '13.0', '118' of '11.8': how PyTorch's wheel labels spell a CUDA version."""
    parts = torch_cuda.split(".")
    if len(parts) < 2 or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts[:2]):
        return None
    return f"{int(parts[0])}{int(parts[1])}"


def _label_meaning(label: str) -> str:
    digits = _label_cuda(label)
    if digits is not None:
        return f"for CUDA {digits[:-1]}.{digits[-1]}"
    return "without CUDA (for the CPU)" if label == "cpu" else "for AMD's ROCm, not CUDA"


def collector_at_most(sub: Submission, last: Version) -> bool:
    """Whether eco-collect ``last`` or an older release wrote ``sub``: a rule an old release's files
    cannot meet is relaxed for them only (a newer collector writes what the rule holds)."""
    if sub.collector_name != "eco-collect":  # another collector: provenance.collector names it
        return False
    try:
        return Version(sub.collector_version) <= last
    except InvalidVersion:  # provenance.collector names it
        return False
