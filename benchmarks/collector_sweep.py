"""Time a full eco-collect sweep and report, per configuration: trials used, CVs, counter-vs-sampler
disagreement and time spent. Issue 3's target: a Mistral-7B-architecture sweep over fp16, int8,
int8-pure and nf4 at batch 1 and 8 in <= 15 minutes, every configuration passing the gates.

Run on a GPU: python benchmarks/collector_sweep.py --model mistralai/Mistral-7B-Instruct-v0.2 --weights random
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from collector.precisions import parse
from rich.console import Console

from collector.render import RichEvents
from collector.sweep import SweepConfig, run_sweep
from collector.trials import TrialPlan
from ecocompute import stats
from ecocompute.gates import Gates


class TimedEvents(RichEvents):
    def __init__(self, console: Console, total: int) -> None:
        super().__init__(console, total)
        self.times: dict[str, float] = {}

    def config_done(self, label: str, measurement: dict[str, Any], elapsed_s: float) -> None:
        self.times[label] = elapsed_s
        super().config_done(label, measurement, elapsed_s)


def common_drift(doc: dict[str, Any]) -> float | None:
    """Mean pairwise correlation of the configurations' per-trial throughput (warm-ups left out).

    With an interleaved schedule the k-th trials of all configurations ran in the same round: a
    positive mean says slow and fast phases of the host hit every configuration alike."""
    series = []
    for m in doc["measurements"]:
        tps = [stats.throughput_tok_s(t) for t in m["trials"] if t["role"] != "warmup"]
        if len(tps) >= 3:
            series.append(tps)
    pairs = []
    for i in range(len(series)):
        for j in range(i + 1, len(series)):
            n = min(len(series[i]), len(series[j]))
            a, b = series[i][:n], series[j][:n]
            if n >= 3 and statistics.pstdev(a) > 0 and statistics.pstdev(b) > 0:
                pairs.append(statistics.correlation(a, b))
    return statistics.fmean(pairs) if pairs else None


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mistralai/Mistral-7B-Instruct-v0.2")
    p.add_argument("--weights", default="random")
    p.add_argument("--precision", default="fp16,int8,int8-pure,nf4")
    p.add_argument("--batch-size", default="1,8")
    p.add_argument("--trial-min-s", type=float, default=10.0)
    p.add_argument("--idle-window-s", type=float, default=5.0)
    p.add_argument("--max-config-s", type=float, default=600.0)
    p.add_argument("--max-trials", type=int, default=40)
    p.add_argument("--warmup-max", type=int, default=TrialPlan.warmup_max)
    p.add_argument("--schedule", default="auto", choices=("auto", "interleaved", "sequential"))
    p.add_argument("--cache", default="dynamic", choices=("dynamic", "static"))
    p.add_argument("--handle", default="ecocompute-bot")
    p.add_argument("--out-dir", type=Path, default=Path("submissions"))
    p.add_argument("--report", type=Path, default=Path("sweep-report.json"))
    a = p.parse_args()
    precisions, batches = parse(a.precision), [int(b) for b in a.batch_size.split(",")]
    cfg = SweepConfig(
        model_id=a.model,
        precisions=precisions,
        batch_sizes=batches,
        handle=a.handle,
        weights=a.weights,
        plan=TrialPlan(
            trial_min_s=a.trial_min_s,
            idle_window_s=a.idle_window_s,
            max_config_s=a.max_config_s,
            warmup_max=a.warmup_max,
            gates=Gates(max_trials=a.max_trials),
        ),
        schedule=a.schedule,
        cache=a.cache,
        out_dir=a.out_dir,
        state_dir=a.out_dir.parent / ".eco-collect",
    )
    console = Console(stderr=True)
    start = time.monotonic()
    with TimedEvents(console, len(precisions) * len(batches)) as events:
        path, doc = run_sweep(cfg, events)
    wall = time.monotonic() - start
    rows = []
    for m in doc["measurements"]:
        s, label = m["summary"], f"{m['precision']} bs={m['batch_size']}"
        rows.append(
            {
                "config": label,
                "precision": m["precision"],
                "batch": m["batch_size"],
                "status": m["status"],
                "trials_total": len(m["trials"]),
                "warmups": sum(t["role"] == "warmup" for t in m["trials"]),
                "discarded": sum(t["role"] == "discarded" for t in m["trials"]),
                "tok_s": s and s["throughput_tok_s_mean"],
                "cv_tok_s_pct": s and s["throughput_tok_s_cv_pct"],
                "cv_power_pct": s and s["power_w_cv_pct"],
                "cv_j_per_tok_pct": s and s["energy_per_token_j_cv_pct"],
                "j_per_1k_tok": s and s["energy_per_token_j_mean"] * 1000,
                "net_j_per_1k_tok": s and s["net_energy_per_token_j_mean"] * 1000,
                "idle_w": s and s["idle_power_w"],
                "power_w": s and s["power_w_mean"],
                "counter_vs_sampler_max_pct": s and s["counter_sampler_disagreement_pct_max"],
                "time_s": events.times.get(label),
            }
        )
    fp16 = {r["batch"]: r["j_per_1k_tok"] for r in rows if r["precision"] == "fp16" and r["j_per_1k_tok"]}
    for r in rows:
        ref = fp16.get(r["batch"])
        r["energy_vs_fp16_pct"] = None if not ref or not r["j_per_1k_tok"] else 100.0 * (r["j_per_1k_tok"] / ref - 1)
    drift = common_drift(doc)
    passed = sum(r["status"] == "ok" for r in rows)
    report = {
        "wall_s": wall,
        "submission": str(path),
        "interleaved": doc["protocol"]["interleaved"],
        "passed": passed,
        "mean_pairwise_throughput_correlation": drift,
        "rows": rows,
    }
    a.report.write_text(json.dumps(report, indent=2) + "\n")
    print(f"submission: {path}")
    print(f"sweep wall time: {wall:.0f} s ({wall / 60:.1f} min); gpu: {doc['environment']['gpu']['name']}")
    print(f"interleaved: {doc['protocol']['interleaved']}; passed the gates: {passed}/{len(rows)}")
    if drift is not None:
        print(f"mean pairwise correlation of per-trial throughput between configurations: {drift:+.2f}")
    head = f"{'config':16} {'status':11} {'trials':>6} {'warm':>4} {'disc':>4} {'tok/s':>8} {'CVtok%':>6} {'CVpow%':>6} {'CVJ/t%':>6} {'J/1k':>7} {'netJ/1k':>7} {'cnt-smp%':>8} {'time s':>6} {'vs fp16':>7}"
    print(head)
    for r in rows:
        f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        print(
            f"{r['config']:16} {r['status']:11} {r['trials_total']:6d} {r['warmups']:4d} {r['discarded']:4d} "
            f"{f(r['tok_s'], '8.1f')} {f(r['cv_tok_s_pct'], '6.2f')} {f(r['cv_power_pct'], '6.2f')} "
            f"{f(r['cv_j_per_tok_pct'], '6.2f')} {f(r['j_per_1k_tok'], '7.0f')} {f(r['net_j_per_1k_tok'], '7.0f')} "
            f"{f(r['counter_vs_sampler_max_pct'], '8.2f')} {f(r['time_s'], '6.0f')} {f(r['energy_vs_fp16_pct'], '+7.0f')}"
        )


if __name__ == "__main__":
    main()
