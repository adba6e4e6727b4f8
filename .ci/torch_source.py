"""Where .ci/run gets a CPU build of torch (the tests need no GPU), first that works:

1. already installed in this environment as a CPU build: nothing to do;
2. the PyTorch CPU wheel index, when it answers (TORCH_CPU_INDEX overrides the address);
3. a CPU wheel on disk, in pip's configured find-links folders or ECO_TORCH_WHEELS;
4. PyPI, whose Linux x86_64 torch is a CUDA build (about 530 MB plus about 20 nvidia-* packages).

Prints pip's install arguments on stdout, one per line (nothing for case 1), and on stderr one line
saying what that downloads. Standard library only, plus pip's own vendored packaging when present.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
REQUIREMENT = os.environ.get("ECO_TORCH_REQUIREMENT", "torch")


@dataclass(frozen=True)
class Choice:
    source: str  # installed | cpu-index | local-wheel | pypi
    pip_args: list[str]
    downloads: str


def cpu_build_installed() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.version.cuda is None


def reachable(index: str, timeout_s: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=timeout_s) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def find_links() -> list[Path]:
    """Local folders pip is told to look in (PIP_FIND_LINKS, pip's config files) and ECO_TORCH_WHEELS."""
    values = os.environ.get("PIP_FIND_LINKS", "").split() + os.environ.get("ECO_TORCH_WHEELS", "").split()
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    for match in re.finditer(r"find-links='([^']*)'", listed):
        values += match.group(1).split()
    folders = [Path(v.removeprefix("file://")) for v in values if "://" not in v or v.startswith("file://")]
    return [f for f in dict.fromkeys(folders) if f.is_dir()]


def _compatible(wheel: Path) -> bool:
    try:
        from pip._vendor.packaging.tags import sys_tags
        from pip._vendor.packaging.utils import parse_wheel_filename
    except ImportError:  # no pip here: match the interpreter tag and the machine by name
        tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
        return f"-{tag}-" in wheel.name and os.uname().machine in wheel.name
    try:
        _, _, _, tags = parse_wheel_filename(wheel.name)
    except ValueError:
        return False
    return not tags.isdisjoint(set(sys_tags()))


def local_cpu_wheel(folders: list[Path]) -> Path | None:
    wheels = [w for f in folders for w in sorted(f.glob("torch-*+cpu-*.whl")) if _compatible(w)]
    return max(wheels, key=lambda w: w.name) if wheels else None


def choose(index: str, folders: list[Path], installed: bool) -> Choice:
    if installed:
        return Choice("installed", [], "torch: a CPU build is already installed, nothing to download")
    if reachable(index):
        return Choice(
            "cpu-index",
            [REQUIREMENT, "--index-url", index],  # that index also serves torch's dependencies
            f"torch: the CPU wheel from {index} (about 190 MB) and its few pure-Python dependencies",
        )
    wheel = local_cpu_wheel(folders)
    if wheel is not None:
        return Choice(
            "local-wheel",
            [str(wheel)],
            f"torch: the CPU wheel on disk {wheel} ({index} did not answer); its dependencies from the package index",
        )
    return Choice(
        "pypi",
        [REQUIREMENT],
        f"torch: from PyPI ({index} did not answer and no CPU wheel is on disk): on Linux x86_64 a CUDA build, "
        "about 530 MB plus about 20 nvidia-* packages; the tests do not need it",
    )


def main() -> None:
    choice = choose(os.environ.get("TORCH_CPU_INDEX", CPU_INDEX), find_links(), cpu_build_installed())
    print(choice.downloads, file=sys.stderr)
    for arg in choice.pip_args:
        print(arg)


if __name__ == "__main__":
    main()
