"""The card's figures, drawn from the collected results with matplotlib's Agg renderer into PNG files
whose bytes depend only on the data (fixed size and dpi, default style, no software or time tag)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecocompute import catalogue, diskerrors
from ecocompute.cli import figure_text
from ecocompute.names import M

from .results import Line, Setting

FOLDER = "figures"
MAX_SETTINGS = 8  # panel rows: each GPU's settings with the most rows, the GPUs taking turns
DPI = 100
AXES_IN = (3.5, 2.2)  # width, height of one panel's axes, inches
GAP_IN = (0.75, 0.95)  # between panels: room for y labels, and for x labels plus a two-line title
MARGIN_IN = (0.75, 0.3, 0.5, 0.8)  # left, right, bottom, top (the figure title and a panel title)


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the build folder
    title: str
    settings: tuple[Setting, ...]  # the settings drawn, top to bottom
    panel: Callable[[Any, list[Line]], None]  # draws one engine of one setting


def drawable(settings: Sequence[Setting]) -> list[Setting]:
    """The settings with figures (a setting whose rows were all skipped has nothing to draw)."""
    return [s for s in settings if any(_has(line, M.energy_per_1k_tokens_j) for line in s.lines)]


def shown(settings: Sequence[Setting]) -> tuple[Setting, ...]:
    """The settings that get a panel row, at most MAX_SETTINGS: the GPUs take turns, each giving its
    setting with the most rows not yet drawn (ties by name), so that every GPU is drawn; the H100's
    ten architectures once filled all eight rows and left the H200 out. Grouped by GPU, the GPU with
    the largest setting first."""
    ranked = sorted(drawable(settings), key=lambda s: (-s.rows, s.gpu_name, s.model_id, s.weights))
    queues: dict[str, list[Setting]] = {}
    for s in ranked:
        queues.setdefault(s.gpu_name, []).append(s)
    picked: list[Setting] = []
    while len(picked) < MAX_SETTINGS and any(queues.values()):
        for queue in queues.values():
            if queue and len(picked) < MAX_SETTINGS:
                picked.append(queue.pop(0))
    gpus = list(queues)
    return tuple(sorted(picked, key=lambda s: (gpus.index(s.gpu_name), ranked.index(s))))


def _has(line: Line, column: str) -> bool:
    return line.median.get(column) is not None


def _engines(settings: Sequence[Setting]) -> list[str]:
    present = {line.engine for s in settings for line in s.lines}
    return [e for e in catalogue.ENGINES if e in present] + sorted(present - set(catalogue.ENGINES))


def _precisions(lines: Sequence[Line]) -> list[str]:
    present = {line.precision for line in lines}
    return [p for p in catalogue.PRECISIONS if p in present] + sorted(present - set(catalogue.PRECISIONS))


def _color(precision: str) -> str:
    """One colour per precision in every panel (the catalogue's order), not per panel's position."""
    order = list(catalogue.PRECISIONS)
    return f"C{(order.index(precision) if precision in order else len(order)) % 10}"


def _plot_series(ax: Any, xs: list[float], lines: list[Line], column: str, label: str, color: str) -> None:
    ys = [line.median[column] for line in lines]
    ax.plot(xs, ys, color=color, linewidth=1.2, label=label)
    ok = [(x, y) for x, y, line in zip(xs, ys, lines, strict=True) if line.figures_ok]
    failed = [(x, y) for x, y, line in zip(xs, ys, lines, strict=True) if not line.figures_ok]
    for points, face in ((ok, color), (failed, "white")):
        if points:
            ax.plot(*zip(*points, strict=True), "o", color=color, markerfacecolor=face, markersize=5)


def _per_token(ax: Any, lines: list[Line]) -> None:
    """x: precision; one series per batch size."""
    order = _precisions(lines)
    for i, batch in enumerate(sorted({line.batch_size for line in lines})):
        series = sorted((x for x in lines if x.batch_size == batch), key=lambda x: order.index(x.precision))
        series = [x for x in series if _has(x, M.energy_per_1k_tokens_j)]
        if series:
            xs = [float(order.index(x.precision)) for x in series]
            _plot_series(ax, xs, series, M.energy_per_1k_tokens_j, f"batch {batch}", f"C{i % 10}")
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel("J per 1k tokens (gross)")


def _per_request(ax: Any, lines: list[Line]) -> None:
    """x: batch size (log 2); one series per precision."""
    for precision in _precisions(lines):
        series = sorted((x for x in lines if x.precision == precision), key=lambda x: x.batch_size)
        series = [x for x in series if _has(x, M.energy_per_request_j)]
        if series:
            _plot_series(
                ax, [float(x.batch_size) for x in series], series, M.energy_per_request_j, precision, _color(precision)
            )
    ax.set_xscale("log", base=2)
    batches = sorted({x.batch_size for x in lines})
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.minorticks_off()
    ax.set_xlabel("batch size")
    ax.set_ylabel("J per generate() call (gross)")


def _draw(path: Path, title: str, settings: Sequence[Setting], panel: Callable[[Any, list[Line]], None]) -> None:
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    engines = _engines(settings)
    rows, cols = len(settings), len(engines)
    # Fixed sizes in inches (tight_layout would render every text twice more to measure it).
    (axes_w, axes_h), (gap_w, gap_h), (left, right, bottom, top) = AXES_IN, GAP_IN, MARGIN_IN
    width = left + cols * axes_w + (cols - 1) * gap_w + right
    height = top + rows * axes_h + (rows - 1) * gap_h + bottom
    with matplotlib.style.context("default"):  # the built-in style, not the machine's matplotlibrc
        fig = MplFigure(figsize=(width, height), dpi=DPI)
        FigureCanvasAgg(fig)
        fig.subplots_adjust(
            left=left / width,
            right=1 - right / width,
            bottom=bottom / height,
            top=1 - top / height,
            wspace=gap_w / axes_w,
            hspace=gap_h / axes_h,
        )
        axes = fig.subplots(rows, cols, squeeze=False)
        for row, setting in enumerate(settings):
            for col, engine in enumerate(engines):
                ax = axes[row][col]
                lines = [x for x in setting.lines if x.engine == engine]
                gpu, model, weights = (figure_text(v) for v in (setting.gpu_name, setting.model_id, setting.weights))
                ax.set_title(f"{gpu}\n{model} ({weights}) · {figure_text(engine)}", fontsize=8)
                if not lines:
                    ax.set_axis_off()
                    continue
                panel(ax, lines)
                ax.set_yscale("log")
                ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
                ax.tick_params(which="both", labelsize=7)
                ax.xaxis.label.set_size(8)
                ax.yaxis.label.set_size(8)
                ax.legend(fontsize=7, loc="best")
        fig.suptitle(title, fontsize=10, y=1 - 0.12 / height, va="top")
        path.parent.mkdir(parents=True, exist_ok=True)
        with diskerrors.writing(path):
            fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def plan(settings: Sequence[Setting]) -> list[Figure]:
    """The figures a build has: none until some row has figures."""
    drawn = shown(settings)
    if not drawn:
        return []
    return [
        Figure(f"{FOLDER}/energy_per_token_by_precision.png", "Energy per 1k tokens by precision", drawn, _per_token),
        Figure(
            f"{FOLDER}/energy_per_request_by_batch_size.png", "Energy per request by batch size", drawn, _per_request
        ),
    ]


def draw(figures: Sequence[Figure], out_dir: Path) -> None:
    for figure in figures:
        _draw(out_dir / figure.path, figure.title, figure.settings, figure.panel)
