"""Estimate what a measured sweep would have taken under other trial-loop defaults, from its file alone.

Per configuration, the replay keeps the file's sequence of per-request times (each trial's duration
over its requests, in order) and re-runs eco-collect's sizing on it (``ecocompute.warmup``: a warm-up
shorter than 0.9 x ``--trial-min-s`` resizes the trials to that minimum at its own speed): as many
warm-ups as the file ran, at most ``--warmups`` (a configuration that settled sooner still does), then
as many trials after warm-up as the file holds, the k-th trial at the k-th trial's speed. Preparation,
loads and idle windows are taken as they were: the estimate is the file's wall time less what the
trials save. Replaying the file's own protocol must give back its trial time (printed as a check). It
is an estimate, not a measurement: a shorter trial is noisier, so a gate window may need other trials,
and an early stop that counted a warm-up at the final size may need one trial more.

    python benchmarks/sweep_replay.py submissions/<handle>/<file>.json [--trial-min-s 4] [--warmups 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from collector.request import TrialPlan
from ecocompute import domain, warmup
from ecocompute.cli import printable
from validator.check import check_file
from validator.findings import Severity


def replay(path: Path, trial_min_s: float, warmups: int) -> list[str]:
    if warmups < 1 or trial_min_s <= 0:
        raise SystemExit("--warmups must be at least 1 (the sizing trial) and --trial-min-s positive")
    # Read as eco-validate reads it (bounded; a file it refuses is not replayed): this reads any file.
    checked = check_file(path)
    shown = printable(checked.path)  # a file name (and a finding's message) may hold control characters
    sub = checked.submission
    if sub is None or not checked.accepted:
        first = next(
            (f"{f.code}: {printable(f.message)}" for f in checked.findings if f.severity is Severity.ERROR), ""
        )
        raise SystemExit(f"{shown}: eco-validate refuses it ({first}); nothing to replay")
    wall_s = sub.session.wall_s if sub.session else None
    if wall_s is None:
        raise SystemExit(f"{shown}: no session wall time (schema before 1.2.0): nothing to replay against")
    lines = [f"{shown}: wall {wall_s:.0f} s; replayed with {trial_min_s:g}-s trials, {warmups} warm-ups at most"]
    saved, body = _saved(sub, trial_min_s, warmups)
    own_trial_s, own_warmups = sub.protocol.trial_min_duration_s, sub.protocol.warmup_max_trials
    check, _ = _saved(sub, own_trial_s, own_warmups)
    lines += body
    lines.append(f"trials save {saved:.0f} s: estimated wall {wall_s - saved:.0f} s")
    lines.append(
        f"check: the file's own protocol ({own_trial_s:g}-s trials, {own_warmups} warm-ups) replayed "
        f"differs from the file by {check:.1f} s"
    )
    return lines


def _saved(sub: domain.Submission, trial_min_s: float, warmups: int) -> tuple[float, list[str]]:
    lines, saved = [], 0.0
    for m in sub.measurements:
        trials = m.trials
        if not trials:
            continue
        speeds = [t.duration_s / t.requests for t in trials]  # seconds per request, in order
        warm = sum(t.is_warmup for t in trials)
        kept_warm = min(warm, warmups)
        requests, new = trials[0].requests, 0.0
        for k in range(kept_warm + len(trials) - warm):
            duration = requests * speeds[k]
            new += duration
            if k < kept_warm and not warmup.full_size(duration, trial_min_s):  # sized in warm-up only
                requests = warmup.requests_for(trial_min_s, speeds[k])
        was = sum(t.duration_s for t in trials)
        saved += was - new
        label = f"{m.precision} {m.engine.name} bs={m.batch_size}"
        lines.append(
            f"  {label:28s} warm-ups {warm} -> {kept_warm}, requests per trial {trials[-1].requests} -> "
            f"{requests}: {was:6.1f} s -> {new:6.1f} s"
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
