"""Readings that trail the power: NVML's 1-s averaged fields, and what each trial's first second
follows (the trial just before it in time, or idle after a pause). A trial's own average over its
window may lean towards that earlier power by up to one second of it; nothing else may."""

from __future__ import annotations

from collections.abc import Sequence

from ecocompute import catalogue
from ecocompute.domain import Submission, Trial

from .findings import Finding, make

# The real files' margins cited here are those of submissions/ to ...-20261124-233950: more files may widen them.
# A trial's energy may differ from its power x duration by an edge error of either sign (the counter's
# step, the sampler's first and last periods), so over a gate window of several trials those errors
# largely cancel: a window whose counter energy sits systematically below (or above) its power x time,
# hidden in each trial's slack, has no honest cause. The real files' largest |sum(E - P d)| / sum(E)
# over a window is 2.2 % (H100, a gate_failed row of Qwen2.5-0.5B fp16 at batch 256, 2.4-3.6-s trials); among
# ok rows 2.0 % (H200, Llama-3.1-8B int8-pure at batch 1, 4.4-s trials).
WINDOW_ENERGY_BIAS = 0.05
INSTANT_READING = catalogue.POWER_READINGS[0]  # NVML's instant power field
AVERAGED_READING_LAG_S = 1.0  # the fallback reading's averaging window (nvmlDeviceGetPowerUsage)
# NVML's own 1-s average, read at each sample and averaged over a trial's window, lies between the
# lowest and the highest power of the second before the window and the window itself: the trial's
# power and the power before it (powers_before). The real files' timed trials lie within
# 0.97-1.053 x that range; half to 1.5 x it leaves room for transients and a short idle gap between
# two trials. Judged for trials of 2 s or more, whose first second is at most half the window (the
# protocol's trials last 4 s; short warm-ups are bounded by physics.power_range alone).
AVERAGE_RANGE_FACTORS = (0.5, 1.5)
AVERAGE_JUDGED_MIN_S = 2.0
# ... and, whatever the power before, a mean of 1-s averages cannot exceed the highest power it
# averages: a reading at t averages the 1 s up to t - lag (update lag up to 1 s), so over a d-s window
# the readings of its first lag + 1 s reach before it, lag + 1/2 s of the mean's weight in all: at most
# AVERAGE_REACH_S / d, where the board drew at most its limit (the limiter holds the 1-s average at it);
# the rest lies inside, where the sampler's peak bounds it. The peak is the highest of the window's
# samples, not of the power: 5 % for what falls between them. The real files' trials of 2 s or more reach
# at most 0.874 x that ceiling with a 1-s reach, less with 1.5 s (0.998 x the peak alone); a 1-s average
# raised by half passed the range above where the power before ran hotter.
AVERAGE_REACH_S = 1.5  # lag (at most 1 s) + half the 1-s window (review of mutfuzz: 1.0 left out the lag)
AVERAGE_PEAK_SLACK = 1.05


def window_bias(
    trials: Sequence[Trial], protocol_reading: str | None, before_w: dict[int, float], base: str, file: str
) -> list[Finding]:
    """The gate window's counter energy agrees with its power x duration in sum, to WINDOW_ENERGY_BIAS.

    Where a trial's power is the fallback reading (nvmlDeviceGetPowerUsage, a trailing 1-s average on
    Ampere and newer), its first second still reads the power before it, and in an interleaved run
    the configuration after a hungrier one always reads high: one sign, not cancelling (the real
    files' own 1-s averages put six honest files 5-14 % off). Such a trial is allowed 1 s of the
    difference between its power and the power before it (``before_w``: the trial just before in time,
    or idle after a pause), on that difference's side only: the lag pulls the reading towards the power
    before, so after a lower power the sampled power reads low and the counter lies above power x
    duration, after a higher one below. Honest files use less than half of it (each trial's own 1-s
    average read as the fallback: every real window off by more than 5 % lies on the lag's side),
    fabrications relabelled as the fallback 6.9-8.1; a counter lowered under a reading that trailed a
    lower power used the other side's allowance (attack v16). A trial whose time is not recorded (older
    schemas) leaves the window unjudged."""
    window = [(j, t) for j, t in enumerate(trials) if t.role == catalogue.ROLE_MEASURED]
    above_j = below_j = 0.0  # the lag's allowance for a counter above power x duration, and below it
    for j, t in window:
        if (t.power_reading or protocol_reading) != INSTANT_READING:
            if j not in before_w:
                return []
            above_j += AVERAGED_READING_LAG_S * max(0.0, t.power_avg_w - before_w[j])
            below_j += AVERAGED_READING_LAG_S * max(0.0, before_w[j] - t.power_avg_w)
    energy_j = sum(t.energy_j for _, t in window)
    expected_j = sum(t.power_avg_w * t.duration_s for _, t in window)
    allowed_j = WINDOW_ENERGY_BIAS * energy_j + (above_j if energy_j > expected_j else below_j)
    if energy_j <= 0 or abs(energy_j - expected_j) <= allowed_j:
        return []  # no window, or no energy (physics.energy_power names that)
    lag = (
        f" plus {allowed_j - WINDOW_ENERGY_BIAS * energy_j:.1f} J for the 1-s average's lag"
        if allowed_j > WINDOW_ENERGY_BIAS * energy_j
        else (" (the 1-s average's lag reads towards the power before: not this side)" if above_j or below_j else "")
    )
    return [
        make(
            "physics.energy_bias",
            file,
            f"{base}/trials",
            f"the {len(window)} measured trials hold {energy_j:.1f} J, {(energy_j - expected_j) / energy_j:+.1%} off "
            f"their power x duration ({expected_j:.1f} J); allowed: {WINDOW_ENERGY_BIAS:.0%}{lag} (each trial's edge "
            "errors have either sign and cancel over a window)",
        )
    ]


def powers_before(sub: Submission) -> list[dict[int, float]]:
    """For each row, its timed trials' index -> the power that trial's first second followed: the trial
    just before it in time (any row's) when that ended less than the lag before it started, else the
    row's idle power."""
    return befores(sub)[0]


# The sampler's window average integrates its readings with each end interpolated from the reading just outside
# the window (collector/sampler.py summarize_window): a trial that follows another within a few sampler periods
# draws its first reading-to-edge stretch towards the last reading of that one. Those trials are its neighbours'.
EDGE_PERIODS = 2  # the reading before a window lies at most this many periods before it (a late reading: two)
# ... and the stretch interpolated from it, up to the first reading inside, holds at most half its length of the two
# readings' difference (the triangle's area): a period on the sampler's schedule, longer where readings are missing
# (a stall the collector lets pass). 0.6 leaves a reading's jitter room.
EDGE_WEIGHT = 0.6


def befores(sub: Submission) -> tuple[list[dict[int, float]], list[dict[int, float]]]:
    """For each row, its timed trials' index -> (``powers_before``) the power its first second followed, and
    (the peaks) the peak power of the trial just before it in time (any row's), where that ended within
    EDGE_PERIODS sampler periods of its start: the last reading before the window, which its average interpolates
    from, may be as high as that (a trial after a pause, an idle window or a load, starts from an idle reading:
    none). One sort of the file's trials for both."""
    timed = sorted(
        (t.started_at_s, t.started_at_s + t.duration_s, t.power_avg_w, t.power_peak_w, i, j)
        for i, m in enumerate(sub.measurements)
        for j, t in enumerate(m.trials)
        if t.started_at_s is not None
    )
    idle_w = [m.idle.power_w if m.idle else 0.0 for m in sub.measurements]
    reach_s = EDGE_PERIODS * sub.protocol.sample_period_s
    powers: list[dict[int, float]] = [{} for _ in sub.measurements]
    peaks: list[dict[int, float]] = [{} for _ in sub.measurements]
    last_end, last_w, last_peak = None, 0.0, 0.0
    for start, end, power, peak, i, j in timed:
        gap = None if last_end is None else start - last_end
        powers[i][j] = last_w if gap is not None and gap <= AVERAGED_READING_LAG_S else idle_w[i]
        if gap is not None and gap <= reach_s:
            peaks[i][j] = last_peak
        last_end, last_w, last_peak = end, power, peak
    return powers, peaks


def averaged_power(
    t: Trial, before_w: float | None, ptr: str, file: str, limit_w: float | None = None
) -> list[Finding]:
    """NVML's 1-s average over the trial (power_nvml_avg_1s_w, a published column) against the
    trial's power and the power before it (``before_w``; None: the trial's time is not recorded),
    and against the trial's peak and the boards' limit (``limit_w``; None: not judged)."""
    averaged = t.power_nvml_avg_1s_w
    if averaged is None or t.duration_s < AVERAGE_JUDGED_MIN_S:
        return []
    if limit_w is not None:
        reach = min(1.0, AVERAGE_REACH_S / t.duration_s)
        inside_w = AVERAGE_PEAK_SLACK * t.power_peak_w
        ceiling = (1 - reach) * inside_w + reach * max(inside_w, limit_w)
        if averaged > ceiling:
            return [
                make(
                    "physics.power_range",
                    file,
                    f"{ptr}/power_nvml_avg_1s_w",
                    f"NVML's 1-s average {averaged} W is above {ceiling:.1f} W: a mean of 1-s averages over "
                    f"{t.duration_s:.2f} s holds at most {reach:.0%} of the power before the window (at most "
                    f"{limit_w:.0f} W, the limit) and the rest of the window's own (its peak {t.power_peak_w} W, "
                    f"plus {AVERAGE_PEAK_SLACK - 1:.0%} between samples)",
                )
            ]
    if before_w is None:
        return []
    low, high = AVERAGE_RANGE_FACTORS
    least, most = low * min(t.power_avg_w, before_w), high * max(t.power_avg_w, before_w)
    if least <= averaged <= most:
        return []
    return [
        make(
            "physics.power_range",
            file,
            f"{ptr}/power_nvml_avg_1s_w",
            f"NVML's 1-s average {averaged} W is outside {least:.1f}-{most:.1f} W ({low} to {high} x the range of the "
            f"trial's power {t.power_avg_w:.1f} W and the power before it, {before_w:.1f} W: the average follows them)",
        )
    ]


# A sampler that stalled once: eco-collect writes a window whose longest stretch without a reading is at
# most the larger of 1 s and 10 periods (collector/runner.py GAP_S, GAP_PERIODS; a longer one is measured again),
# which a host under load gives the sampler's process at times. A 0.9-s sizing warm-up with a 0.7-s stall held 5
# readings of the 18 on schedule, and the run was refused (fphunt3 F6). physics.sample_count holds a warm-up to
# the lesser of half the rate and the schedule less one such stall (such a warm-up lasts 1.6 s at the most);
# edge_w stretches a window's first stretch by it.
SAMPLER_STALL_S, SAMPLER_STALL_PERIODS = 1.0, 10


def stall_s(period_s: float) -> float:
    """The longest stretch without a reading that eco-collect lets a window hold at this sampler period."""
    return max(SAMPLER_STALL_S, SAMPLER_STALL_PERIODS * period_s)


def edge_w(t: Trial, limit_w: float, period_s: float, peak_before_w: float | None) -> float:
    """What the window's first stretch, interpolated from the last reading of the trial just before (its peak
    ``peak_before_w``; None: none ended just before), can add to its average: EDGE_WEIGHT of the stretch (a
    sampler period, and the readings the window lacks, up to one stall) times the two peaks' difference."""
    if peak_before_w is None or t.duration_s <= 0:
        return 0.0
    difference_w = max(0.0, min(peak_before_w, limit_w) - t.power_peak_w)
    missing_s = max(0.0, t.duration_s - t.power_samples * period_s)  # readings the window lacks
    stretch_s = period_s + min(missing_s, stall_s(period_s))
    return difference_w * EDGE_WEIGHT * stretch_s / t.duration_s
