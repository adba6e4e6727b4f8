"""`.ci/run` on a fresh machine: where the CPU torch comes from, decided without a network."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, script_module

torch_source = script_module(".ci/torch_source.py")

UNREACHABLE = "http://127.0.0.1:9/whl/cpu"  # nothing listens on the discard port
WHEEL = "torch-2.13.0+cpu-cp{v}-cp{v}-manylinux_2_28_x86_64.whl"


def _wheel(folder: Path, python: str | None = None) -> Path:
    path = folder / WHEEL.format(v=python or f"{sys.version_info[0]}{sys.version_info[1]}")
    path.write_bytes(b"not really a wheel")
    return path


@pytest.fixture
def index() -> Iterator[str]:
    """A local stand-in for the CPU index: answers /whl/cpu/torch/."""
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "whl" / "cpu" / "torch").mkdir(parents=True)
        (Path(root) / "whl" / "cpu" / "torch" / "index.html").write_text("<a>torch</a>")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
        handler.log_message = lambda *a: None  # type: ignore[attr-defined]
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
        finally:
            server.shutdown()


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the stand-in wheel is an x86_64 one")
def test_the_cpu_index_first_then_a_local_wheel_then_pypi(tmp_path: Path, index: str) -> None:
    wheel = _wheel(tmp_path)
    first = torch_source.choose(index, [tmp_path], installed=False)
    assert first.source == "cpu-index" and first.pip_args == ["torch", "--index-url", index]
    second = torch_source.choose(UNREACHABLE, [tmp_path], installed=False)
    assert second.source == "local-wheel" and second.pip_args == [str(wheel)]
    wheel.unlink()
    _wheel(tmp_path, python="27")  # a wheel this interpreter cannot install does not count
    last = torch_source.choose(UNREACHABLE, [tmp_path], installed=False)
    assert last.source == "pypi" and last.pip_args == ["torch"] and "CUDA build" in last.downloads
    assert torch_source.choose(UNREACHABLE, [], installed=True).pip_args == []


def test_find_links_come_from_the_environment_and_pip_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "pip.conf"
    (tmp_path / "from-config").mkdir()
    (tmp_path / "from-env").mkdir()
    config.write_text(f"[global]\nfind-links = {tmp_path / 'from-config'}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIP_FIND_LINKS", f"{tmp_path / 'from-env'} https://example.org/wheels {tmp_path / 'missing'}")
    assert set(torch_source.find_links()) == {tmp_path / "from-config", tmp_path / "from-env"}


def _dry_run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """.ci/run in dry-run mode in a copy of the folder (so that no .venv of this checkout counts)."""
    copy = tmp_path / "checkout"
    (copy / ".ci").mkdir(parents=True)
    for name in ("run", "torch_source.py"):
        (copy / ".ci" / name).write_bytes((ROOT / ".ci" / name).read_bytes())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    base["PATH"] = os.pathsep.join(p for p in base["PATH"].split(os.pathsep) if ".venv" not in p)
    full = {**base, "ECO_CI_DRY_RUN": "1", "PIP_CONFIG_FILE": os.devnull, "TORCH_CPU_INDEX": UNREACHABLE, **env}
    return subprocess.run(["bash", str(copy / ".ci" / "run")], capture_output=True, text=True, env=full, timeout=120)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the stand-in wheel is an x86_64 one")
def test_dry_run_prints_the_whole_install_and_the_readme_test_command(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = _wheel(wheels)
    result = _dry_run(tmp_path, ECO_TORCH_WHEELS=str(wheels))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "+ python3 -m venv .venv",
        "+ .venv/bin/python -m pip install -q --upgrade pip",
        f"+ .venv/bin/python -m pip install -q {wheel}",
        "+ .venv/bin/python -m pip install -q -e .[collect,dev]",
        "+ .venv/bin/python -m ruff check .",
        "+ .venv/bin/python -m ruff format --check .",
        "+ .venv/bin/python -m pytest -q",
    ]
    assert "the CPU wheel on disk" in result.stderr and "did not answer" in result.stderr
    assert not (tmp_path / "checkout" / ".venv").exists()


def test_dry_run_without_any_cpu_wheel_says_what_pypi_costs(tmp_path: Path) -> None:
    result = _dry_run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "+ .venv/bin/python -m pip install -q torch" in result.stdout.splitlines()
    assert "CUDA build, about 530 MB" in result.stderr


def test_the_readme_quick_start_makes_and_activates_a_venv_before_installing() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert lines == [
        "python3 -m venv .venv && . .venv/bin/activate",
        "pip install -e . && python -m dataset_card build",
        "bash .ci/run",
    ]
