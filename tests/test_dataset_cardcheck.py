"""What the dataset card says about its figures, protocol, columns and legacy sources holds for the data
(the card check of the real H100/H200 build, notes/cardcheck)."""

from __future__ import annotations

import csv
import json
from typing import Any

from conftest import ROOT

from advisor.text import METHOD
from dataset_card import figures, legacy
from dataset_card.card import results_section
from dataset_card.results import FIGURES, Results, Setting, _line
from ecocompute import columns
from ecocompute.columns import CONFIGS


class _Axes:
    """Records what a panel draws: (label or marker, colour, marker face) per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def plot(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append((kwargs.get("label"), kwargs.get("color"), kwargs.get("markerfacecolor")))

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _row(precision: str, batch: int, status: str, energy: float | None, i: int) -> dict[str, Any]:
    row: dict[str, Any] = {c: (None if energy is None else energy) for c, _ in FIGURES}
    row |= {"measurement_id": f"{i:064x}", "status": status, "gate_failed": "", "precision": precision}
    row |= {"engine": "cuda-graph", "batch_size": batch}
    return row


def _faces(lines: list[Any]) -> list[str]:
    """The marker faces drawn: "filled" in the series' colour, else the face colour."""
    ax = _Axes()
    figures._per_request(ax, lines)
    series = {colour for label, colour, _ in ax.calls if label is not None}
    return ["filled" if face in series else face for label, _, face in ax.calls if label is None]


def test_a_median_of_passing_rows_is_filled_though_a_repeat_was_skipped() -> None:
    """A skipped row has no figures: four ok rows and a skipped one drew the median hollow, as if the
    point had failed its gates (H100 Mistral-7B cuda-graph batch 8 fp16, int8-pure and nf4)."""
    rows = [_row("fp16", 8, "ok", 500.0 + i, i) for i in range(4)] + [_row("fp16", 8, "skipped", None, 9)]
    line = _line(("cuda-graph", 8, "fp16"), rows)
    assert _faces([line]) == ["filled"]  # not "white"
    failed = _line(("cuda-graph", 8, "fp16"), [*rows[:3], _row("fp16", 8, "gate_failed", 700.0, 7)])
    assert _faces([failed]) == ["white"]


def test_a_precision_has_one_colour_in_every_panel() -> None:
    """int8 skipped in one panel shifted int8-pure to int8's colour there: nf4 was purple in one panel
    and green in the next."""
    alone = _line(("cuda-graph", 1, "nf4"), [_row("nf4", 1, "ok", 10.0, 1)])
    with_more = [
        _line(("cuda-graph", 1, p), [_row(p, 1, "ok", 10.0, i)]) for i, p in enumerate(("fp16", "bf16", "int8-pure"))
    ]
    colour = {label: c for label, c, _ in _record(figures._per_request, [alone])}
    colours = {label: c for label, c, _ in _record(figures._per_request, [*with_more, alone])}
    assert colour["nf4"] == colours["nf4"]


def _record(panel: Any, lines: list[Any]) -> list[tuple[Any, ...]]:
    ax = _Axes()
    panel(ax, lines)
    return [c for c in ax.calls if c[0] is not None]


def test_the_card_says_what_a_request_and_a_hollow_marker_are() -> None:
    line = _line(("cuda-graph", 8, "fp16"), [_row("fp16", 8, "ok", 100.0, 1)])
    settings = (Setting("NVIDIA H100 80GB HBM3", "org/model", "random_init", (line,)),)
    text = results_section(Results(settings, 0, 0), figures.plan(settings))
    assert "one generate() call over the whole batch" in text  # J/request is not per sequence
    assert "hollow where one did not" in text


def _real_submissions() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "submissions").glob("*/*.json"))]


def test_trial_min_duration_is_described_as_the_real_trials_are() -> None:
    """eco-collect sizes requests once in warm-up: 97 gate-window trials of the real files run shorter
    than trial_min_duration_s (down to 53 %), so the column may not say every trial lasts at least that."""
    shorter = [
        t["duration_s"] / d["protocol"]["trial_min_duration_s"]
        for d in _real_submissions()
        for m in d["measurements"]
        for t in m.get("trials") or []
        if t["role"] == "measured" and t["duration_s"] < d["protocol"]["trial_min_duration_s"]
    ]
    described = columns.description(CONFIGS["submissions"].field("trial_min_duration_s"))
    template = (ROOT / "dataset_card" / "templates" / "README.md.tmpl").read_text(encoding="utf-8")
    if shorter:
        assert "at least this long" not in described and "may run shorter" in described
        assert "trials of at least" not in template


def test_the_skip_reasons_of_the_real_rows_are_among_those_the_card_names() -> None:
    """The card said skipped rows could not run out of memory; the real ones are engines that cannot run
    a configuration (graph capture failed, token ids left generate()'s)."""
    reasons = [m["skip_reason"] for d in _real_submissions() for m in d["measurements"] if m["status"] == "skipped"]
    template = (ROOT / "dataset_card" / "templates" / "README.md.tmpl").read_text(encoding="utf-8")
    described = columns.description(CONFIGS["measurements"].field("skip_reason"))
    for text in (" ".join(template.split()), described):
        if any("capture failed" in r for r in reasons):
            assert "fails to capture" in text
        if any("token ids differ" in r for r in reasons):
            assert "token ids leave" in text


def test_the_legacy_discrepancies_name_what_the_metadata_contradicts() -> None:
    """rtx5090_metadata.json states an idle baseline was subtracted where the transcribed rows say gross,
    and seed document 004 flips the sign of NF4's effect on Phi-3-mini (RTX 4090D): both go unsaid."""
    folder = ROOT / "legacy"
    meta = json.loads((folder / "rtx5090_metadata.json").read_text(encoding="utf-8"))
    with (folder / "published_aggregates.csv").open(encoding="utf-8") as f:
        bases = {r["energy_basis"] for r in csv.DictReader(f) if "5090" in r["gpu"]}
    topics = " ".join(f"{d['topic']} {d['a']} {d['b']}" for d in legacy.discrepancies(folder))
    if meta["measurement_protocol"]["power_monitoring"]["baseline_subtraction"] and bases == {"gross"}:
        assert "baseline_subtraction" in topics and "rtx5090_metadata.json" in topics
    assert "Phi-3-mini" in topics and "Qwen/Qwen2-7B" in topics


def test_the_method_says_how_repeat_sessions_enter_the_crossover_fit() -> None:
    """The fit takes one point per model, its sessions pooled (advisor.analysis.per_model), and the
    method says so; it once said repeats were pooled while the fit took every row as a point."""
    assert "one point per model" in METHOD
    assert "Repeated measurements of one configuration are pooled" not in METHOD


def test_the_hf_path_description_does_not_claim_the_row_source_document() -> None:
    """The row taken from pure_int8_metadata.json says Mistral-7B-Instruct-v0.2; that document says v0.3."""
    described = columns.description(CONFIGS["legacy"].field("hf_path"))
    assert "as the source gives it" not in described
