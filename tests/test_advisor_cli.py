"""eco-advise on the command line, and its report: it fails like the other CLIs (known errors one line
and exit 1, usage errors exit 2, --traceback for the story), answers in text or JSON, and writes
figures whose bytes depend only on the data."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import synthetic_sweeps as sw
from click.testing import CliRunner, Result
from conftest import forget_drawn_figures, usage_error

from advisor import data, report
from advisor.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("eco-advise: error: ") and "Traceback" not in result.output
    return lines[0]


def test_recommend_is_the_default_command(advisor_build: Path) -> None:
    plain = _run("--dataset", str(advisor_build), "--gpu", "H100", "--params", "7B")
    named = _run("recommend", "--dataset", str(advisor_build), "--gpu", "H100", "--params", "7e9")
    assert plain.exit_code == 0, plain.output
    assert plain.output == named.output
    assert "Recommendation: nf4, engine generate, batch size 8" in plain.output
    assert "Rows behind it:" in plain.output and "Method:" in plain.output


def test_json_format(advisor_build: Path) -> None:
    args = ["--dataset", str(advisor_build), "--gpu", "RTX 4090", "--params", "1.5B", "--format", "json"]
    result = _run(*args, "--engine", "cuda-graph", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["recommendation"]["engine"] == "cuda-graph" and doc["query"]["params"] == 1.5e9
    assert doc["gpu_name"] == sw.RTX4090


def test_a_dataset_given_as_a_link_is_a_usage_error(advisor_build: Path, tmp_path: Path) -> None:
    """As --submissions: an input is read where it is, never through a link (attackadv L2)."""
    (tmp_path / "link").symlink_to(advisor_build)
    line = usage_error(_run("--dataset", str(tmp_path / "link"), "--gpu", "H100", "--params", "7B"))
    assert (
        line
        == f"--dataset {tmp_path / 'link'} is a symbolic link: give the folder itself ({os.path.realpath(advisor_build)}); "
        + ("links are never followed")
    )


@pytest.mark.parametrize("gpu", ["", " - "])
def test_an_empty_gpu_is_refused_before_the_dataset_is_read(tmp_path: Path, gpu: str) -> None:
    """No dataset resolves it: said before a Hub download (here before a missing folder is noticed)."""
    line = usage_error(_run("--dataset", str(tmp_path / "missing"), "--gpu", gpu, "--params", "7B"))
    assert line.startswith("--gpu is empty; give an NVML name"), line


def test_a_board_outside_the_gpu_table_is_answered_from_the_data(advisor_build: Path) -> None:
    """Why --gpu is not judged against the GPU table before the dataset loads: the legacy config holds
    boards the table lacks (and a release built with a later table, boards added since)."""
    from ecocompute import reference

    assert "NVIDIA A800 80GB" not in reference.default().gpus
    result = _run("--dataset", str(advisor_build), "--gpu", "A800 80GB", "--params", "7B")
    assert result.exit_code == 0 and result.output.startswith("eco-advise: NVIDIA A800 80GB,"), result.output


def test_a_dataset_of_no_rows_says_so(advisor_build: Path, tmp_path: Path) -> None:
    """Every --gpu was judged against the GPU table alone: 'H100' matched several boards, a usage error
    (exit 2), where the dataset held nothing (attackadv L3)."""
    import pyarrow.parquet as pq

    empty = tmp_path / "empty"
    shutil.copytree(advisor_build, empty)
    for file in empty.glob("*/*.parquet"):
        pq.write_table(pq.read_table(file).slice(0, 0), file)
    for gpu in ("H100", "NVIDIA H100 NVL"):  # ambiguous in the table; one board, answered "no close match"
        line = _one_line_error(_run("--dataset", str(empty), "--gpu", gpu, "--params", "7B"))
        assert line == f"eco-advise: error: {empty} holds no rows (no measurement, no legacy row): nothing to " + (
            "recommend from; give a dataset eco-dataset build wrote from accepted submissions"
        )


def test_no_close_match_is_an_answer_not_an_error(advisor_build: Path) -> None:
    result = _run("--dataset", str(advisor_build), "--gpu", "H100", "--params", "70B")
    assert result.exit_code == 0 and "No close match:" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--dataset", "D", "--params", "7B"],  # no --gpu
        ["--dataset", "D", "--gpu", "H100", "--params", "seven"],
        ["--dataset", "D", "--gpu", "H100", "--params", "0"],
        ["--dataset", "D", "--gpu", "H100", "--params", "7B", "--engine", "vllm"],
        ["--dataset", "D", "--gpu", "H100", "--params", "7B", "--batch-size", "0"],
        ["--dataset", "D", "--gpu", "H100", "--params", "7B", "--max-params-ratio", "1"],
        ["--dataset", "D", "--gpu", "H100", "--params", "7B", "--max-params-ratio", "nan"],  # passed the range
        ["report", "--dataset", "D"],  # no --out
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.output and "Traceback" not in result.output


def test_refused_values_are_usage_errors(advisor_build: Path, tmp_path: Path) -> None:
    """A --dataset that names nothing, a --gpu matching several GPUs or none, an --out that is a file: each a
    value refused on its own account, a usage error (exit 2) as a malformed --params is (tidy31: they were
    exit 1, and an unknown --gpu an answer without a recommendation)."""
    line = usage_error(_run("--dataset", str(tmp_path / "nope"), "--gpu", "H100", "--params", "7B"))
    assert "no dataset folder" in line and "owner/name@revision" in line
    line = usage_error(_run("--dataset", str(advisor_build), "--gpu", "GeForce", "--params", "7B"))
    assert line.startswith("--gpu 'GeForce' matches several GPUs: 'NVIDIA GeForce RTX"), line
    line = usage_error(_run("--dataset", str(advisor_build), "--gpu", "Quadro 9000", "--params", "7B"))
    assert line.startswith(
        f"--gpu: no GPU called 'Quadro 9000' in {advisor_build} or the GPU table; give one it holds: "
    )
    assert sw.H100 in line and "NVIDIA A800 80GB" in line  # the measured boards and the legacy ones
    assert usage_error(_run("--dataset", str(advisor_build), "--gpu", " - ", "--params", "7B")).startswith(
        "--gpu is empty"
    )
    (tmp_path / "taken").write_text("mine")
    line = usage_error(_run("report", "--dataset", str(advisor_build), "--out", str(tmp_path / "taken")))
    assert "is not a folder" in line and (tmp_path / "taken").read_text() == "mine"


def test_a_gpu_typo_is_refused_before_the_trials_are_read(advisor_build: Path, tmp_path: Path) -> None:
    """--gpu is judged as soon as the dataset's GPU names are read: before its trials (most of its bytes) and the
    analysis (a 100,000-row build took 8.8 s to refuse 'H1OO', now 1.4 s). Here the trials are unreadable: the
    typo is the one line, while a known board goes on to read them."""
    damaged = tmp_path / "damaged"
    shutil.copytree(advisor_build, damaged)
    for part in (damaged / "trials").glob("*.parquet"):
        part.write_bytes(b"not parquet")
    line = usage_error(_run("--dataset", str(damaged), "--gpu", "H1OO", "--params", "7B"))
    assert line.startswith(f"--gpu: no GPU called 'H1OO' in {damaged} or the GPU table; give one it holds: ")
    assert "trials" in _one_line_error(_run("--dataset", str(damaged), "--gpu", "H100", "--params", "7B"))


def test_a_board_only_the_gpu_table_knows_is_an_answer(advisor_build: Path) -> None:
    """A --gpu the reference table knows but the dataset has not measured is no usage error: the answer
    says so."""
    result = _run("--dataset", str(advisor_build), "--gpu", "L4", "--params", "7B")
    assert result.exit_code == 0 and "No close match: no measurement on NVIDIA L4" in result.output, result.output


def test_known_errors_are_one_line(advisor_build: Path, tmp_path: Path) -> None:
    """What fails while the work runs (here a dataset whose files are not a build's) is one line, exit 1."""
    broken = tmp_path / "broken"
    (broken / "measurements").mkdir(parents=True)
    line = _one_line_error(_run("--dataset", str(broken), "--gpu", "H100", "--params", "7B"))
    assert str(broken) in line


def test_traceback_flag_shows_the_story(tmp_path: Path) -> None:
    result = _run("--traceback", "--dataset", str(tmp_path / "nope"), "--gpu", "H100", "--params", "7B")
    assert result.exit_code == 1 and isinstance(result.exception, Exception)
    assert "no dataset folder" in str(result.exception)


@pytest.fixture(scope="module")
def written(advisor_build: Path, tmp_path_factory: pytest.TempPathFactory) -> report.ReportResult:
    return report.write_report(advisor_build, tmp_path_factory.mktemp("report") / "out")


def test_report_writes_figures_and_markdown(written: report.ReportResult) -> None:
    names = sorted(p.name for p in written.figures)
    assert names == sorted(p.name for p in (written.out_dir / "figures").iterdir())
    for kind in ("ratio", "batch", "power"):
        assert any(n.startswith(f"{kind}-nvidia-h100-80gb-hbm3") for n in names), kind
    assert "ratio-nvidia-geforce-rtx-4090-cuda-graph.png" in names
    assert "legacy-ratio-nvidia-geforce-rtx-5090.png" in names
    for path in written.figures:
        assert path.read_bytes().startswith(PNG)
        assert f"]({path.relative_to(written.out_dir).as_posix()})" in written.markdown
    assert written.markdown_path.read_text(encoding="utf-8") == written.markdown
    md = written.markdown
    assert re.search(
        r"\| NVIDIA H100 80GB HBM3 \| generate \| 1 \| 64 \| gross \| nf4 \| 5 of 6 \(5\) \| crossover at [34]\.\d+ B",
        md,
    )
    assert "delta method" in md and "Legacy data (not validated" in md
    assert "| gate\\_failed / ok | no |" in md  # the gate-failed row, listed and not used


def test_points_tables_list_at_most_the_cap_used_rows_first(
    advisor_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from advisor import analysis

    full = data.load(advisor_build)
    rows = tuple(m for m in full.measurements if m["gpu_name"] == sw.H100 and m["engine"] == "generate")
    part = dataclasses.replace(full, measurements=rows, legacy=())
    points = [p for c in analysis.analyse(part).curves for p in c.points]
    assert any(not p.used for p in points)  # the gate-failed row: it must give way to the used ones
    monkeypatch.setattr(report, "MAX_POINTS_LISTED", 2)
    md = report.write_report(part, tmp_path / "r").markdown
    listed = [line for line in md.splitlines() if re.match(r"\| [^|]+/", line)]  # a model id, not a GPU
    assert len(listed) == 2 and all(" | yes | " in line for line in listed)
    assert f"{len(points) - 2} more ratios are drawn in the figure and not listed here" in md


def test_report_bytes_depend_only_on_the_data(advisor_build: Path, tmp_path: Path) -> None:
    """Two writes of one dataset (one board and engine, one legacy GPU: every kind of figure) are identical."""
    full = data.load(advisor_build)
    part = dataclasses.replace(
        full,
        measurements=tuple(m for m in full.measurements if m["gpu_name"] == sw.RTX4090 and m["engine"] == "generate"),
        legacy=tuple(r for r in full.legacy if r["gpu"] == "NVIDIA A800 80GB"),
    )
    first = report.write_report(part, tmp_path / "first")
    forget_drawn_figures()  # drawn again, not copied from the first write
    again = report.write_report(part, tmp_path / "again")
    assert again.markdown == first.markdown
    images = {p.name: p.read_bytes() for p in first.figures}
    assert {p.name.split("-")[0] for p in first.figures} == {"ratio", "batch", "power", "legacy"}
    assert images == {p.name: p.read_bytes() for p in again.figures}
    assert b"Software" not in b"".join(images.values()) and b"matplotlib" not in b"".join(images.values())


def test_report_replaces_only_its_own_marked_output(advisor_build: Path, tmp_path: Path) -> None:
    full = data.load(advisor_build)
    part = dataclasses.replace(
        full,
        measurements=tuple(m for m in full.measurements if m["gpu_name"] == sw.RTX4090 and m["engine"] == "generate"),
        legacy=(),
    )
    out = tmp_path / "out"
    first = report.write_report(part, out)
    marker = json.loads((out / report.MARKER).read_text(encoding="utf-8"))
    assert sorted(marker["files"]) == sorted(["REPORT.md", *(f"figures/{p.name}" for p in first.figures)])
    (out / "REPORT.md").write_text("my notes")  # edited since: the user's now, refused before any reading
    nothing = data.Dataset("empty", (), {}, ())
    with pytest.raises(report.ReportError, match=r"but REPORT.md no longer holds the bytes eco-advise wrote there"):
        report.write_report(nothing, out)
    assert (out / "REPORT.md").read_text() == "my notes"
    (out / "REPORT.md").unlink()  # deleted: nothing to lose, so the report replaces the folder
    result = report.write_report(nothing, out, include_gate_failed=True)
    assert first.figures and not (out / "figures").exists() and (out / "REPORT.md").read_text() == result.markdown
    assert "No accepted measurement yet: nothing below is an estimate" in result.markdown
    assert result.figures == ()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(report.ReportError, match=r"also holds notes.txt, which eco-advise did not write"):
        report.write_report(nothing, out)
    assert (out / "notes.txt").read_text() == "mine" and (out / "REPORT.md").exists()


@pytest.mark.parametrize("command", ["eco-advise", "eco-dataset"])
def test_a_folder_of_ones_own_report_and_figures_is_refused_before_any_reading(tmp_path: Path, command: str) -> None:
    """A hand-written REPORT.md and figures/*.png carry no marker: the folder is not the tool's to replace,
    and it says so before reading the dataset (here a folder that does not exist)."""
    from dataset_card.cli import main as dataset

    out = tmp_path / "mynotes"
    (out / "figures").mkdir(parents=True)
    (out / "REPORT.md").write_text("# My own hand-written report")
    (out / "figures" / "my-plot.png").write_bytes(PNG + b"mine")
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    args = ["report", "--dataset", str(tmp_path / "no-such-build"), "--out", str(out)]
    line = usage_error(CliRunner().invoke(main if command == "eco-advise" else dataset, args))
    assert line.startswith(f"--out {out} is not empty"), line
    assert "no .eco-report marker" in line and "delete the folder yourself" in line
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mynotes"]


def test_the_report_follows_no_link_and_keeps_what_links_point_to(tmp_path: Path) -> None:
    """The report's folder swap is the build's (ecocompute.folders): a link as --out, or a link where a
    figure should be, is refused, and nothing is left beside the output."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.csv").write_text("keep")
    (tmp_path / "link").symlink_to(precious)
    nothing = data.Dataset("empty", (), {}, ())
    with pytest.raises(report.ReportError, match="symbolic link"):
        report.write_report(nothing, tmp_path / "link")
    out = tmp_path / "out"
    report.write_report(nothing, out)
    (out / "figures").mkdir(exist_ok=True)
    (out / "figures" / "x.png").symlink_to(precious / "data.csv")
    with pytest.raises(report.ReportError, match=re.escape("figures/x.png")):
        report.write_report(nothing, out)
    (out / "figures" / "x.png").unlink()
    (out / "figures").rmdir()  # a folder the marker does not list is not the report's either
    report.write_report(nothing, out)
    assert (precious / "data.csv").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "out", "precious"]


def test_a_failed_report_leaves_the_earlier_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    nothing = data.Dataset("empty", (), {}, ())
    first = report.write_report(nothing, out)

    def broken(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "render", broken)
    with pytest.raises(report.ReportError, match="No space"):  # one line saying where (tidy32b)
        report.write_report(nothing, out)
    assert first.markdown_path.read_text(encoding="utf-8") == first.markdown
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left behind


def test_hostile_text_from_the_data_is_escaped(advisor_build: Path, tmp_path: Path) -> None:
    """A model id with a terminal escape, a table pipe and HTML reaches text, Markdown and figures only
    escaped."""
    from advisor import advise, analysis, render

    evil = "Qwen/\x1b[31mEvil|<b>$x$\u202e"
    full = data.load(advisor_build)
    rows = tuple(
        {**m, "model_id": evil} if m["model_id"] == "Qwen/Qwen2.5-0.5B-Instruct" else m
        for m in full.measurements
        if m["gpu_name"] == sw.RTX4090 and m["engine"] == "generate"
    )
    part = dataclasses.replace(full, measurements=rows, legacy=())
    out = render.render_text(advise.recommend(analysis.analyse(part), advise.Query("RTX 4090", 0.5e9)))
    assert "Evil" in out and "\x1b" not in out and "\u202e" not in out
    md = report.write_report(part, tmp_path / "r").markdown
    assert "\x1b" not in md and "<b>" not in md and "Evil\\|&lt;b&gt;" in md


def test_a_row_id_holding_a_backtick_does_not_end_its_code_span(advisor_build: Path, tmp_path: Path) -> None:
    """Any dataset may be read (--dataset owner/name@rev): an id with a backtick closed the report's code
    span, and the link and HTML after it were live in REPORT.md."""
    evil = "` [x](https://evil.example) <img src=x> |"
    full = data.load(advisor_build)
    rows = [m for m in full.measurements if m["gpu_name"] == sw.RTX4090 and m["engine"] == "generate"]
    renamed = {m["measurement_id"]: f"{evil}{i}" for i, m in enumerate(rows)}
    part = dataclasses.replace(
        full,
        measurements=tuple({**m, "measurement_id": renamed[m["measurement_id"]]} for m in rows),
        windows={renamed[k]: w for k, w in full.windows.items() if k in renamed},
        legacy=(),
    )
    md = report.write_report(part, tmp_path / "r").markdown
    listed = [line for line in md.splitlines() if "evil" in line]
    assert listed and not any(re.search(r"(?<!\\)[]`]\(|(?<!\\)`|<img", line) for line in listed)
    assert all(line.count(" | ") == 8 for line in listed)  # nine cells: no '|' of an id splits one
    # the URL's ":" escaped too: no autolink of the text either (attack v16 V16-5)
    assert "\\` \\[x\\](https\\://evil.example) &lt;img src=x&gt; \\|" in listed[0]
