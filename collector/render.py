"""Terminal rendering for eco-collect: progress with ETA, summary table, doctor report."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ecocompute import domain, ids, rows
from ecocompute.domain import Measurement, Trial

from .doctor import Check
from .session import Events


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def summary_table(doc: dict[str, Any]) -> Table:
    """Energy per token and its change against fp16, matched as the dataset matches it (rows.FP16_KEY)."""
    sub = domain.parse(doc)
    flat = [rows.measurement_row(sub, m, h) for m, h in zip(sub.measurements, ids.measurement_hashes(doc), strict=True)]
    energy_vs, _ = rows.fp16_ratios({k: [r[k] for r in flat] for k in flat[0]} if flat else {})
    table = Table(title="Measurements")
    for col in (
        "precision",
        "engine",
        "batch",
        "status",
        "stopped by",
        "trials",
        "tok/s",
        "CV tok/s %",
        "CV J/tok %",
        "J/1k tok",
        "net J/1k tok",
        "vs fp16",
        "sampler Δ %",
    ):
        table.add_column(col, justify="right")
    for m, ratio in zip(sub.measurements, energy_vs, strict=True):
        s = m.summary
        if s is None:
            table.add_row(m.precision, m.engine.name, str(m.batch_size), m.status, "-", *["-"] * 8)
            continue
        delta = "-" if ratio is None or m.precision == "fp16" else f"{(ratio - 1) * 100:+.0f} %"
        table.add_row(
            m.precision,
            m.engine.name,
            str(m.batch_size),
            m.status,
            m.stopped_by or "-",
            str(s.trials),
            _fmt(s.throughput_tok_s_mean),
            _fmt(s.throughput_tok_s_cv_pct, ".2f"),
            _fmt(s.energy_per_token_j_cv_pct, ".2f"),
            _fmt(s.energy_per_token_j_mean * 1000, ".0f"),
            _fmt(s.net_energy_per_token_j_mean * 1000, ".0f"),
            delta,
            _fmt(s.counter_sampler_disagreement_pct_max, ".2f"),
        )
    return table


def doctor_table(checks: list[Check]) -> Table:
    table = Table(title="eco-collect doctor")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    style = {"ok": "green", "warn": "yellow", "fail": "red"}
    for c in checks:
        table.add_row(c.name, f"[{style[c.status]}]{c.status}[/]", escape(c.detail))  # details name extras: [collect]
    return table


class RichEvents(Events):
    """Progress bar over configurations with an ETA, plus one line per finished configuration. The bar
    is shown from the first configuration on: a run that fails before it (no GPU, a folder it may not
    write) says so in one line on stderr, not after an empty "sweep 0/8" bar."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("sweep", total=total)
        self.trials: dict[str, int] = {}  # per configuration: the interleaved schedule switches between them
        self.label = ""
        self.current = ""

    def __enter__(self) -> RichEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress.live.is_started:  # stop() prints a blank line off a terminal, started or not
            self.progress.stop()

    def config_started(self, label: str, index: int, total: int) -> None:
        self.progress.start()  # a no-op once started
        self.current = label
        self.label = f"{label} ({index}/{total})"
        self.progress.update(self.task, total=total, description=escape(f"{label} ({index}/{total})"))

    def trial_done(self, trial: Trial) -> None:
        n = self.trials[self.current] = self.trials.get(self.current, 0) + 1
        self.progress.update(
            self.task,
            description=escape(f"{self.label} [trial {n} {trial.role} {trial.throughput_tok_s:.1f} tok/s]"),
        )

    def config_done(self, label: str, measurement: Measurement, elapsed_s: float) -> None:
        s = measurement.summary
        detail = (
            ""
            if s is None
            else (f"; CV tok/s {s.throughput_tok_s_cv_pct:.2f} %, {s.energy_per_token_j_mean * 1000:.0f} J/1k tok")
        )
        self.console.print(
            escape(
                f"{label}: {measurement.status} ({measurement.stopped_by}) after {len(measurement.trials)} "
                f"trials in {elapsed_s:.0f} s{detail}"
            )
        )
        self.progress.advance(self.task)

    def prepared(self, what: str, duration_s: float, detail: str = "") -> None:
        # Time before the first trial is not in the file: the log is where a slow preparation shows.
        more = f" ({detail})" if detail else ""
        self.console.print(f"[dim]{escape(what)} in {duration_s:.1f} s{escape(more)}[/]")

    def note(self, text: str) -> None:
        self.console.print(f"[yellow]note:[/] {escape(text)}")
