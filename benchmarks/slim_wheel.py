"""Write a copy of the bitsandbytes wheel that keeps only the native libraries one CUDA major needs.

The lent GPU machine takes at most 64 MiB of working tree and carried files, and reaches no package index.
bitsandbytes 0.50.2's wheel is 43 MB, 36 of them libraries for CUDA 11.8-12.8, ROCm and XPU that a CUDA 13
torch never loads; with the tracked files and jsonschema-rs it no longer fitted. The copy keeps the CPU
library and those of the kept CUDA major (libbitsandbytes_cuda13*.so: 7 MB in all) and drops the rest from
the archive and from its RECORD, so pip installs it as it would the original (same name and version).
Run: python benchmarks/slim_wheel.py ORIGINAL.whl OUT.whl [--cuda-major 13]
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

_NATIVE = re.compile(r"(^|/)libbitsandbytes_(?P<kind>[a-z]+)(?P<version>\d*)\.(so|dll|dylib)$")


def dropped(name: str, cuda_major: int) -> bool:
    """A native library another backend or CUDA major loads (the CPU one is always kept)."""
    m = _NATIVE.search(name)
    if m is None or m["kind"] == "cpu":
        return False
    return not (m["kind"] == "cuda" and m["version"].startswith(str(cuda_major)))


def slim(original: Path, out: Path, cuda_major: int) -> list[str]:
    """Write ``out`` (new; a file already there is refused) and return the names left out."""
    if out.exists() or out.is_symlink():
        raise FileExistsError(f"{out} exists; nothing written: give a new file name")
    left_out: list[str] = []
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(partial, "x", zipfile.ZIP_DEFLATED) as dst:
        try:
            for info in src.infolist():
                if dropped(info.filename, cuda_major):
                    left_out.append(info.filename)
                    continue
                data = src.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    lines = data.decode("utf-8").splitlines()
                    kept = (line for line in lines if not dropped(line.split(",", 1)[0], cuda_major))
                    data = "".join(f"{line}\n" for line in kept).encode()
                dst.writestr(info, data)
        except BaseException:
            partial.unlink()  # ours, half-written: nothing is left that looks like a wheel
            raise
    partial.rename(out)
    return left_out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("original", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--cuda-major", type=int, default=13)
    a = p.parse_args()
    try:
        left_out = slim(a.original, a.out, a.cuda_major)
    except (OSError, zipfile.BadZipFile, UnicodeError) as exc:
        sys.exit(f"error: {exc}")
    size = a.out.stat().st_size / 1e6
    print(f"wrote {a.out} ({size:.1f} MB): {len(left_out)} native libraries left out")


if __name__ == "__main__":
    main()
