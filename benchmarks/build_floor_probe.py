"""What a build of validated files cannot avoid, per file, next to the floor of issue 12 (read and
json.loads): the steps any design of `eco-dataset build` keeps, timed one at a time on one core.

The build today (benchmarks/build_dataset.py) spends about 3.3 ms of CPU a file on validating and
flattening against 0.55 ms for the floor. This probe asks how low a redesign could go: parse with
orjson, hash the bytes and each measurement (the row ids), the JSON Schema gate (the fast path
eco-validate takes for a valid file), and the trials read out as tuples, the shape columnar checks
would work on. Whatever the semantic checks and the Arrow conversion cost comes on top; the sum
printed is therefore a lower bound for a single-pass design, not a prediction.

A second table times the build's own worker (dataset_card.build's validating and flattening of a
chunk) on the same files, step by step: each step's own time, less the steps it calls, so that the
parts add up to the worker. Together the two tables say what a redesign could remove: only the
semantic checks and the rows, not the reading, parsing, schema gate and ids every design keeps.

Run: python benchmarks/build_floor_probe.py [--submissions DIR] [--files 2000] [--repeat 3]
     DIR holds synthetic-bot/*.json, as benchmarks/build_dataset.py --submissions DIR generates them
     (default: a temporary folder with --files new ones).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import orjson  # noqa: E402
import synthetic  # noqa: E402

from validator import contract  # noqa: E402

# The trial fields a columnar check reads (every number the per-trial rules use).
TRIAL_FIELDS = (
    "duration_s",
    "energy_j",
    "generated_tokens",
    "mem_clock_mhz_mean",
    "power_avg_w",
    "power_nvml_avg_1s_w",
    "power_peak_w",
    "power_samples",
    "requests",
    "role",
    "sample_rate_hz",
    "sampler_energy_j",
    "sm_clock_mhz_mean",
    "started_at_s",
    "temperature_max_c",
)


def files(folder: Path | None, count: int, scratch: Path) -> list[Path]:
    if folder is None:
        folder = scratch / "synthetic-bot"
        folder.mkdir()
        for i in range(count):
            doc = synthetic.submission(seed=i, n_measurements=8, n_trials=7)
            (folder / f"{doc['submission_id']}.json").write_text(json.dumps(doc, sort_keys=True) + "\n")
    paths = sorted(folder.glob("*.json"))[:count]
    if not paths:
        sys.exit(f"error: no *.json under {folder}")
    return paths


# The worker's steps, in the order a file meets them: (module, function, label).
WORKER_STEPS = (
    ("validator.loading", "load", "read, hygiene, orjson, sha256"),
    ("validator.contract", "check_schema", "JSON Schema"),
    ("validator.contract", "integer_spelling", "integer spelling"),
    ("ecocompute.ids", "measurement_hashes", "measurement ids"),
    ("ecocompute.domain", "parse", "domain model"),
    ("validator.provenance", "check", "check: provenance"),
    ("validator.recompute", "check", "check: statistics"),
    ("validator.physics", "check", "check: physics"),
    ("validator.hardware", "check", "check: hardware"),
    ("validator.protocol", "check", "check: protocol"),
    ("validator.fabrication", "check", "check: fabrication"),
    ("validator.buildable", "check", "check: buildable (flattens the rows)"),
    ("dataset_card.writer", "unsorted_table", "rows to Arrow"),
)


def worker_steps(paths: list[Path]) -> tuple[float, dict[str, float]]:
    """The build's worker over ``paths`` once (one core, GC off): its seconds, and each step's own
    seconds (less the wrapped steps inside it); what no step claims is the worker's own loop."""
    import importlib
    from unittest import mock

    from dataset_card import build

    own: dict[str, float] = dict.fromkeys((label for *_, label in WORKER_STEPS), 0.0)
    inner = [0.0]  # time of wrapped steps inside the one running now

    def timing(function: Callable[..., Any], label: str) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            outer, inner[0] = inner[0], 0.0
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                own[label] += elapsed - inner[0]
                inner[0] = outer + elapsed

        return step

    with contextlib.ExitStack() as patches:
        for module, name, label in WORKER_STEPS:
            target = importlib.import_module(module)
            patches.enter_context(mock.patch.object(target, name, timing(getattr(target, name), label)))
        build._check_and_flatten(paths[0].parent.parent, paths[:2])  # imports and caches, untimed
        own.update(dict.fromkeys(own, 0.0))
        total = timed(lambda: build._check_and_flatten(paths[0].parent.parent, paths), 1)
    return total, own


def timed(step: Callable[[], Any], repeat: int) -> float:
    """The median of ``repeat`` runs, seconds (the garbage collector off, as in the build's workers)."""
    runs = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        step()
        runs.append(time.perf_counter() - start)
        gc.enable()
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=Path, help="a folder holding synthetic-bot/*.json")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = None if args.submissions is None else args.submissions / "synthetic-bot"
        paths = files(folder, args.files, Path(scratch))
        raws = [p.read_bytes() for p in paths]
        floor = floor_steps(raws, args.repeat)
        worker, own = worker_steps(paths)
    per_file = 1000 / len(raws)
    print(
        f"\nthe build's worker (dataset_card.build), once, each step's own time: {worker * per_file:.3f} ms/file, "
        f"{worker / floor:.2f} x the floor"
    )
    for label, seconds in [*own.items(), ("the worker's own loop", worker - sum(own.values()))]:
        print(f"  {label:42s} {seconds * per_file:.3f} ms/file  {seconds / floor:.2f} x the floor")


def floor_steps(raws: list[bytes], repeat: int) -> float:
    """The first table: the steps every design keeps, each against the floor (its seconds returned)."""
    docs = [orjson.loads(b) for b in raws]
    fast = contract._fast()
    get = itemgetter(*TRIAL_FIELDS)
    steps: dict[str, Callable[[], Any]] = {
        "orjson parse": lambda: [orjson.loads(b) for b in raws],
        "sha256 of the bytes": lambda: [hashlib.sha256(b).hexdigest() for b in raws],
        "JSON Schema (eco-validate's fast path)": lambda: [fast.is_valid(d) for d in docs],
        "measurement ids (sorted orjson, sha256)": lambda: [
            [hashlib.sha256(orjson.dumps(m, option=orjson.OPT_SORT_KEYS)).digest() for m in d["measurements"]]
            for d in docs
        ],
        "trials as tuples": lambda: [list(map(get, m["trials"])) for d in docs for m in d["measurements"]],
    }
    floor = timed(lambda: [json.loads(b) for b in raws], repeat)
    per_file = 1000 / len(raws)
    print(f"{len(raws)} files, {sum(map(len, raws)) / len(raws) / 1000:.0f} kB each; median of {repeat}, one core")
    print(f"{'floor: json.loads':44s} {floor * per_file:.3f} ms/file")
    total = 0.0
    for name, step in steps.items():
        seconds = timed(step, repeat)
        total += seconds
        print(f"{name:44s} {seconds * per_file:.3f} ms/file  {seconds / floor:.2f} x the floor")
    print(
        f"{'sum (a lower bound for a single-pass build)':44s} {total * per_file:.3f} ms/file  {total / floor:.2f} x the floor"
    )
    return floor


if __name__ == "__main__":
    main()
