"""Replay the early-stop rule on measured trial sequences: where each configuration of the committed
submissions would have stopped (or passed) under the current default rule and under the rule of
schemas 1.2.0-1.3.0, trial by trial in the order measured, and how much trial time that is.

The warm-ups are taken as recorded (the protocol of the file, not today's), so the figures say what
the rule alone changes. Run: python benchmarks/early_stop_replay.py [FILES...] (default: submissions/)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from ecocompute import gates, stats
from ecocompute.catalogue import ROLE_MEASURED, ROLE_WARMUP
from ecocompute.domain import Trial

ROOT = Path(__file__).resolve().parents[1]


def replay(trials: list[Trial], rule: gates.EarlyStop, g: gates.Gates) -> tuple[str, int]:
    """('pass' | 'stop' | 'runs on', trials used) for a configuration measured as ``trials``."""
    warmups = sum(t.is_warmup for t in trials)
    for k in range(warmups + g.min_trials, len(trials) + 1):
        seen = [replace(t, role=ROLE_WARMUP if i < warmups else ROLE_MEASURED) for i, t in enumerate(trials[:k])]
        window = [t for t in seen if not t.is_warmup][-g.min_trials :]
        if gates.evaluate(stats.summarize(window, 0.0), g).passed:  # every gate, as the collector's Runner.step
            return "pass", k
        if gates.implausible(seen, g, rule):
            return "stop", k
    return "runs on", len(trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    files = parser.parse_args().files or sorted((ROOT / "submissions").rglob("*.json"))
    rules = {"now": gates.DEFAULT_EARLY_STOP, "1.3.0": gates.EarlyStop(evidence_min_trials=None)}
    g = gates.DEFAULT_GATES
    print(f"{'file':>28} {'configuration':28} {'status':11} {'trials':>6}  " + "  ".join(f"{n:>22}" for n in rules))
    totals = {n: [0.0, 0.0] for n in rules}
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for m in doc["measurements"]:
            trials = [Trial.from_dict(t) for t in m["trials"]]
            if not trials:
                continue
            engine = m.get("engine", {}).get("name", "generate")
            cells = []
            for name, rule in rules.items():
                outcome, k = replay(trials, rule, g)
                used = sum(t.duration_s for t in trials[:k])
                totals[name][0] += used
                totals[name][1] += sum(t.duration_s for t in trials)
                cells.append(f"{outcome:>7} at {k:2d} ({used:5.0f} s)")
            label = f"{m['precision']} {engine} bs={m['batch_size']}"
            print(f"{path.stem[-28:]:>28} {label:28} {m['status']:11} {len(trials):6d}  " + "  ".join(cells))
    for name, (used, measured) in totals.items():
        print(f"rule {name}: {used:.0f} s of the {measured:.0f} s of trials measured")


if __name__ == "__main__":
    main()
