"""benchmarks/slim_wheel.py: the bitsandbytes wheel carried to the lent GPU machine, slimmed to one CUDA major."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import script_module

slim_wheel = script_module("benchmarks/slim_wheel.py")

NAMES = [
    "bitsandbytes/__init__.py",
    "bitsandbytes/libbitsandbytes_cpu.so",
    "bitsandbytes/libbitsandbytes_cuda121.so",
    "bitsandbytes/libbitsandbytes_cuda130.so",
    "bitsandbytes/libbitsandbytes_cuda132.so",
    "bitsandbytes/libbitsandbytes_rocm72.so",
    "bitsandbytes/libbitsandbytes_xpu2025.so",
]


def _wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name in NAMES:
            z.writestr(name, b"x" * 10)
        z.writestr("bitsandbytes-0.50.2.dist-info/RECORD", "".join(f"{n},sha256=abc,10\n" for n in NAMES))
    return path


def test_only_the_cpu_and_the_kept_cuda_major_libraries_remain_in_the_archive_and_its_record(tmp_path: Path) -> None:
    out = tmp_path / "slim" / "bitsandbytes-0.50.2-py3-none-manylinux_2_24_x86_64.whl"
    out.parent.mkdir()
    left_out = slim_wheel.slim(_wheel(tmp_path / "bnb.whl"), out, 13)
    assert left_out == [NAMES[2], NAMES[5], NAMES[6]]
    with zipfile.ZipFile(out) as z:
        kept = [n for n in z.namelist() if not n.endswith("RECORD")]
        record = z.read("bitsandbytes-0.50.2.dist-info/RECORD").decode().splitlines()
    assert kept == [NAMES[0], NAMES[1], NAMES[3], NAMES[4]]
    assert [line.split(",")[0] for line in record] == kept
    assert not list(out.parent.glob("*.partial"))


def test_an_existing_output_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "out.whl"
    out.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="nothing written"):
        slim_wheel.slim(_wheel(tmp_path / "bnb.whl"), out, 13)
    assert out.read_bytes() == b"mine"


def test_a_failure_half_way_leaves_no_partial_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.whl"
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("bitsandbytes/__init__.py", b"x")
        z.writestr("bitsandbytes-0.50.2.dist-info/RECORD", b"\xff\xfe not UTF-8")
    with pytest.raises(UnicodeDecodeError):
        slim_wheel.slim(broken, tmp_path / "out.whl", 13)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.whl"]
