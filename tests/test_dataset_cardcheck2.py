"""What the dataset card shows of the H100/H200 build of 408 rows holds for the data and says what a
reader needs (the second card check, notes/cardcheck2)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dataset_card import figures
from dataset_card.card import results_section
from dataset_card.results import FIGURES, Results, Setting, _line


def _row(precision: str, batch: int, energy: float | None, i: int, status: str = "ok") -> dict[str, Any]:
    row: dict[str, Any] = {c: energy for c, _ in FIGURES}
    row |= {"measurement_id": f"{i:064x}", "status": status, "gate_failed": "", "precision": precision}
    return row | {"engine": "cuda-graph", "batch_size": batch}


def _setting(gpu: str, model: str, rows: int, start: int = 0) -> Setting:
    lines = tuple(_line(("cuda-graph", 1, p), [_row(p, 1, 100.0, start + i)]) for i, p in enumerate(["fp16"] * rows))
    return Setting(gpu, model, "random_init", lines)


def test_the_overview_figures_draw_every_gpu() -> None:
    """The H100's ten architectures, each with more rows than any H200 one, filled all eight panel rows:
    the card's overview figures showed no H200 row at all."""
    h100 = [_setting("NVIDIA H100 80GB HBM3", f"org/model-{i}", 20 + i, 100 * i) for i in range(10)]
    h200 = [_setting("NVIDIA H200", f"org/model-{i}", 10 + i, 5000 + 100 * i) for i in range(10)]
    drawn = figures.shown([*h100, *h200])
    assert len(drawn) == figures.MAX_SETTINGS
    assert {s.gpu_name for s in drawn} == {"NVIDIA H100 80GB HBM3", "NVIDIA H200"}
    # each GPU's largest settings, grouped by GPU (the one with the largest setting first)
    assert [s.model_id for s in drawn] == [f"org/model-{i}" for i in (9, 8, 7, 6, 9, 8, 7, 6)]
    assert [s.gpu_name for s in drawn][:4] == ["NVIDIA H100 80GB HBM3"] * 4
    text = results_section(Results(tuple(h100 + h200), 0, 0), figures.plan([*h100, *h200]))
    assert "draw 8 of the 20 GPU/model settings" in text
    one_gpu = figures.shown(h100[:3])  # fewer settings than rows: all of them, no note
    assert [s.model_id for s in one_gpu] == ["org/model-2", "org/model-1", "org/model-0"]
    assert "GPU/model settings with figures" not in results_section(
        Results(tuple(h100[:3]), 0, 0), figures.plan(h100[:3])
    )


def test_the_results_say_the_ratio_is_gross_per_board_and_what_a_dash_means() -> None:
    """The H100 Qwen2.5-14B fp4 line at batch 8 reads `—` beside an fp16 line of two ok rows: that fp16
    row was skipped on fp4's board, and the ratio pairs boards. And net figures read the other way
    (Qwen2.5-0.5B int8-pure on the H100: 1.25x gross, 170 / 180 J net): the card named neither."""
    line = _line(("cuda-graph", 8, "fp4"), [_row("fp4", 8, 100.0, 1)])
    settings = (Setting("NVIDIA H100 80GB HBM3", "org/model", "random_init", (line,)),)
    text = " ".join(results_section(Results(settings, 0, 0), []).split())
    assert "energy vs fp16 (gross)" in text
    assert "measured on the same GPU board" in text
    assert "`—` there means that board measured no fp16 row" in text
    assert "a ratio of the net figures can fall on the other side of 1" in text


def _curve(used: list[bool], se: float | None = 0.01) -> Any:
    from advisor.analysis import VALIDATED, Curve, Point
    from advisor.estimate import Crossover, LogEstimate

    points = tuple(
        Point(
            f"{i:064x}",
            f"{99:064x}",
            VALIDATED,
            "NVIDIA H100 80GB HBM3",
            f"org/m{i}",
            "random_init",
            1e9 * (i + 1),
            "int8",
            "generate",
            1,
            128,
            "gross",
            "ok" if u else "gate_failed",
            "ok" if u else "gate_failed",
            LogEstimate(1.0, se, 4.0 if se else None),
            u,
        )
        for i, u in enumerate(used)
    )
    return Curve(
        VALIDATED,
        "NVIDIA H100 80GB HBM3",
        "generate",
        1,
        128,
        "gross",
        "int8",
        points,
        None,
        Crossover("too_few_points"),
    )


def test_a_crossover_with_no_ratio_used_says_so_not_that_no_spread_is_known() -> None:
    """20 lines of the card's crossover table (every `generate` and `generate-static` one) read "0 with a
    known spread at 0 size(s)" over ratios with intervals: their rows failed their gates."""
    from advisor import text

    said = text.crossover(_curve([False] * 10))
    assert "known spread" not in said and "none of its 10 ratio(s) is used" in said
    assert "1 with a known spread at 1 size(s)" in text.crossover(_curve([True, False]))
    assert "0 with a known spread" in text.crossover(_curve([True], se=None))  # a legacy aggregate: no spread


def test_the_power_figure_keys_its_marker_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The throughput-vs-power figure draws batch size as the marker's size; its legend named precision,
    engine and hollow markers only, so the three sizes of markers went unexplained."""
    from advisor import figures as report_figures

    points = [
        report_figures.PowerPoint(f"{i:064x}", 200.0 + 50 * i, 100.0 * 2**i, p, "cuda-graph", b, used=True)
        for i, (p, b) in enumerate([("fp16", 1), ("nf4", 8), ("fp16", 32)])
    ]
    saved: list[Any] = []
    monkeypatch.setattr(report_figures, "_save", lambda fig, path: saved.append(fig) or path)
    report_figures.power_figure(points, "t", tmp_path / "p.png")
    legend = saved[0].axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert {"batch 1", "batch 8", "batch 32"} <= set(labels), labels
    sizes = {t.get_text(): h.get_markersize() for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    assert sizes["batch 1"] < sizes["batch 8"] < sizes["batch 32"]


def test_the_random_weights_caveat_is_at_the_results_and_names_every_precision() -> None:
    """All 408 rows ran random weights; the results said so only as `(random_init)` in table titles, and
    Known limitations named fp16/bf16, nf4 and int8 with threshold 0.0, not the 30 fp4 and 16 nf4-dq rows."""
    from conftest import ROOT

    settings = (_setting("NVIDIA H200", "org/model", 3),)
    text = " ".join(results_section(Results(settings, 0, 0), []).split())
    assert "All 3 rows in these tables ran random-initialised weights" in text
    pretrained = (Setting("NVIDIA H200", "org/other", "pretrained", settings[0].lines),)
    text = " ".join(results_section(Results(settings + pretrained, 0, 0), []).split())
    assert "3 of the 6 rows in these tables ran random-initialised weights" in text
    assert "random-initialised" not in results_section(Results(pretrained, 0, 0), [])
    template = " ".join((ROOT / "dataset_card" / "templates" / "README.md.tmpl").read_text(encoding="utf-8").split())
    limitation = template.split("## Known limitations", 1)[1].split(" - `gate_failed`", 1)[0]
    for precision in ("fp16", "bf16", "int8-pure", "nf4", "nf4-dq", "fp4"):
        assert re.search(rf"[ (]{re.escape(precision)}[,):]", limitation), precision
    assert "nf4 / nf4-dq / fp4" in template.split("## Load it", 1)[0]
