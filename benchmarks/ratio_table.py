"""Per architecture on one GPU: energy per token relative to fp16 on the same engine and batch size,
with its 95 % interval, for every precision, engine and batch size a dataset build holds.

The numbers are eco-advise's (``advisor.analysis``): one row's ratio by the delta method on the log
scale, repeat sessions of a configuration pooled by inverse-variance weighting with the scale factor.
Rows that failed their gates are included and marked (``gate_failed``: read them with their CVs),
so the table shows what the engine does to a comparison, not only what passed.

Run: python -m dataset_card build --out /tmp/ds && python benchmarks/ratio_table.py /tmp/ds [--gpu H100]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from advisor import data  # noqa: E402
from advisor.analysis import Analysis, Config, analyse, precision_rank  # noqa: E402
from advisor.estimate import LogEstimate, ratio  # noqa: E402
from ecocompute.catalogue import ENGINES, STATUS_GATE_FAILED, STATUS_OK  # noqa: E402


def _size(count: float) -> str:
    return f"{count / 1e9:.2f} B" if count >= 1e9 else f"{count / 1e6:.0f} M"


def cell(config: Config, value: LogEstimate | None = None) -> str:
    """'1.100 [1.081-1.119]' (``value``, by default the ratio to fp16 on the same engine), the
    interval left out where no spread is known; the rows' statuses and how many sessions were pooled
    follow where they are not one passing row."""
    # the ratio to fp16 pools only the sessions with an fp16 row on their board
    sessions = len(config.measurement_ids) if value is not None else config.vs_fp16_sessions
    value = value or config.vs_fp16
    assert value is not None
    text = f"{value.value:.3f}"
    interval = value.interval()
    if interval is not None:
        text += f" [{interval[0]:.3f}-{interval[1]:.3f}]"
    notes = []
    if sessions > 1:
        notes.append(f"{sessions} sessions")
    failed = sum(s != STATUS_OK for s in config.statuses)
    if failed:
        notes.append(STATUS_GATE_FAILED if failed == len(config.statuses) else f"{failed} {STATUS_GATE_FAILED}")
    return text + (f" ({', '.join(notes)})" if notes else "")


# A line of either table: GPU, size, model, weights, output tokens, engine's place, engine, batch size.
Key = tuple[str, int, str, str, int, int, str, int]
ENGINE_PLACE = {e: i for i, e in enumerate(ENGINES)}


def _key(c: Config) -> Key:
    place = ENGINE_PLACE.get(c.engine, len(ENGINES))
    return (c.gpu_name, c.parameter_count, c.model_id, c.weights, c.output_tokens, place, c.engine, c.batch_size)


def _markdown(cells: dict[Key, dict[str, str]], columns: dict[str, str]) -> list[str]:
    """One line per key (by GPU, size, model, engine, batch size), a column per precision (titled
    ``columns[precision]``); '-' where a line lacks one."""
    head = "| GPU | model | parameters | weights | tokens | engine | batch | "
    out = [head + " | ".join(columns.values()) + " |", "|---" * (7 + len(columns)) + "|"]
    for key in sorted(cells):
        gpu_name, params, model, weights, tokens, _, engine, batch = key
        row = [cells[key].get(p, "-") for p in columns]
        out.append(
            f"| {gpu_name} | {model} | {_size(params)} | {weights} | {tokens} | {engine} | {batch} | "
            + " | ".join(row)
            + " |"
        )
    return out


def _precisions(configs: Iterable[Config]) -> list[str]:
    return sorted({c.precision for c in configs}, key=precision_rank)


def table(analysis: Analysis, gpu: str) -> list[str]:
    """Markdown: each precision over fp16 on the same engine and batch size, a column per precision
    other than fp16."""
    chosen = [c for c in analysis.configs if gpu.lower() in c.gpu_name.lower() and c.vs_fp16 is not None]
    if not chosen:
        return []
    cells: dict[Key, dict[str, str]] = defaultdict(dict)
    for c in chosen:
        cells[_key(c)][c.precision] = cell(c)
    return _markdown(cells, {p: p for p in _precisions(chosen)})


def engine_table(analysis: Analysis, gpu: str, base: str = "cuda-graph") -> list[str]:
    """Markdown: each configuration off the ``base`` engine over fp16 on ``base`` (same GPU model,
    model, weights, batch size and output length): how much of a cross-engine comparison is the engine."""

    def pair(c: Config) -> tuple[str, str, str, int, int]:
        return (c.gpu_name, c.model_id, c.weights, c.batch_size, c.output_tokens)

    chosen = [c for c in analysis.configs if gpu.lower() in c.gpu_name.lower()]
    bases = {pair(c): c for c in chosen if c.engine == base and c.precision == "fp16"}
    others = [c for c in chosen if c.engine != base and pair(c) in bases]
    if not others:
        return []
    cells: dict[Key, dict[str, str]] = defaultdict(dict)
    for c in others:
        cells[_key(c)][c.precision] = cell(c, ratio(c.energy_per_token, bases[pair(c)].energy_per_token))
    return _markdown(cells, {p: f"{p} / fp16 on {base}" for p in _precisions(others)})


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="a folder written by eco-dataset build")
    parser.add_argument("--gpu", default="", help="GPU names containing this text (default: every GPU)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        found = analyse(data.load(args.build), include_gate_failed=True)
    except data.DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = table(found, args.gpu)
    if not rows:
        print(f"error: no ratio to fp16 for a GPU matching {args.gpu!r} in {args.build}", file=sys.stderr)
        return 1
    print(
        "energy per token / fp16 (each session over fp16 on its own board, engine and batch size; the sessions of "
        "one GPU model pooled), 95 % interval; gate_failed rows included"
    )
    print("\n".join(rows))
    engines = engine_table(found, args.gpu)
    if engines:
        print("\nenergy per token off the CUDA graph over fp16 on it (same GPU model, batch size): the engine's share")
        print("\n".join(engines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
