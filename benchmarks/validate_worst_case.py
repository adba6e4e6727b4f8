"""Time per MB of eco-validate on adversarially shaped files, each just under the 5 MB cap.

Target (issue 14): every file validated in time linear in its size, under 1 s for 5 MB on the 2-core
machine, however its bytes are arranged: thousands of trials, a finding on every trial, schema errors
on every value, long and escaped strings, wide objects, a thousand identical measurements, huge
integers, a regex-hostile version. Each case is timed in-process (interpreter start-up excluded: see
validate_throughput.py), best of --repeat runs.

Run: python benchmarks/validate_worst_case.py [--repeat 3]

Building the cases (each bisected to just under the cap) takes most of a run, and nothing is printed
before the table: a --repeat 3 run took 99 s, of which the timed validations about 11 s.

Figures, with when they were measured:
- commit 6c4183b (tidy31), a 2-core AMD EPYC machine shared with other jobs (load average 1.5-2.9):
  worst "windows under the gate", 0.614 s for 4.94 MB (0.124 s/MB: 0.62 s for 5 MB); "rows that never
  pass" 0.314 s; every other case 0.37 s or less.
- session 30 (2-core VM): attack v27's rule on trials made from two others (a loop over every trial's
  directions) took "windows under the gate" to 1.78 s and "rows that never pass" to 1.52 s (at 30fc69e, before
  it: 0.65 s and 0.38 s); with long windows screened in numpy (validator/madeup.py), 0.72 s and 0.41 s
  (best of 3; worst 0.146 s/MB).
- commit 40934f8 (fuzz 7-1) reports: before it, "windows under the gate" took 7.5 s for 5 MB and "rows
  that never pass" 1.4 s; after it, 0.9 s and 0.5 s.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# this checkout's packages (not whichever checkout is installed editable: a copy of an older commit run for a
# before/after figure timed the installed one), and the synthetic generator
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import synthetic  # noqa: E402

from ecocompute.catalogue import ROLE_DISCARDED, ROLE_MEASURED, ROLE_WARMUP  # noqa: E402
from validator.loading import MAX_BYTES  # noqa: E402
from validator.run import validate  # noqa: E402

Doc = dict[str, Any]


def _fill(make: Callable[[int], Doc], low: int = 1, high: int = 20_000) -> str:
    """The largest document make(n) whose JSON stays under the size cap (bisection on n)."""
    best = json.dumps(make(low))
    while low < high:
        mid = (low + high + 1) // 2
        text = json.dumps(make(mid))
        if len(text.encode()) <= MAX_BYTES:
            low, best = mid, text
        else:
            high = mid - 1
    return best


def many_trials(n: int) -> Doc:
    """As many trials as fit: 2,000 per measurement (the schema's most), in as many measurements."""
    return synthetic.submission(seed=1, n_measurements=n // 2000 + 1, n_trials=min(n, 2000))


def findings_everywhere(n: int) -> Doc:
    doc = many_trials(n)
    for m in doc["measurements"]:
        for t in m["trials"]:
            t["temperature_max_c"] = 150.0
            t["sm_clock_mhz_mean"] = 0.0
            t["power_samples"] *= 3
            t["energy_j"] *= 2
    return doc


def schema_errors_everywhere(n: int) -> Doc:
    doc = many_trials(n)
    for m in doc["measurements"]:
        for t in m["trials"]:
            t["role"] = "bogus"
            t["energy_j"] = -1.0
    return doc


def long_strings(n: int) -> Doc:
    doc = synthetic.submission(seed=2, n_measurements=n, n_trials=7)
    for k, m in enumerate(doc["measurements"]):
        m["notes"] = [f"note {k}.{i} " + "é漢字 and ascii " * 110 for i in range(64)]
    return doc


def escaped_strings(n: int) -> Doc:
    doc = long_strings(n)
    return json.loads(json.dumps(doc, ensure_ascii=True))  # the same text, every non-ASCII as \\uXXXX


def wide_device_maps(n: int) -> Doc:
    doc = synthetic.submission(seed=3, n_measurements=min(n, 16), n_trials=7)
    for m in doc["measurements"]:
        m["placement"] = {"strategy": "device_map", "device_map": {f"model.layers.{i}.mlp": 0 for i in range(n * 40)}}
    return doc


def identical_measurements(n: int) -> Doc:
    doc = synthetic.submission(seed=4, n_measurements=1, n_trials=7)
    doc["measurements"] = [copy.deepcopy(doc["measurements"][0]) for _ in range(min(n, 1000))]
    return doc


def many_measurements(n: int) -> Doc:
    return synthetic.submission(seed=5, n_measurements=min(n, 1000), n_trials=7)


def rows_that_never_pass(n: int) -> Doc:
    """Rows of up to 1,000 trials after warm-up (the schema's largest budget) drifting in 1 % steps, so no
    gate window passes and none makes passing implausible: replay.py runs the early-stop rule at every
    step over every trial before it (quadratic in a row, bounded by the budget)."""
    doc = synthetic.submission(seed=9, n_measurements=n // 1002 + 1, n_trials=min(n, 1002))
    doc["protocol"]["gates"]["max_trials"] = 1000
    for m in doc["measurements"]:
        for k, t in enumerate(m["trials"]):
            synthetic.stretch(t, 1 + 0.01 * ((k // 3) % 7))
        synthetic.resummarize(m)
    return doc


def windows_under_the_throughput_gate(n: int) -> Doc:
    """The same rows with a gate window of 500 trials, every window under the throughput gate (100 %) and
    none under the power gate: replay.py judges each of the 500 windows of a row on all three of its
    series (before fuzz 7-1, 40934f8, a summary of every window was made anew: 7.5 s for 5 MB then)."""
    doc = rows_that_never_pass(n)
    window = 500
    doc["protocol"]["gates"].update(min_trials=window, throughput_cv_max_pct=100.0, power_cv_max_pct=1e-9)
    for m in doc["measurements"]:
        after = [t for t in m["trials"] if t["role"] != ROLE_WARMUP]
        for k, t in enumerate(after):
            t["role"] = ROLE_MEASURED if k >= len(after) - window else ROLE_DISCARDED
    return doc


def _long_array(budget: int) -> Doc:
    doc = synthetic.submission(seed=7, n_measurements=2, n_trials=7)
    doc["measurements"][0]["trials"][3]["energy_per_gpu_j"] = [1.5] * (budget // 6)
    return doc


def _many_keys(budget: int) -> Doc:
    doc = synthetic.submission(seed=8, n_measurements=2, n_trials=7)
    doc.update({f"k{i}": 1 for i in range(budget // 14)})
    return doc


def raw_cases() -> dict[str, str]:
    budget = MAX_BYTES - 100
    return {
        "huge integers": "[" + ",".join(["9" * 4299] * (budget // 4300)) + "]",
        "one 5 MB string": json.dumps({"schema_version": "1.2.0", "x": "A" * budget}),
        "5 MB of escapes": '{"x": "' + "\\u00e9" * (budget // 6) + '"}',
        "deep and wide": "[" + ",".join(["[" * 15 + "]" * 15] * (budget // 32)) + "]",
        "1.7 million empty objects": "[" + ",".join(["{}"] * (budget // 3)) + "]",
        "a million numbers in a trial": json.dumps(_long_array(budget)),
        "400,000 unknown keys": json.dumps(_many_keys(budget)),
        "64-char version": json.dumps(
            {
                **synthetic.submission(seed=6, n_measurements=2, n_trials=7),
                "collector": {"name": "eco-collect", "version": "1" + "a" * 62 + "!"},
            }
        ),
    }


CASES: dict[str, Callable[[int], Doc]] = {
    "many trials": many_trials,
    "a finding on every trial": findings_everywhere,
    "schema errors everywhere": schema_errors_everywhere,
    "long non-ASCII strings": long_strings,
    "long escaped strings": escaped_strings,
    "wide device maps": wide_device_maps,
    "identical measurements": identical_measurements,
    "many measurements": many_measurements,
    "rows that never pass": rows_that_never_pass,
    "windows under the gate": windows_under_the_throughput_gate,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    texts = {name: _fill(make) for name, make in CASES.items()} | raw_cases()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.json"
        warm.write_text(json.dumps(synthetic.submission(seed=9, n_measurements=2, n_trials=7)), encoding="utf-8")
        validate([warm], accepted_root=None)  # imports (pyarrow) and caches (schema, tables) warmed once
        print(f"{'case':28} {'MB':>5} {'best s':>7} {'s/MB':>6}  findings")
        for name, text in texts.items():
            path = Path(tmp) / "case.json"
            path.write_text(text, encoding="utf-8")
            mb = path.stat().st_size / 1e6
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                report = validate([path], accepted_root=None)
                times.append(time.perf_counter() - start)
            best = min(times)
            if mb >= 1:  # a tiny file's s/MB is start-up noise; its time is what matters
                worst = max(worst, best / mb)
            counts = Counter(f.code for f in report.findings)
            shown = ", ".join(f"{c} x{n}" for c, n in counts.most_common(3))
            print(f"{name:28} {mb:5.2f} {best:7.3f} {best / mb:6.3f}  {len(report.findings)}: {shown}")
    print(f"worst_s_per_mb={worst:.3f} worst_s_per_5mb={5 * worst:.2f} target_s_per_5mb=1.0 (files of 1 MB or more)")


if __name__ == "__main__":
    main()
