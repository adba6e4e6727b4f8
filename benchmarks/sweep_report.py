"""Per-configuration report of an eco-collect submission, read from the file alone: engine, status,
why it stopped, trials (warm-up / discarded / measured), CVs, counter-vs-sampler disagreement, time
spent, energy per token and its ratio to fp16 on the same engine; and the sweep's wall time.

Run: python benchmarks/sweep_report.py submissions/<handle>/<id>.json [--json report.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from ecocompute import catalogue, domain, ids, rows
from ecocompute.engine import TokenCheck


def common_drift(sub: domain.Submission) -> float | None:
    """Mean pairwise correlation of the configurations' per-trial throughput (warm-ups left out).

    With an interleaved schedule the k-th trials of all configurations ran in the same round: a
    positive mean says slow and fast phases of the host hit every configuration alike."""
    series = [[t.throughput_tok_s for t in m.trials if not t.is_warmup] for m in sub.measurements]
    series = [s for s in series if len(s) >= 3]
    pairs = []
    for i in range(len(series)):
        for j in range(i + 1, len(series)):
            n = min(len(series[i]), len(series[j]))
            a, b = series[i][:n], series[j][:n]
            if n >= 3 and statistics.pstdev(a) > 0 and statistics.pstdev(b) > 0:
                pairs.append(statistics.correlation(a, b))
    return statistics.fmean(pairs) if pairs else None


def report(doc: dict[str, Any]) -> dict[str, Any]:
    sub = domain.parse(doc)
    flat = [rows.measurement_row(sub, m, h) for m, h in zip(sub.measurements, ids.measurement_hashes(doc), strict=True)]
    energy_vs, _ = rows.fp16_ratios({k: [r[k] for r in flat] for k in flat[0]})
    out = []
    for m, ratio in zip(sub.measurements, energy_vs, strict=True):
        s, trials = m.summary, m.trials
        starts = [t.started_at_s for t in trials if t.started_at_s is not None]
        out.append(
            {
                "config": f"{m.precision} {m.engine.name} bs={m.batch_size}",
                "status": m.status,
                "stopped_by": m.stopped_by,
                "trials": len(trials),
                "warmups": sum(t.is_warmup for t in trials),
                "discarded": sum(t.role == catalogue.ROLE_DISCARDED for t in trials),
                "tok_s": s and s.throughput_tok_s_mean,
                "cv_tok_s_pct": s and s.throughput_tok_s_cv_pct,
                "cv_power_pct": s and s.power_w_cv_pct,
                "cv_j_per_tok_pct": s and s.energy_per_token_j_cv_pct,
                "j_per_1k_tok": s and s.energy_per_token_j_mean * 1000,
                "net_j_per_1k_tok": s and s.net_energy_per_token_j_mean * 1000,
                "counter_vs_sampler_max_pct": s and s.counter_sampler_disagreement_pct_max,
                "trial_time_s": sum(t.duration_s for t in trials),
                "span_s": (starts[-1] + trials[-1].duration_s - starts[0]) if starts else None,
                "energy_vs_fp16_pct": None if ratio is None or m.precision == "fp16" else 100.0 * (ratio - 1),
                "token_check": _token_check(m.engine.token_check),
                "skip_reason": m.skip_reason,
            }
        )
    return {
        "submission_id": sub.submission_id,
        "gpu": sub.environment.gpu.name,
        "driver": sub.environment.driver["driver_version"],
        "software": dict(sub.environment.software),
        "wall_s": sub.session.wall_s if sub.session else None,
        "interleaved": sub.protocol.interleaved,
        "passed": sum(r["status"] == catalogue.STATUS_OK for r in out),
        "mean_pairwise_throughput_correlation": common_drift(sub),
        "rows": out,
    }


def _token_check(tc: TokenCheck | None) -> str | None:
    """'equal', or where the ids part against how far generate() reproduced itself."""
    if tc is None:
        return None
    if tc.equal:
        return "equal"
    return f"equal for {tc.first_difference} steps (generate() reproducible for {tc.reference_reproducible_steps})"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("file", type=Path)
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    a = p.parse_args()
    r = report(json.loads(a.file.read_text(encoding="utf-8")))
    if a.json:
        a.json.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    wall = r["wall_s"]
    print(
        f"{r['submission_id']}: {r['gpu']} (driver {r['driver']}); torch {r['software']['torch']}, "
        f"transformers {r['software']['transformers']}, bitsandbytes {r['software']['bitsandbytes']}"
    )
    print(f"wall time: {wall:.0f} s ({wall / 60:.1f} min)" if wall else "wall time: not recorded (schema < 1.2.0)")
    print(f"interleaved: {r['interleaved']}; passed the gates: {r['passed']}/{len(r['rows'])}")
    if r["mean_pairwise_throughput_correlation"] is not None:
        print(f"mean pairwise correlation of per-trial throughput: {r['mean_pairwise_throughput_correlation']:+.2f}")
    print(
        f"{'config':28} {'status':11} {'stopped by':12} {'trials':>6} {'warm':>4} {'disc':>4} {'tok/s':>8} "
        f"{'CVtok%':>6} {'CVpow%':>6} {'CVJ/t%':>6} {'J/1k':>7} {'netJ/1k':>7} {'cnt-smp%':>8} {'time s':>6} {'vs fp16':>7}"
    )
    for row in r["rows"]:
        f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        print(
            f"{row['config']:28} {row['status']:11} {row['stopped_by'] or '-':12} {row['trials']:6d} "
            f"{row['warmups']:4d} {row['discarded']:4d} {f(row['tok_s'], '8.1f')} {f(row['cv_tok_s_pct'], '6.2f')} "
            f"{f(row['cv_power_pct'], '6.2f')} {f(row['cv_j_per_tok_pct'], '6.2f')} {f(row['j_per_1k_tok'], '7.0f')} "
            f"{f(row['net_j_per_1k_tok'], '7.0f')} {f(row['counter_vs_sampler_max_pct'], '8.2f')} "
            f"{f(row['span_s'], '6.0f')} {f(row['energy_vs_fp16_pct'], '+6.0f')}%"
        )
        if row["token_check"] not in (None, "equal"):
            print(f"    token ids: {row['token_check']}")
        if row["skip_reason"]:
            print(f"    skipped: {row['skip_reason']}")


if __name__ == "__main__":
    main()
