"""eco-dataset build --out inside an earlier build (or an earlier report, or an input) was accepted; the earlier
build then held files its marker does not list, and its next rebuild was refused. Refused up front (attackds2 N1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, usage_error

from advisor.report import REPORT
from dataset_card import outdir
from dataset_card.cli import main as dataset
from ecocompute import folders, marked


def _earlier_build(folder: Path) -> Path:
    (folder / "figures").mkdir(parents=True)
    (folder / "README.md").write_text("card")
    (folder / "figures" / "a.png").write_bytes(b"png")
    outdir.mark(folder)
    return folder


@pytest.mark.parametrize("inside", ["figures/x", "new", "new/deeper"])
def test_an_out_inside_an_earlier_build_is_refused_before_any_work(tmp_path: Path, inside: str) -> None:
    build = _earlier_build(tmp_path / "build" / "llm-energy")
    (tmp_path / "submissions").mkdir()
    out = build / inside
    args = ["build", "--submissions", str(tmp_path / "submissions"), "--legacy", str(ROOT / "legacy")]
    line = usage_error(CliRunner().invoke(dataset, [*args, "--out", str(out)]))
    assert line == (
        f"--out {out} lies inside {build}, an earlier eco-dataset build, whose next run would find files eco-dataset "
        f"did not write and refuse to replace it; nothing written: give a folder outside it, or {build} itself to "
        "replace it"
    )
    assert not out.exists() and outdir.BUILD.foreign(build) == []


def test_an_output_inside_another_kinds_output_is_refused(tmp_path: Path) -> None:
    build = _earlier_build(tmp_path / "build")
    with pytest.raises(folders.OutError, match=r"lies inside .*, an earlier eco-dataset build, .* outside it$"):
        REPORT.check(build / "report")  # a report written inside a build
    (tmp_path / "report").mkdir()
    REPORT.mark(tmp_path / "report")
    with pytest.raises(folders.OutError, match=r"lies inside .*, an earlier eco-advise report, .* outside it$"):
        outdir.check(tmp_path / "report" / "build")


def test_an_earlier_build_holding_an_input_is_refused(tmp_path: Path) -> None:
    build = _earlier_build(tmp_path / "build")  # --submissions its figures folder: the swap would replace it
    args = ["build", "--submissions", str(build / "figures"), "--legacy", str(ROOT / "legacy"), "--out", str(build)]
    line = usage_error(CliRunner().invoke(dataset, args))
    assert line == (
        f"--submissions {build / 'figures'} lies inside --out {build}, which the build replaces whole; nothing "
        "written: give an --out outside it (the default is build/llm-energy)"
    )


def test_the_shared_core_knows_both_kinds_without_importing_a_tool(tmp_path: Path) -> None:
    """The kinds were registered by their tools' modules as they were imported: eco-advise report imported
    dataset_card only for the build's marker to be known, and a test's own kind joined the tools' for the
    rest of its process (review 33). Run where no tool module has been imported."""
    _earlier_build(tmp_path / "build")
    code = (
        "import sys; from pathlib import Path; from ecocompute import marked; "
        "found = marked.enclosing(Path(sys.argv[1])); "
        "assert found is not None and found[1] is marked.BUILD, found; "
        "assert not any(m.split('.')[0] in ('advisor', 'dataset_card') for m in sys.modules), 'a tool imported'"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "build" / "x")], cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    marked.Marked(".a-test-output", "test-1", "a test output", "pytest")
    assert marked.KINDS == (marked.BUILD, marked.REPORT) == (outdir.BUILD, REPORT)
