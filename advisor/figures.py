"""The report's figures, as PNG files whose bytes depend only on the data: matplotlib's Agg canvas
on a bare Figure (no pyplot state), matplotlib's default style whatever the user's matplotlibrc,
fixed sizes and resolution, no software or date metadata.

Admitted rows are filled markers; rows kept out of the estimates (gate_failed, unless included)
are hollow markers in the same colour, so figures show them beside, never as part of, a fit.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ecocompute import diskerrors, stats
from ecocompute.cli import figure_text

from . import text
from .analysis import Curve, precision_rank

# A part of a figure's file name: a 400-character GPU name from a dataset made the name too long to
# write, a failure the report blamed on the disk. Three parts and a counter stay far below 255 bytes.
STEM_PART_MAX = 60


def stem(*parts: str) -> str:
    """A figure's file name without .png, from ``parts`` (names from the data): lower-case letters,
    digits and dashes; a part longer than STEM_PART_MAX is cut and tagged with a hash of the whole, so
    that two long names cut alike stay apart."""

    def one(part: str) -> str:
        slug = re.sub(r"[^0-9a-z]+", "-", part.lower()).strip("-")
        if len(slug) <= STEM_PART_MAX:
            return slug
        tag = hashlib.sha256(part.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return f"{slug[: STEM_PART_MAX - len(tag) - 1]}-{tag}"

    return "-".join(map(one, parts))


DPI = 100
PANEL_IN = (5.2, 3.9)
MAX_COLUMNS = 3
LEGEND_IN = 2.0
# One colour per precision label, in the catalogue's order (tab10), so a precision keeps its colour
# in every figure; labels outside the catalogue (legacy "int8-pure" is in it) take grey.
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
# A panel is about 400 pixels wide: beyond this many ratios of one curve (used or not), their error
# bars overlap into one block of ink that hides the fitted band, and cost seconds to draw (and an
# interval each); such points are drawn as markers alone, and the legend says so.
MAX_ERROR_BARS = 2_000


class BatchPoint(NamedTuple):
    """A point of a batch figure: energy per sequence (one of the batch's) at a batch size."""

    batch_size: int
    energy_per_sequence_j: float
    precision: str
    model_id: str
    used: bool  # in the estimates: drawn filled, else hollow


class PowerPoint(NamedTuple):
    """A point of the power figure: one measured row's power and throughput."""

    row_id: str
    power_w: float
    throughput_tok_s: float
    precision: str
    engine: str
    batch_size: int
    used: bool


def _label(value: str) -> str:
    """Text from the data for a figure: escaped, and no mathtext ($ starts a formula)."""
    return figure_text(value, limit=80)


def colour(precision: str) -> str:
    rank = precision_rank(precision)
    return _COLOURS[rank] if rank < len(_COLOURS) else "#7f7f7f"


def _grid(panels: int, legend_in: float = 0.0) -> tuple[Figure, list[Axes]]:
    """A figure of ``panels`` panels, MAX_COLUMNS a row, each ``legend_in`` inches wider for a legend."""
    columns = min(MAX_COLUMNS, max(1, panels))
    rows_n = max(1, math.ceil(panels / columns))
    fig = Figure(figsize=((PANEL_IN[0] + legend_in) * columns, PANEL_IN[1] * rows_n + 0.6), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows_n, columns, i + 1) for i in range(panels)]
    return fig, axes


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    # tight_layout leaves a placeholder layout engine, for which savefig lays the figure out once more
    # before drawing it; the layout is done, so drop it (the same bytes, about 10 % less time).
    fig.set_layout_engine(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with diskerrors.writing(path):
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _in_default_style(draw: Any) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context():
            matplotlib.rcdefaults()
            return draw(*args, **kwargs)

    return wrapped


def _log_axes(ax: Axes, x_format: Any = None) -> None:
    """Log axes labelled 1, 2, 5 per decade in plain numbers (not 9 x 10^-1)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, fmt in ((ax.xaxis, x_format), (ax.yaxis, None)):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(fmt or (lambda v, _: f"{v:g}")))
        axis.set_minor_formatter(NullFormatter())


def _key(
    ax: Axes, precisions: Iterable[str], markers: dict[str, str], hollow: bool, sizes: dict[str, float] | None = None
) -> None:
    """A compact legend outside the panel: colour = precision, marker = ``markers``' labels, marker size =
    ``sizes``' labels (in points), hollow = not used in the estimates."""
    handles = [
        Line2D([], [], color=colour(p), marker="o", linestyle="", label=_label(p))
        for p in sorted(set(precisions), key=precision_rank)
    ]
    handles += [
        Line2D([], [], color="black", marker=m, linestyle="", markerfacecolor="black", label=_label(label))
        for label, m in markers.items()
    ]
    handles += [
        Line2D([], [], color="grey", marker="o", linestyle="", markersize=size, label=_label(label))
        for label, size in (sizes or {}).items()
    ]
    if hollow:
        handles.append(
            Line2D([], [], color="black", marker="o", linestyle="", markerfacecolor="white", label="hollow: not used")
        )
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _legend(ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="best")


@_in_default_style
def ratio_figure(curves: Sequence[Curve], title: str, path: Path, confidence: float) -> Path:
    """Energy per token over fp16 against parameters, one panel per batch size (and workload), the
    fitted line with its confidence band over the measured sizes, the crossover and its interval."""
    panels: dict[tuple[int, int, str], list[Curve]] = defaultdict(list)
    for c in curves:
        panels[(c.batch_size, c.output_tokens, c.basis)].append(c)
    fig, axes = _grid(len(panels))
    fig.suptitle(_label(title), fontsize=11)
    for ax, key in zip(axes, sorted(panels), strict=True):
        batch, tokens, basis = key
        xs = [p.parameter_count for c in panels[key] for p in c.points]
        for c in sorted(panels[key], key=lambda c: precision_rank(c.precision)):
            _ratio_curve(ax, c, confidence, (min(xs), max(xs)))
        ax.axhline(1.0, color="black", linewidth=0.8)
        _log_axes(ax, lambda v, _: text.params(v))
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 7.0, 8.0)))
        ax.set_xlabel("parameters")
        ax.set_ylabel("energy per token / fp16")
        ax.set_title(_label(f"batch {batch}, {tokens} output tokens, {basis} energy"), fontsize=9)
        _legend(ax)
    return _save(fig, path)


def _ratio_curve(ax: Axes, c: Curve, confidence: float, span: tuple[float, float]) -> None:
    col = colour(c.precision)
    for used in (True, False):
        pts = [p for p in c.points if p.used is used]
        if not pts:
            continue
        ys = [p.ratio.value for p in pts]
        label = _label(
            c.precision if used else f"{c.precision}: not used ({', '.join(sorted({p.status for p in pts}))})"
        )
        if len(pts) > MAX_ERROR_BARS:
            ax.plot(
                [p.parameter_count for p in pts],
                ys,
                linestyle="",
                marker="o",
                color=col,
                markerfacecolor=col if used else "white",
                label=f"{label} ({len(pts)} points, intervals not drawn)",
            )
            continue
        bounds = [p.ratio.interval(confidence) or (p.ratio.value, p.ratio.value) for p in pts]
        err = [[y - b[0] for y, b in zip(ys, bounds, strict=True)], [b[1] - y for y, b in zip(ys, bounds, strict=True)]]
        ax.errorbar(
            [p.parameter_count for p in pts],
            ys,
            yerr=err,
            fmt="o",
            color=col,
            markerfacecolor=col if used else "white",
            capsize=2,
            label=label,
        )
    line = c.line
    if line is None:
        return
    lo, hi = line.log10_range
    grid = [lo + (hi - lo) * i / 40 for i in range(41)]
    t = stats.t_ppf(0.5 + confidence / 2, line.dof)
    fits = [line.at(x) for x in grid]
    xs = [10**x for x in grid]
    ax.plot(xs, [f.value for f in fits], color=col, linewidth=1.2)
    ax.fill_between(
        xs,
        [math.exp(f.log - t * (f.se or 0)) for f in fits],
        [math.exp(f.log + t * (f.se or 0)) for f in fits],
        color=col,
        alpha=0.15,
        linewidth=0,
    )
    cross = c.crossover
    if cross.kind == "crossover" and cross.params is not None:
        ax.axvline(
            cross.params,
            color=col,
            linestyle="--",
            linewidth=1.0,
            label=_label(f"{c.precision} crossover {text.params(cross.params)}"),
        )
        ax.axvspan(max(cross.low or span[0], span[0]), min(cross.high or span[1], span[1]), color=col, alpha=0.08)


@_in_default_style
def batch_figure(series: dict[str, list[BatchPoint]], title: str, path: Path) -> Path:
    """Energy per sequence (one of the batch's) against batch size, one panel per engine."""
    fig, axes = _grid(len(series), LEGEND_IN)
    fig.suptitle(_label(title), fontsize=11)
    models = sorted({p.model_id for points in series.values() for p in points})
    for ax, engine in zip(axes, sorted(series), strict=True):
        lines: dict[tuple[str, str, bool], list[BatchPoint]] = defaultdict(list)
        for p in series[engine]:
            lines[(p.model_id, p.precision, p.used)].append(p)
        for (model, precision, used), points in sorted(
            lines.items(), key=lambda kv: (kv[0][0], precision_rank(kv[0][1]), kv[0][2])
        ):
            points.sort(key=lambda p: p.batch_size)
            col = colour(precision)
            ax.plot(
                [p.batch_size for p in points],
                [p.energy_per_sequence_j for p in points],
                marker=_MARKERS[models.index(model) % len(_MARKERS)],
                color=col,
                markerfacecolor=col if used else "white",
                linestyle="-" if used else ":",
            )
        _log_axes(ax)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("batch size")
        ax.set_ylabel("J per sequence")
        ax.set_title(_label(f"engine {engine}"), fontsize=9)
        _key(
            ax,
            (p.precision for p in series[engine]),
            {
                m.split("/")[-1]: _MARKERS[models.index(m) % len(_MARKERS)]
                for m in sorted({p.model_id for p in series[engine]})
            },
            any(not p.used for p in series[engine]),
        )
    return _save(fig, path)


@_in_default_style
def power_figure(points: list[PowerPoint], title: str, path: Path) -> Path:
    """Throughput against power, with lines of equal energy per token (J/token = W / tok/s)."""
    fig, axes = _grid(1, LEGEND_IN)
    ax = axes[0]
    fig.suptitle(_label(title), fontsize=11)
    engines = sorted({p.engine for p in points})
    # One marker line per precision, engine, use and batch size (the marker's size): Agg stamps one
    # rendered marker at every point of a line, where a scatter of per-point sizes draws each path
    # (1.2 s for 100,000 points, 0.1 s so). A call per point would rescale the axes at every one.
    groups: dict[tuple[str, str, bool, int], list[PowerPoint]] = defaultdict(list)
    for p in sorted(points, key=lambda p: p.row_id):
        groups[(p.precision, p.engine, p.used, p.batch_size)].append(p)
    for (precision, engine, used, batch), group in sorted(
        groups.items(), key=lambda kv: (kv[0][3], precision_rank(kv[0][0]), kv[0])
    ):
        col = colour(precision)
        # Arrays, not lists: matplotlib makes a masked array of a list element by element.
        ax.plot(
            np.array([p.power_w for p in group], dtype=float),
            np.array([p.throughput_tok_s for p in group], dtype=float),
            linestyle="",
            color=col,
            markerfacecolor=col if used else "white",
            marker=_MARKERS[engines.index(engine) % len(_MARKERS)],
            markersize=_batch_marker_size(batch),
        )
    power_w = [p.power_w for p in points]
    throughput_tok_s = [p.throughput_tok_s for p in points]
    lo_w, hi_w = 0.8 * min(power_w), 1.25 * max(power_w)
    for decade in range(
        math.floor(math.log10(min(power_w) / max(throughput_tok_s))) - 1,
        math.ceil(math.log10(max(power_w) / min(throughput_tok_s))) + 2,
    ):
        per_token_j = 10.0**decade
        ax.plot([lo_w, hi_w], [lo_w / per_token_j, hi_w / per_token_j], color="grey", linewidth=0.6, linestyle="--")
        ax.annotate(
            f"{per_token_j:g} J/token", (hi_w, hi_w / per_token_j), fontsize=7, color="grey", ha="right", va="bottom"
        )
    ax.set_xlim(lo_w, hi_w)
    ax.set_ylim(0.7 * min(throughput_tok_s), 1.4 * max(throughput_tok_s))
    _log_axes(ax)
    ax.set_xlabel("power (W)")
    ax.set_ylabel("throughput (tok/s)")
    _key(
        ax,
        (p.precision for p in points),
        {f"engine {e}": _MARKERS[i % len(_MARKERS)] for i, e in enumerate(engines)},
        any(not p.used for p in points),
        # the marker's size is the batch size: the legend said nothing of it
        {f"batch {b}": _batch_marker_size(b) for b in sorted({p.batch_size for p in points})},
    )
    return _save(fig, path)


def _batch_marker_size(batch: int) -> float:
    """A power figure's marker size for a batch size, in points (a scatter's s is its square)."""
    return math.sqrt(14 + 6 * math.log2(batch))
