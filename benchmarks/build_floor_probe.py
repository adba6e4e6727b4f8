"""What a build of validated files cannot avoid, per file, next to the floor of issue 12 (read and
json.loads): the steps any design of `eco-dataset build` keeps, timed one at a time on one core.

The build today (benchmarks/build_dataset.py) spends about 3.3 ms of CPU a file on validating and
flattening against 0.55 ms for the floor. This probe asks how low a redesign could go: parse with
orjson, hash the bytes and each measurement (the row ids), the JSON Schema gate (the fast path
eco-validate takes for a valid file), and the trials read out as tuples, the shape columnar checks
would work on. Whatever the semantic checks and the Arrow conversion cost comes on top; the sum
printed is therefore a lower bound for a single-pass design, not a prediction.

Run: python benchmarks/build_floor_probe.py [--submissions DIR] [--files 2000] [--repeat 3]
     DIR holds synthetic-bot/*.json, as benchmarks/build_dataset.py --submissions DIR generates them
     (default: a temporary folder with --files new ones).
"""

from __future__ import annotations

import argparse
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


def files(folder: Path | None, count: int, scratch: Path) -> list[bytes]:
    if folder is None:
        folder = scratch
        for i in range(count):
            doc = synthetic.submission(seed=i, n_measurements=8, n_trials=7)
            (folder / f"{i}.json").write_text(json.dumps(doc, sort_keys=True) + "\n")
    paths = sorted(folder.glob("*.json"))[:count]
    if not paths:
        sys.exit(f"error: no *.json under {folder}")
    return [p.read_bytes() for p in paths]


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
        raws = files(folder, args.files, Path(scratch))
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
    floor = timed(lambda: [json.loads(b) for b in raws], args.repeat)
    per_file = 1000 / len(raws)
    print(f"{len(raws)} files, {sum(map(len, raws)) / len(raws) / 1000:.0f} kB each; median of {args.repeat}, one core")
    print(f"{'floor: json.loads':44s} {floor * per_file:.3f} ms/file")
    total = 0.0
    for name, step in steps.items():
        seconds = timed(step, args.repeat)
        total += seconds
        print(f"{name:44s} {seconds * per_file:.3f} ms/file  {seconds / floor:.2f} x the floor")
    print(
        f"{'sum (a lower bound for a single-pass build)':44s} {total * per_file:.3f} ms/file  {total / floor:.2f} x the floor"
    )


if __name__ == "__main__":
    main()
