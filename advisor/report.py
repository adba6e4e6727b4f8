"""The report: figures and a Markdown summary of what a built dataset says, for people and for the
dataset card (``write_report`` returns the Markdown and the figures' paths for it to embed).

The output folder holds REPORT.md, figures/*.png and the ``MARKER`` listing them with their sizes and
sha256 (as a dataset build is marked: ``ecocompute.marked``); the report replaces only such a folder
holding nothing else and no file edited since, and refuses any other folder that is not empty (before
reading the dataset), so it never deletes what it did not write.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecocompute import catalogue, diskerrors, folders, marked
from ecocompute.cli import printable
from ecocompute.markdown import cell
from ecocompute.names import L, M

from . import data, figures, text
from .analysis import Analysis, Curve, analyse, per_model
from .estimate import CONFIDENCE

MARKDOWN_NAME = "REPORT.md"
FIGURES_DIR = "figures"
MAX_POINTS_LISTED = 50  # rows of a points table; the figure draws every one
REPORT = marked.REPORT
MARKER = REPORT.name


ReportError = folders.FolderError  # the report cannot be written where asked


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    markdown_path: Path
    markdown: str  # links to figures are relative to out_dir (figures/NAME.png)
    figures: tuple[Path, ...]
    warnings: tuple[str, ...]  # for the command to show before ``line``: the report is in place all the same

    @property
    def line(self) -> str:
        """What a command says when it has written the report."""
        return printable(f"wrote {self.markdown_path} and {len(self.figures)} figure(s)")


def write_report(
    dataset: str | Path | data.Dataset,
    out_dir: Path,
    *,
    include_gate_failed: bool = False,
    confidence: float = CONFIDENCE,
) -> ReportResult:
    given, out_dir = out_dir, folders.target(out_dir)
    _outside_dataset(out_dir, given, dataset)
    folders.creatable(out_dir, given)  # refused before the dataset is read and analysed
    _check_replaceable(out_dir)
    loaded = dataset if isinstance(dataset, data.Dataset) else data.load(dataset)
    found = analyse(loaded, include_gate_failed=include_gate_failed, confidence=confidence)
    with REPORT.replacing(out_dir, _check_replaceable) as swap:
        names, markdown = render(found, swap.staging / FIGURES_DIR)
        with diskerrors.writing(swap.staging / MARKDOWN_NAME):
            (swap.staging / MARKDOWN_NAME).write_text(markdown, encoding="utf-8")
    drawn = tuple(out_dir / FIGURES_DIR / n for n in names)
    return ReportResult(out_dir, out_dir / MARKDOWN_NAME, markdown, drawn, tuple(swap.warnings))


def _outside_dataset(out_dir: Path, given: Path, dataset: str | Path | data.Dataset) -> None:
    """Refuse an ``out_dir`` inside the local dataset folder it reports on: written there, the report
    became files the build did not write, and the next build of that folder refused to replace it (the
    folder itself is refused by ``REPORT.check``: not a report)."""
    if isinstance(dataset, data.Dataset) or not Path(dataset).is_dir():
        return
    folder, inside = Path(dataset).resolve(), out_dir.resolve()
    if folder in inside.parents:
        raise folders.OutError(
            f"--out {printable(str(given))} lies inside the dataset folder {printable(str(dataset))}; nothing "
            "written: write the report into a folder of its own (e.g. build/report)"
        )


def _unmarked(out_dir: Path) -> str:
    """A folder with a REPORT.md but no marker may be a report written before reports were marked, or
    someone's own notes: nothing tells them apart safely, so the user decides."""
    if not (out_dir / MARKDOWN_NAME).exists():
        return ""
    return (
        f" (its {MARKDOWN_NAME} may be a report written before reports were marked, or your own: "
        "if it is an old report you no longer need, delete the folder yourself and run again)"
    )


def _check_replaceable(out_dir: Path) -> None:
    REPORT.check(out_dir, _unmarked)


def _md(value: Any) -> str:
    """A value from the data, safe inside a Markdown table cell and as HTML, at most 200 characters."""
    return cell(value, limit=200)


def _code(value: Any) -> str:
    """A value from the data as a code span, or as escaped text (``_md``) where it holds what ends a
    code span or a table cell (a backtick, '|', a backslash): the data may be any dataset's, and an
    id holding a backtick closed the span and let its links and HTML through."""
    shown = printable(str(value), limit=200)
    return f"`{shown}`" if shown and not re.search(r"[`|\\]", shown) else _md(shown)


# A figure's bytes are a function of what it draws (figures.py), and the repr of a drawing call spells
# all of that (frozen dataclasses, dicts and lists of numbers and strings; floats repr exactly), so a
# figure drawn once in a process is copied when asked for again. Every dataset build draws the legacy
# figures, which change only with legacy/, and the tests build dozens of times.
_DRAWN: OrderedDict[str, bytes] = OrderedDict()
_DRAWN_MAX = 64  # a few MB of PNGs
# A report of more rows does not look its figures up: spelling the calls (the repr of 50,000 ratios
# and 100,000 points) costs 0.7 s at 100,000 rows, and a build of that size runs once in its process.
_DRAWN_MAX_ROWS = 20_000


def forget_drawn() -> None:
    """Draw every figure anew from here on (tests comparing two draws; benchmarks timing one build)."""
    _DRAWN.clear()


class _Figures:
    """Names figures uniquely and deterministically while they are drawn; links are ``links``/NAME.png."""

    def __init__(self, folder: Path, links: str, *, look_up: bool = True) -> None:
        self.folder = folder
        self.links = links
        self.look_up = look_up  # copy a figure drawn before from _DRAWN (and keep what is drawn there)
        self.names: list[str] = []

    def draw(self, name: str, figure: Callable[..., Path], *args: Any, **kwargs: Any) -> str:
        """``figure(*args, path=<folder>/NAME.png, **kwargs)``; ``figure`` is one of figures.py's."""
        base, n = name, 2
        while f"{name}.png" in self.names:
            name, n = f"{base}-{n}", n + 1
        self.names.append(f"{name}.png")
        path = self.folder / f"{name}.png"
        if not self.look_up:
            figure(*args, path=path, **kwargs)
            return f"{self.links}/{name}.png"
        call = f"{figure.__module__}.{figure.__qualname__}{args!r}{sorted(kwargs.items())!r}"
        key = hashlib.sha256(call.encode("utf-8", "surrogatepass")).hexdigest()
        if key in _DRAWN:
            _DRAWN.move_to_end(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            with diskerrors.writing(path):
                path.write_bytes(_DRAWN[key])
        else:
            figure(*args, path=path, **kwargs)
            _DRAWN[key] = path.read_bytes()
            if len(_DRAWN) > _DRAWN_MAX:
                _DRAWN.popitem(last=False)
        return f"{self.links}/{name}.png"


def render(a: Analysis, folder: Path, *, links: str = FIGURES_DIR, depth: int = 0) -> tuple[list[str], str]:
    """Draw the figures into ``folder`` and return their file names and the Markdown, whose figure
    links are ``links``/NAME.png and whose headings sit ``depth`` levels down (the dataset card embeds
    it under its own title)."""
    figs = _Figures(folder, links, look_up=len(a.measurements) <= _DRAWN_MAX_ROWS)
    out = _preamble(a)
    out += [f"Method: {text.METHOD}", ""]
    out += _crossover_table("Crossovers", a.curves, a.confidence)
    for gpu in sorted({c.gpu_name for c in a.curves} | {m[M.gpu_name] for m in a.measurements}):
        out += [f"## {_md(gpu)}", ""]
        curves = [c for c in a.curves if c.gpu_name == gpu]
        for engine in sorted({c.engine for c in curves}):
            chosen = [c for c in curves if c.engine == engine]
            title = f"{gpu}, engine {engine}"
            link = figs.draw(
                figures.stem("ratio", gpu, engine), figures.ratio_figure, chosen, title, confidence=a.confidence
            )
            out += [
                f"### Engine {_md(engine)}",
                "",
                f"![energy per token over fp16, {_md(gpu)}, {_md(engine)}]({link})",
                "",
            ]
            out += _points_table(chosen, a.confidence)
        series = _batch_series(a, gpu)
        if series:
            link = figs.draw(figures.stem("batch", gpu), figures.batch_figure, series, f"{gpu}: energy per sequence")
            out += ["### Energy per sequence vs batch size", "", f"![energy per sequence, {_md(gpu)}]({link})", ""]
            out += [_SEQUENCE_NOTE, ""]
        points = _power_points(a, gpu)
        if points:
            link = figs.draw(figures.stem("power", gpu), figures.power_figure, points, f"{gpu}: throughput vs power")
            out += ["### Throughput vs power", "", f"![throughput vs power, {_md(gpu)}]({link})", ""]
    out += _legacy(a, figs)
    # Only headings start a line with '#': table rows start with '|', and data never starts a line.
    shifted = ("#" * depth + line if line.startswith("#") else line for line in out)
    return figs.names, "\n".join(shifted).rstrip() + "\n"


def _preamble(a: Analysis) -> list[str]:
    """The title, what the rows are, and plainly whether anything below is an estimate."""
    admitted = " or ".join(a.statuses)
    out = [
        "# Energy per token against fp16: crossovers, batch size and power",
        "",
        f"Dataset: {_code(a.source)}. Rows: "
        + ", ".join(f"{n} {s}" for s, n in a.counts.items())
        + f". Estimates use rows with status {admitted} ({a.admitted} row{'' if a.admitted == 1 else 's'}); a ratio "
        "needs its fp16 row admitted too. Rows kept out are drawn hollow and listed, never fitted.",
        "",
    ]
    if not a.measurements:
        return [*out, "**No accepted measurement yet: nothing below is an estimate.**", ""]
    if a.admitted == 0:
        widen = (
            ""
            if catalogue.STATUS_GATE_FAILED in a.statuses
            else "; `eco-advise report --include-gate-failed` (or `eco-dataset report --include-gate-failed`) "
            "estimates from gate-failed rows, labelled"
        )
        return [
            *out,
            f"**No row has status {admitted}: nothing below is an estimate.** The rows that exist are shown for "
            f"inspection only{widen}.",
            "",
        ]
    if a.curves and not any(c.used for c in a.curves):
        return [
            *out,
            f"**No ratio to fp16 has both its rows with status {admitted}: no ratio or crossover below is an "
            "estimate.**",
            "",
        ]
    return out


# eco-advise's answer says "per sequence" too; "request" is the dataset's word for the whole batch's decoding
_SEQUENCE_NOTE = (
    "A sequence is one of the batch's, of the row's output tokens (energy per token x output tokens); a request, "
    "the dataset's `energy_per_request_j`, is one generate() call over the whole batch: batch size x this."
)


def _crossover_table(title: str, curves: Iterable[Curve], confidence: float) -> list[str]:
    rows = [
        f"| {_md(c.gpu_name)} | {_md(c.engine)} | {c.batch_size} | {c.output_tokens} | {_md(c.basis)} | {_md(c.precision)} "
        f"| {len(c.used)} of {len(c.points)} ({len(per_model(c.points))}) | {_md(text.crossover(c, confidence))} |"
        for c in curves
    ]
    if not rows:
        return [f"## {title}", "", "No ratio to fp16 can be formed: no precision was measured beside an fp16 row.", ""]
    return [
        f"## {title}",
        "",
        "| GPU | engine | batch | output tokens | energy | precision | rows used (models) | result |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _points_table(curves: Iterable[Curve], confidence: float) -> list[str]:
    """The rows behind a figure, at most MAX_POINTS_LISTED of them (those used in the estimates first):
    a card of 100,000 rows must stay readable, and the dataset has every ratio (energy_vs_fp16)."""
    points = [p for c in curves for p in c.points]
    listed = set(sorted(range(len(points)), key=lambda i: not points[i].used)[:MAX_POINTS_LISTED])
    rows = [
        f"| {_md(p.model_id)} | {text.params(p.parameter_count)} | {_md(p.precision)} | {p.batch_size} "
        f"| {text.with_interval(p.ratio, confidence)} | {_md(text.verdict(p.ratio, confidence))} "
        f"| {_md(p.status)} / {_md(p.reference_status)} | {'yes' if p.used else 'no'} "
        f"| {_code(text.short_id(p.row_id))} / {_code(text.short_id(p.reference_id))} |"
        for i, p in enumerate(points)
        if i in listed
    ]
    out = [
        f"| model | parameters | precision | batch | energy / fp16 [{text.pct(confidence)}] | reading | status (row / fp16) "
        "| used | row / fp16 row |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    if len(points) > len(rows):
        out += [
            f"{len(points) - len(rows)} more ratios are drawn in the figure and not listed here (rows used in the "
            "estimates are listed first); the dataset's `energy_vs_fp16` column has every one.",
            "",
        ]
    return out


def _batch_series(a: Analysis, gpu: str) -> dict[str, list[figures.BatchPoint]]:
    series: dict[str, list[figures.BatchPoint]] = defaultdict(list)
    for c in a.configs:
        if c.gpu_name == gpu:
            series[c.engine].append(
                figures.BatchPoint(
                    batch_size=c.batch_size,
                    energy_per_sequence_j=c.energy_per_sequence_j,
                    precision=c.precision,
                    model_id=c.model_id,
                    used=True,
                )
            )
    for m in a.measurements:
        if m[M.gpu_name] == gpu and m[M.energy_per_token_j] is not None and m[M.status] not in a.statuses:
            series[m[M.engine]].append(
                figures.BatchPoint(
                    batch_size=m[M.batch_size],
                    energy_per_sequence_j=m[M.energy_per_token_j] * m[M.output_tokens],
                    precision=m[M.precision],
                    model_id=m[M.model_id],
                    used=False,
                )
            )
    return dict(series)


def _power_points(a: Analysis, gpu: str) -> list[figures.PowerPoint]:
    return [  # one per row: by position, twice as cheap as by keyword (a dict display's cost)
        figures.PowerPoint(
            m[M.measurement_id],
            m[M.power_w],
            m[M.throughput_tok_s],
            m[M.precision],
            m[M.engine],
            m[M.batch_size],
            m[M.status] in a.statuses,  # used
        )
        for m in a.measurements
        if m[M.gpu_name] == gpu and m[M.energy_per_token_j] is not None
    ]


def _legacy(a: Analysis, figs: _Figures) -> list[str]:
    if not a.legacy_rows:
        return []
    out = [
        "## Legacy data (not validated: shown beside, never pooled)",
        "",
        "The `legacy` config holds the numbers of the research this dataset started from; they did not pass "
        "eco-validate (no model revisions, no exact versions, mostly aggregates) and energy is gross or net "
        "as each table states. Ratios pair rows of the same GPU, model, batch size, output length and energy "
        "basis; intervals use the published standard deviation and run count (none where not published).",
        "",
    ]
    out += _crossover_table("Legacy crossovers", a.legacy_curves, a.confidence)[2:]
    for gpu in sorted({c.gpu_name for c in a.legacy_curves}):
        chosen = [c for c in a.legacy_curves if c.gpu_name == gpu]
        title = f"LEGACY, not validated: {gpu}"
        link = figs.draw(
            figures.stem("legacy-ratio", gpu), figures.ratio_figure, chosen, title, confidence=a.confidence
        )
        out += [f"### Legacy: {_md(gpu)}", "", f"![legacy energy per token over fp16, {_md(gpu)}]({link})", ""]
        out += _points_table(chosen, a.confidence)
    for gpu, series in _legacy_batches(a).items():
        title = f"LEGACY, not validated: {gpu}"
        link = figs.draw(figures.stem("legacy-batch", gpu), figures.batch_figure, series, title)
        out += [
            f"### Legacy: {_md(gpu)}, energy per sequence vs batch size",
            "",
            f"![legacy batch sizes, {_md(gpu)}]({link})",
            "",
        ]
    return out


def _legacy_batches(a: Analysis) -> dict[str, dict[str, list[figures.BatchPoint]]]:
    """Per legacy GPU with several batch sizes: energy per sequence of each aggregate row, and of the
    raw sweep's trials averaged per batch size."""
    sums: dict[tuple[str, str, str, int, int], list[float]] = defaultdict(list)
    for r in a.legacy_rows:
        if r[L.energy_per_1k_tokens_j] is not None:
            label = r[L.hf_path] + (" (raw sweep)" if r[L.row_kind] == "trial" else "")
            sums[(r[L.gpu], label, r[L.precision], r[L.batch_size], r[L.output_tokens])].append(
                r[L.energy_per_1k_tokens_j] * r[L.output_tokens] / 1000
            )
    by_gpu: dict[str, list[figures.BatchPoint]] = defaultdict(list)
    for (gpu, model, precision, batch, _), values in sorted(sums.items()):
        by_gpu[gpu].append(figures.BatchPoint(batch, math.fsum(values) / len(values), precision, model, used=True))
    return {
        gpu: {"legacy tables": points}
        for gpu, points in sorted(by_gpu.items())
        if len({p.batch_size for p in points}) > 1
    }
