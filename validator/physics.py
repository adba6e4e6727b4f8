"""Physical plausibility of every trial and summary."""

from __future__ import annotations

from ecocompute import stats
from ecocompute.domain import Submission, Trial

from .findings import Finding, make

POWER_LIMIT_FACTOR = 1.1
ENERGY_POWER_TOLERANCE = 0.05
DISAGREEMENT_WARN_PCT = 5.0
TEMPERATURE_RANGE_C = (10.0, 100.0)
MIN_SAMPLES_FOR_AVERAGE = 10
# NVML's energy counter moves in steps (every 100 ms on the H100 probed), so the difference of a
# window's two reads is off by less than one step; the sampled average can miss up to a sample
# period at each edge. Both are absolute slack on top of the relative tolerance, so they matter only
# for windows of a few seconds (a warm-up that sizes the trials, say).
COUNTER_STEP_S = 0.1


def check(sub: Submission, file: str) -> list[Finding]:
    gpu = sub.environment.gpu
    limit_w = POWER_LIMIT_FACTOR * gpu.power_limit_enforced_w * gpu.count
    edge_s = COUNTER_STEP_S + 2 * sub.protocol.sample_period_s
    findings: list[Finding] = []
    for i, m in enumerate(sub.measurements):
        if m.status == "skipped":
            continue
        base = f"/measurements/{i}"
        tokens_per_request = m.batch_size * sub.protocol.output_tokens
        for j, t in enumerate(m.trials):
            findings.extend(_check_trial(t, f"{base}/trials/{j}", file, limit_w, tokens_per_request, gpu.count, edge_s))
        summary, idle = m.summary, m.idle
        assert summary is not None and idle is not None  # the schema requires them unless skipped
        if summary.net_energy_j_mean > summary.energy_j_mean:
            findings.append(
                make("physics.net_energy", file, f"{base}/summary/net_energy_j_mean", "net energy exceeds gross energy")
            )
        if idle.power_w >= summary.power_w_mean:
            findings.append(
                make(
                    "physics.idle_power",
                    file,
                    f"{base}/idle",
                    f"idle power {idle.power_w:.1f} W is not below the loaded power {summary.power_w_mean:.1f} W",
                )
            )
    return findings


def _check_trial(
    t: Trial, ptr: str, file: str, limit_w: float, tokens_per_request: int, gpus: int, edge_s: float
) -> list[Finding]:
    out: list[Finding] = []
    power, duration, energy = t.power_avg_w, t.duration_s, t.energy_j
    if not 0 < power <= limit_w:
        out.append(
            make("physics.power_range", file, f"{ptr}/power_avg_w", f"{power} W is outside (0, {limit_w:.0f}] W")
        )
    averaged = t.power_nvml_avg_1s_w  # null where the driver lacks the field
    if averaged is not None and not 0 < averaged <= limit_w:
        out.append(
            make(
                "physics.power_range",
                file,
                f"{ptr}/power_nvml_avg_1s_w",
                f"NVML's 1-s average {averaged} W is outside (0, {limit_w:.0f}] W",
            )
        )
    expected = power * duration
    # A warm-up trial shorter than a few sampler periods has no meaningful average power (the first
    # one sizes the trial); no figure uses warm-ups, so only they are exempt.
    judged = t.role != "warmup" or t.power_samples >= MIN_SAMPLES_FOR_AVERAGE
    slack_j = ENERGY_POWER_TOLERANCE * energy + power * edge_s
    if judged and (energy == 0 or abs(energy - expected) > slack_j):
        out.append(
            make(
                "physics.energy_power",
                file,
                f"{ptr}/energy_j",
                f"{energy} J vs power x duration {expected:.1f} J ({power} W x {duration} s); allowed: "
                f"{slack_j:.1f} J (5 % plus {edge_s:.2f} s of power for the counter step and sampler edges)",
            )
        )
    if t.generated_tokens != tokens_per_request * t.requests:
        out.append(
            make(
                "physics.token_count",
                file,
                f"{ptr}/generated_tokens",
                f"{t.generated_tokens} tokens; batch x output tokens x requests = {tokens_per_request * t.requests}",
            )
        )
    lo, hi = TEMPERATURE_RANGE_C
    if not lo <= t.temperature_max_c <= hi:
        out.append(
            make(
                "physics.temperature",
                file,
                f"{ptr}/temperature_max_c",
                f"{t.temperature_max_c} C is outside {lo:.0f}-{hi:.0f} C",
            )
        )
    per_gpu = t.energy_per_gpu_j
    if len(per_gpu) != gpus or not stats.close(sum(per_gpu), energy, rel=1e-6, abs_tol=1e-6):
        out.append(
            make(
                "physics.per_gpu_sum",
                file,
                f"{ptr}/energy_per_gpu_j",
                f"{len(per_gpu)} value(s) summing to {sum(per_gpu)} for {gpus} GPU(s) and {energy} J",
            )
        )
    disagreement = stats.disagreement_pct(t)
    if disagreement is not None and disagreement > DISAGREEMENT_WARN_PCT:
        out.append(
            make(
                "physics.counter_sampler",
                file,
                f"{ptr}/sampler_energy_j",
                f"sampler and counter differ by {disagreement:.1f} %",
            )
        )
    return out
