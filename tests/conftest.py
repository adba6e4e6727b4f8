from __future__ import annotations

import gc
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures" / "submissions"
sys.path.insert(0, str(TESTS))  # test helpers (synthetic, fakes, legacy_translate)
# A fresh datasets cache per test run: pytest reuses tmp paths across runs, and a cache keyed on a
# reused path would hand a test the rows of an earlier run.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="eco-test-hf-datasets-")


def script_module(relative: str) -> ModuleType:
    """A script of this checkout that is not in a package (benchmarks/, .ci/), imported by its path."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up while a class is built
    spec.loader.exec_module(module)
    return module


def batch_rows(doc: dict[str, Any], rows: list[tuple[int, float]], precision: str | None = None) -> Any:
    """The document's first measurement once per (batch size, tok/s in all) of ``rows`` (at ``precision``
    where given), its summary alone changed: a file's batch scaling in a line (validator.scaling)."""
    from dataclasses import replace

    from ecocompute import domain

    sub = domain.parse(doc)
    m = sub.measurements[0]
    assert m.summary is not None
    label = precision or m.precision
    return replace(
        sub,
        measurements=tuple(
            replace(m, precision=label, batch_size=b, summary=replace(m.summary, throughput_tok_s_mean=t))
            for b, t in rows
        ),
    )


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def with_token_checks(real: Any, path: str, token_checks: tuple[tuple[int, str, int], ...]) -> Any:
    """``real`` (a validator Checked) as a file of its own at ``path``: no id, row, board or trial shared
    with another file, no finding, only ``token_checks`` (row, ids hash, tokens) for the cross-file rules."""
    import dataclasses

    return dataclasses.replace(
        real,
        path=path,
        findings=[],
        submission_id=path,
        hashes=[],
        fingerprints=[],
        gpu=None,
        busy=(),
        levels=(),
        token_checks=token_checks,
        copy_runs=(),
        copy_windows=(),
    )


def usage_error(result: Any) -> str:
    """The message of a usage error, exit 2 and no traceback: click's usage message with one 'Error: ' line
    (what click parses), or one '<prog>: error: ' line (ecocompute.cli.OptionError, a value refused on its
    own account in the command), returned without its prefix."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    if not result.output.startswith("Usage: "):
        lines = result.output.splitlines()
        assert len(lines) == 1 and ": error: " in lines[0], result.output
        return lines[0].split(": error: ", 1)[1]
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    return errors[0].removeprefix("Error: ")


def forget_drawn_figures() -> None:
    """Draw the report's figures anew from here on: advisor.report copies a figure it already drew in
    this process, which would make a comparison of two draws' bytes vacuous."""
    from advisor import report

    report.forget_drawn()


@pytest.fixture
def valid_doc() -> dict[str, Any]:
    return json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def advisor_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The advisor tests' synthetic dataset (synthetic_sweeps.advisor_submissions) built by the real
    pipeline, with the repository's legacy/ folder; built once per run."""
    from synthetic_sweeps import advisor_submissions

    from dataset_card.build import build

    root = tmp_path_factory.mktemp("advisor")
    for doc in advisor_submissions():
        write_json(root / "submissions" / doc["contributor"]["handle"] / f"{doc['submission_id']}.json", doc)
    return build(root / "submissions", ROOT / "legacy", root / "llm-energy").out_dir


@pytest.fixture
def cpu_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector's CPU tests run a shortened protocol through the library (1-s idle windows, a few
    seeded ids), which no released eco-collect writes: every release's row of validator.releases
    leaves those two fields unjudged while they write files (some relabel a file to an older release)."""
    from validator import releases

    for version, row in list(releases.RELEASES.items()):
        relaxed = {**row, "idle_window_s": None, "prompt.seeded_tokens": None}
        monkeypatch.setitem(releases.RELEASES, version, relaxed)  # type: ignore[arg-type]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything the imports made (torch, transformers, pyarrow, the test modules) out of the
    cyclic garbage collector's reach: a full collection, which eco-collect runs after every model it
    unloads and the interpreter runs on its own as objects pile up, then scans only what the tests
    make, not the hundreds of thousands of objects of the imported libraries."""
    gc.freeze()
