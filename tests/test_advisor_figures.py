"""The report's ratio figure: every point with its error bar, up to figures.MAX_ERROR_BARS points of
a curve; beyond that (a release of 100,000 rows) markers alone, and the legend says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.collections import LineCollection

from advisor import analysis, data, figures


def _drawn(advisor_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int) -> tuple[list, list]:
    found = analysis.analyse(data.load(advisor_build))
    curve = max(found.curves, key=lambda c: len([p for p in c.points if p.used]))
    saved = []
    monkeypatch.setattr(figures, "MAX_ERROR_BARS", limit)
    monkeypatch.setattr(figures, "_save", lambda fig, path: saved.append(fig) or path)
    figures.ratio_figure([curve], "t", tmp_path / "r.png", confidence=0.95)
    (ax,) = saved[0].axes
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    return bars, ax.get_legend_handles_labels()[1]


def test_few_points_have_error_bars(advisor_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bars, labels = _drawn(advisor_build, tmp_path, monkeypatch, figures.MAX_ERROR_BARS)
    assert bars and not any("intervals not drawn" in label for label in labels)


def test_many_points_are_markers_and_the_legend_says_so(
    advisor_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars, labels = _drawn(advisor_build, tmp_path, monkeypatch, 1)
    assert not bars
    assert any(label.endswith("points, intervals not drawn)") for label in labels), labels


def test_a_large_report_draws_without_looking_up(tmp_path: Path) -> None:
    """Beyond report._DRAWN_MAX_ROWS rows a report draws its figures without spelling their calls for
    the cache of drawn figures (seconds at 100,000 rows): the same bytes, nothing cached."""
    from advisor import report

    series = {
        "generate": [
            figures.BatchPoint(1, 1.0, "fp16", "org/m", True),
            figures.BatchPoint(8, 0.4, "fp16", "org/m", True),
        ]
    }
    report.forget_drawn()
    report._Figures(tmp_path / "direct", "x", look_up=False).draw("b", figures.batch_figure, series, "t")
    assert not report._DRAWN
    report._Figures(tmp_path / "cached", "x").draw("b", figures.batch_figure, series, "t")
    assert len(report._DRAWN) == 1
    assert (tmp_path / "direct" / "b.png").read_bytes() == (tmp_path / "cached" / "b.png").read_bytes()


def test_a_long_name_from_the_data_makes_a_file_name_the_disk_takes(tmp_path: Path) -> None:
    """A dataset's 400-character GPU name made a figure's file name too long to write: the report
    failed as if the disk had."""
    from advisor.figures import stem

    long = "NVIDIA H100 " + "A" * 400
    name = stem("legacy-ratio", long, "e" * 400) + "-99.png"
    assert len(name.encode()) < 200
    (tmp_path / name).write_bytes(b"")  # the file system takes it
    assert stem("ratio", long + "B") != stem("ratio", long + "C")  # cut alike, told apart by the hash
    assert stem("ratio", "NVIDIA H100 80GB HBM3", "cuda-graph") == "ratio-nvidia-h100-80gb-hbm3-cuda-graph"
