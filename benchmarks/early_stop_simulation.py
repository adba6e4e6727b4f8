"""How often the early-stop rule stops a configuration, and after how many trials, on simulated noise.

Each run: ``--warmups`` warm-up trials at the final size, then measured trials until the gate window
(the last 5) passes the 2 % throughput gate, ``ecocompute.gates.implausible`` says stop, or the
40-trial budget ends; trial throughputs are normal with the given spread, optionally correlated
from trial to trial (AR(1), ``--rho``) like a drifting host. Prints, per spread, the share of runs
stopped early, the share that passed and the mean trial count, for the current default rule
(evidence of 7 trials) and for the 1.2.0-1.3.0 one (10 trials).

    python benchmarks/early_stop_simulation.py [--runs 400] [--warmups 2] [--rho 0.0]

(2 warm-ups: eco-collect's default from 0.5.0; 3 before it.)
"""

from __future__ import annotations

import argparse
import random
from types import SimpleNamespace

from ecocompute import stats
from ecocompute.catalogue import ROLE_MEASURED, ROLE_WARMUP
from ecocompute.gates import DEFAULT_EARLY_STOP, DEFAULT_GATES, EarlyStop, implausible


def simulate(
    spread: float, rule: EarlyStop, warmups: int, rho: float, runs: int, seed: int
) -> tuple[float, float, float]:
    gates, rng = DEFAULT_GATES, random.Random(seed)
    stopped = passed = trials_total = 0
    for _ in range(runs):
        level, trials = 0.0, []

        def trial(role: str) -> SimpleNamespace:
            nonlocal level
            level = rho * level + (1 - rho * rho) ** 0.5 * rng.gauss(0.0, spread)
            return SimpleNamespace(
                role=role, is_warmup=role == ROLE_WARMUP, throughput_tok_s=100.0 * (1 + level), requests=1
            )

        trials += [trial(ROLE_WARMUP) for _ in range(warmups)]
        while True:
            trials.append(trial(ROLE_MEASURED))
            measured = [t.throughput_tok_s for t in trials if not t.is_warmup]
            if len(measured) < gates.min_trials:
                continue
            if stats.cv_pct(measured[-gates.min_trials :]) < gates.throughput_cv_max_pct:
                passed += 1
                break
            if implausible(trials, gates, rule):  # type: ignore[arg-type]  # reads is_warmup, throughput, requests
                stopped += 1
                break
            if len(measured) >= gates.max_trials:
                break
        trials_total += len(trials)
    return stopped / runs, passed / runs, trials_total / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--rho", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rules = {"default (7 trials)": DEFAULT_EARLY_STOP, "1.2.0-1.3.0 (10 trials)": EarlyStop(evidence_min_trials=None)}
    print(f"runs {args.runs}, warm-ups {args.warmups}, rho {args.rho}, gate 2 %, window 5, budget 40")
    print(f"{'spread':>7}  " + "  ".join(f"{name:>36}" for name in rules))
    for spread in (0.01, 0.015, 0.02, 0.03, 0.05, 0.08, 0.10):
        cells = []
        for rule in rules.values():
            stop, ok, n = simulate(spread, rule, args.warmups, args.rho, args.runs, args.seed)
            cells.append(f"stopped {stop:5.1%} passed {ok:5.1%} trials {n:4.1f}")
        print(f"{spread:6.1%}  " + "  ".join(f"{c:>36}" for c in cells))


if __name__ == "__main__":
    main()
