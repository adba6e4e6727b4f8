"""Estimate what a measured sweep would have taken under other trial-loop defaults, from its file alone.

Per configuration: the first warm-up is kept as it ran (one request, it sizes the trials); the trials
after it are re-sized the way eco-collect sizes them (``collector.runner``: the sizing trial's time per
request, rounded up to ``--trial-min-s``, unless that trial was already full size) at the configuration's
mean time per request over its measured trials; ``--warmups`` - 1 full-size warm-ups, then as many
measured trials as the file holds (discarded and gate-window trials). Preparation, loads and idle
windows are taken as they were: the estimate is the file's wall time less what the trials save. It is
an estimate, not a measurement: a shorter trial is noisier, so a gate window may need other trials.

    python benchmarks/sweep_replay.py submissions/<handle>/<file>.json [--trial-min-s 4] [--warmups 2]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from collector.request import TrialPlan
from ecocompute import domain


def replay(path: Path, trial_min_s: float, warmups: int) -> list[str]:
    sub = domain.parse(json.loads(path.read_text(encoding="utf-8")))
    wall_s = sub.session.wall_s if sub.session else None
    if wall_s is None:
        raise SystemExit(f"{path}: no session wall time (schema before 1.2.0): nothing to replay against")
    lines = [f"{path.name}: wall {wall_s:.0f} s; replayed with {trial_min_s:g}-s trials, {warmups} warm-ups"]
    saved, body = _saved(sub, trial_min_s, warmups)
    # The same replay under the file's own protocol should save nothing: what it saves is the model's error.
    own_trial_s, own_warmups = sub.protocol.trial_min_duration_s, sub.protocol.warmup_max_trials
    error, _ = _saved(sub, own_trial_s, own_warmups)
    lines += body
    lines.append(f"trials save {saved:.0f} s: estimated wall {wall_s - saved:.0f} s")
    lines.append(
        f"the replay under the file's own protocol ({own_trial_s:g}-s trials, {own_warmups} warm-ups) saves "
        f"{error:.0f} s where it should save none; less that error: estimated wall {wall_s - saved + error:.0f} s"
    )
    return lines


def _saved(sub: domain.Submission, trial_min_s: float, warmups: int) -> tuple[float, list[str]]:
    lines, saved = [], 0.0
    for m in sub.measurements:
        trials = m.trials
        if not trials:
            continue
        first = trials[0]
        after = [t for t in trials if t.role != "warmup"]
        per_request = sum(t.duration_s for t in after) / sum(t.requests for t in after)
        full = first.duration_s >= 0.9 * trial_min_s
        requests = first.requests if full else max(1, math.ceil(trial_min_s / (first.duration_s / first.requests)))
        was = sum(t.duration_s for t in trials)
        new = first.duration_s + requests * per_request * (warmups - 1 + len(after))
        saved += was - new
        label = f"{m.precision} {m.engine.name} bs={m.batch_size}"
        lines.append(
            f"  {label:28s} trials {len(trials):2d} -> {warmups + len(after):2d}, requests per trial "
            f"{trials[-1].requests} -> {requests}: {was:6.1f} s -> {new:6.1f} s"
        )
    return saved, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", type=Path)
    parser.add_argument("--trial-min-s", type=float, default=TrialPlan.trial_min_s)
    parser.add_argument("--warmups", type=int, default=TrialPlan.warmup_max)
    args = parser.parse_args()
    print("\n".join(replay(args.submission, args.trial_min_s, args.warmups)))


if __name__ == "__main__":
    main()
