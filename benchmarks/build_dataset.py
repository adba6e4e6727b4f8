"""Build 100,000 measurement rows from synthetic submissions, then load them with load_dataset.

Target (issue 4): build <= 20 s and load <= 5 s on the 2-core machine.
Run: python benchmarks/build_dataset.py [--measurements 100000] [--per-file 8] [--trials 7] [--repeat 3]
The build is timed --repeat times (a 2-core VM's speed drifts); each time and the median are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from datasets import load_dataset

from dataset_card.build import build

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the synthetic generator
import synthetic

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--measurements", type=int, default=100_000)
    p.add_argument("--per-file", type=int, default=8)
    p.add_argument("--trials", type=int, default=7, help="trials per measurement (2 warm-ups + the rest measured)")
    p.add_argument("--repeat", type=int, default=3, help="cold builds to time, each into a fresh folder")
    a = p.parse_args()
    files = a.measurements // a.per_file
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "submissions"
        start = time.perf_counter()
        for i in range(files):
            doc = synthetic.submission(
                seed=i, n_measurements=a.per_file, n_trials=a.trials, models=1 + a.per_file // 16
            )
            target = subs / "synthetic-bot" / f"{doc['submission_id']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(doc, sort_keys=True) + "\n")
        print(f"generated {files} submissions in {time.perf_counter() - start:.1f} s (not timed below)")
        times = []
        for i in range(a.repeat):
            out = Path(tmp) / f"out{i}"
            start = time.perf_counter()
            result = build(subs, ROOT / "legacy", out)
            times.append(time.perf_counter() - start)
        build_s = statistics.median(times)
        cache = Path(tmp) / "hf-cache"
        start = time.perf_counter()
        ds = load_dataset(str(out), split="train", cache_dir=str(cache))
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        trials = load_dataset(str(out), "trials", split="train", cache_dir=str(cache))
        load_trials_s = time.perf_counter() - start
    print(f"rows: {result.counts}; {os.cpu_count()} CPUs")
    print(f"build_s each: {', '.join(f'{t:.1f}' for t in times)}")
    print(f"build_s={build_s:.1f} (median) target_s=20 ({result.counts['measurements'] / build_s:.0f} measurements/s)")
    print(f"load_measurements_s={load_s:.1f} target_s=5 (rows {ds.num_rows})")
    print(f"load_trials_s={load_trials_s:.1f} (rows {trials.num_rows})")


if __name__ == "__main__":
    main()
