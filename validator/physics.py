"""Physical plausibility of every trial and summary: what the numbers of one file must satisfy
among themselves (hardware.py and capacity.py check them against the board and the model)."""

from __future__ import annotations

from dataclasses import dataclass

from ecocompute import stats
from ecocompute.domain import Submission, Trial

from . import lag, readings, scaling
from .findings import Finding, make
from .lag import AVERAGED_READING_LAG_S, INSTANT_READING
from .protocol import SAMPLE_PERIOD_RANGE_S

# NVML's power limiter holds the board's average at its enforced limit (it reacts within tens of
# milliseconds; transients above it show in the peak, not in a window's average nor in NVML's own 1-s
# average). 5 % covers a sensor's calibration and a limit changed by an administrator during a run; the
# real files' highest trial average is 0.93 x the enforced limit (H200, Qwen2.5-7B nf4 at batch 512).
POWER_LIMIT_FACTOR = 1.05
ENERGY_POWER_TOLERANCE = 0.05
DISAGREEMENT_WARN_PCT = 5.0
TEMPERATURE_RANGE_C = (10.0, 100.0)
MIN_SAMPLES_FOR_AVERAGE = 10
# NVML's energy counter moves in steps (every 100 ms on the H100 probed), so the difference of a
# window's two reads is off by less than one step; the sampled average can miss up to a sample
# period at each edge. Both are absolute slack on top of the relative tolerance, so they matter only
# for windows of a few seconds (a warm-up that sizes the trials, say).
COUNTER_STEP_S = 0.1
# A window's average power cannot exceed its highest sample; interpolated window edges move it by
# well under 2 % (1.8 % was the real files' smallest peak/average margin *above* 1) ... except where the
# window follows a hungrier trial at once (an interleaved run's configurations, warm-ups included): its first
# stretch, up to the first reading inside it, is interpolated from that trial's last reading. A light
# configuration's one-request sizing warm-up (0.6 s, 12 samples) right after a batch-256 one drawing 2.6 x its
# power read 4 % above its peak, and eco-validate refused the run (fphunt3 F5). So the average, less the most
# that stretch adds (lag.EDGE_WEIGHT of its length times the difference between the trial before's peak and this
# one's, lag.befores; the stretch is a sampler period, and the readings the window lacks on top, up to one
# stall the collector lets pass: lag.stall_s), is judged.
PEAK_SLACK = 0.02
# Clock means of a GPU that ran kernels: never zero, and below any board's ceiling (SM boost clocks
# stay under 3.5 GHz, NVML's GDDR7 memory clock reads 14 GHz).
CLOCK_MIN_MHZ = 100.0  # below any GPU's clocks, loaded or not (idle SM clocks are about 200 MHz)
SM_CLOCK_MAX_MHZ = 4000.0
MEM_CLOCK_MAX_MHZ = 40000.0
# The sampler's rate is its samples over the window (collector/sampler.py: samples / duration), so
# count = rate x duration to float rounding (the real files: within 6e-14), and the sampler cannot run
# much faster than requested.
SAMPLE_COUNT_SLACK = 1e-6
SAMPLE_RATE_FACTOR = 1.25
# ... nor, in a warm-up exempt for its few samples, much slower: the real files' slowest window had
# 0.95 of the requested rate (a 0.6-s warm-up on a busy host). Half the rate, less an edge sample at
# each end: a file claiming a slow sampler must not buy long warm-ups that exemption.
SAMPLE_RATE_FLOOR = 0.5
# Idle must lie clearly below the loaded power: net energy of a row whose idle is within 1 % of its
# load is noise. Judged on the lower of the row's two idle windows, as every bound that idle noise must not
# decide: a host-bound row draws barely above idle (the real files' Qwen2.5-0.5B int8 rows on generate(): 1.016 x
# their windows on an H200), and one row's two windows differ by up to 6 % (126.3 and 118.7 W, 14B int8
# generate() at batch 8 on an H100, measured one after another), so their mean refused an honest light row
# whose window before was read warm after a heavier one (fphunt3 F1).
IDLE_MARGIN = 0.01
# A powered board running a trial draws at least its idle: no trial (a warm-up neither) may hold less
# than half of each board's lower idle window over its window (less one counter step), whatever the
# sum. Half leaves room for idle that a hot board measured high; zero joules on a board that idles at
# 70 W is no measurement. The real files' warm-ups hold at least 1.007 x their lower idle window.
BOARD_IDLE_FLOOR = 0.5
# ... and a board the placement leaves empty stays near its idle: at most 1.25 x its higher idle window
# over the window (plus the counter's and sampler's edges). An empty board's clocks and fans follow the
# busy one's heat a little; a load on it contradicts the device map. No real two-GPU file sizes this
# yet: 25 % above the higher window is generous for a board running nothing.
EMPTY_BOARD_CEILING = 1.25
# ... or 10 W above it, whichever is more: a desktop board idles at 5-30 W (gpus.json's idle_w), where a
# quarter is 1-2 W, less than one step between its idle states (a GeForce's memory clock steps from P8 to P5
# for the desktop it drives, its fans spin up with a neighbour's heat) in 3-s idle windows that caught the
# lower one. A module's work draws tens of watts or more; boards idling above 40 W keep the 25 % (fphunt F1).
EMPTY_BOARD_SLACK_W = 10.0


@dataclass(frozen=True)
class _Context:
    file: str
    limit_w: float
    tokens_per_request: int
    gpus: int
    edge_s: float
    period_s: float
    idle_per_gpu_w: tuple[float, ...]  # each board's lower idle window
    idle_high_per_gpu_w: tuple[float, ...]  # each board's higher idle window
    placed: frozenset[int] | None  # the boards holding modules (None: placement not recorded)
    power_reading: str | None = None  # the protocol's (a trial's own, where it records one, comes first)
    one_sum: bool = False  # eco-collect 0.1.0-0.5.0 without a counter: one per-GPU energy, the trial's
    # a powered board draws at least its idle: half the boards' lower idle window, as for their energy (a
    # warm-up's too; one of a few samples is exempt from energy = power x duration, not from this). Once a
    # measurement, not once a trial.
    least_w: float = 0.0


def check(sub: Submission, file: str) -> list[Finding]:
    gpu = sub.environment.gpu
    limit_w = POWER_LIMIT_FACTOR * gpu.power_limit_enforced_w * gpu.count
    edge_s = COUNTER_STEP_S + 2 * sub.protocol.sample_period_s
    findings: list[Finding] = []
    before_w, peaks_before = lag.befores(sub)
    for i, m in enumerate(sub.measurements):
        if m.is_skipped:
            continue
        base = f"/measurements/{i}"
        assert m.idle is not None  # the schema requires it unless skipped
        lower_w = m.idle.lower_power_per_gpu_w(gpu.count)
        ctx = _Context(
            file,
            limit_w,
            m.batch_size * sub.protocol.output_tokens,
            gpu.count,
            edge_s,
            sub.protocol.sample_period_s,
            lower_w,
            m.idle.higher_power_per_gpu_w(gpu.count),
            None if m.placement is None else frozenset(m.placement.device_map.values()),
            sub.protocol.power_reading,
            readings.one_sum_without_counter(sub),
            BOARD_IDLE_FLOOR * sum(lower_w),
        )
        before_i = before_w[i]
        for j, t in enumerate(m.trials):
            ptr = f"{base}/trials/{j}"  # once: three rules a trial, 56 trials a file
            findings += _check_trial(t, ptr, ctx)
            findings += _sampler(t, ptr, ctx, peaks_before[i].get(j))
            findings += lag.averaged_power(t, before_i.get(j), ptr, file, limit_w)
        findings.extend(lag.window_bias(m.trials, sub.protocol.power_reading, before_w[i], base, file))
        summary, idle = m.summary, m.idle
        assert summary is not None and idle is not None  # the schema requires them unless skipped
        if summary.net_energy_j_mean > summary.energy_j_mean:
            findings.append(
                make("physics.net_energy", file, f"{base}/summary/net_energy_j_mean", "net energy exceeds gross energy")
            )
        if idle.lower_power_w >= (1 - IDLE_MARGIN) * summary.power_w_mean:
            findings.append(
                make(
                    "physics.idle_power",
                    file,
                    f"{base}/idle",
                    f"idle power {idle.lower_power_w:.1f} W (the lower of its two windows) is not clearly below the "
                    f"loaded power {summary.power_w_mean:.1f} W (at least {IDLE_MARGIN:.0%} lower)",
                )
            )
    return findings + scaling.check(sub, file) + readings.check(sub, file)


def _check_trial(t: Trial, ptr: str, ctx: _Context) -> list[Finding]:
    file, limit_w, tokens_per_request, gpus, edge_s = (
        ctx.file,
        ctx.limit_w,
        ctx.tokens_per_request,
        ctx.gpus,
        ctx.edge_s,
    )
    out: list[Finding] = []
    power_w, duration_s, energy_j = t.power_avg_w, t.duration_s, t.energy_j
    least_w = ctx.least_w
    # the value's text is written only for a finding: two float reprs a trial were most of this rule's time
    for name, value, what in (
        ("power_avg_w", power_w, "{} W"),
        ("power_nvml_avg_1s_w", t.power_nvml_avg_1s_w, "NVML's 1-s average {} W"),
    ):
        if value is not None and not (value > 0 and least_w <= value <= limit_w):  # null: no such field
            what = what.format(value)
            out.append(
                make(
                    "physics.power_range",
                    file,
                    f"{ptr}/{name}",
                    f"{what} is outside {least_w:.1f}-{limit_w:.0f} W (at least {BOARD_IDLE_FLOOR} x the boards' "
                    f"lower idle window, {least_w / BOARD_IDLE_FLOOR:.1f} W: a powered board draws its idle; at most "
                    f"{POWER_LIMIT_FACTOR} x the enforced limit: the driver's limiter holds the average at it)",
                )
            )
    expected = power_w * duration_s
    # A warm-up trial shorter than a few sampler periods has no meaningful average power (the first
    # one sizes the trial); no figure uses warm-ups, so only they are exempt.
    judged = not t.is_warmup or t.power_samples >= MIN_SAMPLES_FOR_AVERAGE
    slack_j = ENERGY_POWER_TOLERANCE * energy_j + power_w * edge_s
    lag = ""
    if (t.power_reading or ctx.power_reading) != INSTANT_READING and duration_s > 0:
        # nvmlDeviceGetPowerUsage trails by up to its 1-s averaging window: a trial just after the idle
        # window, or after a hungrier configuration, reads the one before for that long
        slack_j += min(max(power_w, energy_j / duration_s), limit_w) * AVERAGED_READING_LAG_S  # never past the limit
        lag = f" and {AVERAGED_READING_LAG_S:.0f} s of the 1-s average's lag"
    if judged and (energy_j == 0 or abs(energy_j - expected) > slack_j):
        out.append(
            make(
                "physics.energy_power",
                file,
                f"{ptr}/energy_j",
                f"{energy_j} J vs power x duration {expected:.1f} J ({power_w} W x {duration_s} s); allowed: "
                f"{slack_j:.1f} J (5 % plus {edge_s:.2f} s of power for the counter step and sampler edges{lag})",
            )
        )
    most_j = limit_w * (duration_s + edge_s)
    if (not judged or lag) and energy_j > most_j:  # the lag's allowance must not open the ceiling
        # a short warm-up's average power means little, but no window holds more than the boards can draw
        out.append(
            make(
                "physics.energy_power",
                file,
                f"{ptr}/energy_j",
                f"{energy_j} J in {duration_s} s: more than the power limit allows ({most_j:.1f} J: {limit_w:.0f} W "
                f"for the window plus {edge_s:.2f} s)",
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
    # eco-collect 0.1.0-0.5.0 without a counter wrote the boards' sum once, whatever the boards
    # (readings.LAST_ONE_SUM_VERSION): per-board energies under that label are 0.6.0's, relabelled to take
    # the older release's leniency on the per-board idles (attack v26 F1)
    wanted = 1 if ctx.one_sum else gpus
    if len(per_gpu) != wanted or not stats.close(sum(per_gpu), energy_j, rel=1e-6, abs_tol=1e-6):
        why = " (eco-collect 0.1.0-0.5.0 without an energy counter wrote one, the trial's)" if ctx.one_sum else ""
        out.append(
            make(
                "physics.per_gpu_sum",
                file,
                f"{ptr}/energy_per_gpu_j",
                f"{len(per_gpu)} value(s) summing to {sum(per_gpu)} for {gpus} GPU(s) and {energy_j} J{why}",
            )
        )
    elif len(per_gpu) == gpus:  # one sum over several boards: no board's share to bound
        out += _boards(t, ptr, ctx)
    # The counter's energy of a window is off by up to one of its steps of power (COUNTER_STEP_S), on
    # top of the 5 %: that matters only for short windows (a one-request warm-up of 0.5 s may differ
    # by 20 % with no second process anywhere; a 4-s trial by 2.5 %).
    allowed_j = DISAGREEMENT_WARN_PCT / 100 * energy_j + power_w * COUNTER_STEP_S
    if (
        t.sampler_energy_j is not None
        and abs(t.sampler_energy_j - energy_j) > allowed_j
        and (disagreement := stats.disagreement_pct(t)) is not None  # only for the message: the rare case
    ):
        out.append(
            make(
                "physics.counter_sampler",
                file,
                f"{ptr}/sampler_energy_j",
                f"sampler and counter differ by {disagreement:.1f} % ({abs(t.sampler_energy_j - energy_j):.1f} J); "
                f"allowed: {allowed_j:.1f} J (5 % plus {COUNTER_STEP_S:.1f} s of power for the counter's step)",
            )
        )
    return out


def _boards(t: Trial, ptr: str, ctx: _Context) -> list[Finding]:
    """Each board's share of a trial lies between half its idle draw and what one board
    may draw over the window: bounds on the sum alone let one board hold nothing and another twice its
    limit (one board alone is its sum, which power_range and energy_power bound). The first board out
    of bounds is named."""
    duration, most_w = t.duration_s, ctx.limit_w / max(ctx.gpus, 1)
    window_s = max(duration - COUNTER_STEP_S, 0.0)
    # the pointer and the idle ceiling are built only for a board out of bounds: most files have none
    for k, (board_j, idle_w) in enumerate(zip(t.energy_per_gpu_j, ctx.idle_per_gpu_w, strict=True)):
        if ctx.gpus > 1 and board_j > most_w * (duration + ctx.edge_s):  # one board: the sum's bounds
            return [
                make(
                    "physics.power_range",
                    ctx.file,
                    f"{ptr}/energy_per_gpu_j/{k}",
                    f"GPU {k} holds {board_j} J in {duration} s: more than one board's limit allows "
                    f"({most_w * (duration + ctx.edge_s):.1f} J: {most_w:.0f} W for the window plus {ctx.edge_s:.2f} s)",
                )
            ]
        empty = ctx.gpus > 1 and ctx.placed is not None and k not in ctx.placed
        # a warm-up's too: no module there, no load
        if empty and board_j > (most_idle_j := _empty_board_w(ctx.idle_high_per_gpu_w[k]) * (duration + ctx.edge_s)):
            return [
                make(
                    "physics.board_above_idle",
                    ctx.file,
                    f"{ptr}/energy_per_gpu_j/{k}",
                    f"GPU {k} holds no module of the model (device map) yet {board_j} J in {duration} s, more than "
                    f"{EMPTY_BOARD_CEILING} x its idle or {EMPTY_BOARD_SLACK_W:.0f} W above it, whichever is more, "
                    f"over the window ({most_idle_j:.1f} J: "
                    f"{ctx.idle_high_per_gpu_w[k]:.1f} W higher idle window, for the window plus {ctx.edge_s:.2f} s)",
                )
            ]
        if board_j < BOARD_IDLE_FLOOR * idle_w * window_s:  # a warm-up's too: the board was powered
            return [
                make(
                    "physics.board_below_idle",
                    ctx.file,
                    f"{ptr}/energy_per_gpu_j/{k}",
                    f"GPU {k} holds {board_j} J in {duration} s, less than half its idle draw over the window "
                    f"({BOARD_IDLE_FLOOR * idle_w * window_s:.1f} J: {idle_w:.1f} W lower idle window)",
                )
            ]
    return []


def _empty_board_w(idle_high_w: float) -> float:
    """The most a board holding no module may draw: EMPTY_BOARD_CEILING x its higher idle window, or
    EMPTY_BOARD_SLACK_W above it where that is more (a desktop board's low idle)."""
    return max(EMPTY_BOARD_CEILING * idle_high_w, idle_high_w + EMPTY_BOARD_SLACK_W)


def _sampler(t: Trial, ptr: str, ctx: _Context, peak_before_w: float | None = None) -> list[Finding]:
    """Peak, clocks and sample counts: what the sampler's readings of one window must satisfy. ``peak_before_w``:
    the peak of a trial that ended just before this one began (lag.befores), whose last reading this
    window's average interpolates its first stretch from."""
    out = []
    judged = not t.is_warmup or t.power_samples >= MIN_SAMPLES_FOR_AVERAGE
    if (
        judged
        and t.power_peak_w < (1 - PEAK_SLACK) * t.power_avg_w  # nearly every window passes here
        and t.power_peak_w
        < (1 - PEAK_SLACK) * (t.power_avg_w - (edge_w := lag.edge_w(t, ctx.limit_w, ctx.period_s, peak_before_w)))
    ):
        edge = f" less {edge_w:.1f} W interpolated from the trial just before" if edge_w else ""
        out.append(
            make(
                "physics.peak_power",
                ctx.file,
                f"{ptr}/power_peak_w",
                f"peak {t.power_peak_w} W is below the average {t.power_avg_w} W{edge}",
            )
        )
    # warm-ups too: a window's clocks are means of NVML samples (at least the one just after a window too
    # short to hold any), and every sample reads a board's current clocks, never below idle's
    if not (
        CLOCK_MIN_MHZ <= t.sm_clock_mhz_mean <= SM_CLOCK_MAX_MHZ
        and CLOCK_MIN_MHZ <= t.mem_clock_mhz_mean <= MEM_CLOCK_MAX_MHZ
    ):
        out.append(
            make(
                "physics.clocks",
                ctx.file,
                f"{ptr}/sm_clock_mhz_mean",
                f"SM {t.sm_clock_mhz_mean} MHz, memory {t.mem_clock_mhz_mean} MHz: a GPU reads "
                f"{CLOCK_MIN_MHZ:.0f}-{SM_CLOCK_MAX_MHZ:.0f} and {CLOCK_MIN_MHZ:.0f}-{MEM_CLOCK_MAX_MHZ:.0f} MHz",
            )
        )
    expected = t.sample_rate_hz * t.duration_s
    most = SAMPLE_RATE_FACTOR * t.duration_s / ctx.period_s + 2
    problem = None
    if abs(t.power_samples - expected) > SAMPLE_COUNT_SLACK + 1e-6 * t.power_samples:
        problem = f"{t.power_samples} samples, but {t.sample_rate_hz} Hz x {t.duration_s} s = {expected:.1f}"
    elif t.power_samples > most:
        problem = f"{t.power_samples} samples in {t.duration_s} s at a requested period of {ctx.period_s} s (at most {most:.0f})"
    elif (
        # only where few samples buy an exemption (a warm-up's average): a measured trial gains nothing
        # from a slow sampler, and a busy many-GPU host may legitimately sample slowly
        t.is_warmup
        and t.power_samples < MIN_SAMPLES_FOR_AVERAGE
        and ctx.period_s >= SAMPLE_PERIOD_RANGE_S[0]  # a period out of range is protocol.sample_period's to name
        and t.power_samples < (fewest := _fewest_samples(t.duration_s, ctx.period_s))
    ):
        problem = (
            f"{t.power_samples} samples in {t.duration_s} s at a requested period of {ctx.period_s} s "
            f"(at least {fewest:.0f}: half the requested rate, or the rate less one stall of the sampler)"
        )
    elif not t.is_warmup and t.power_samples == 0:
        problem = "no power sample in a trial after warm-up"
    if problem:
        out.append(make("physics.sample_count", ctx.file, f"{ptr}/power_samples", problem))
    return out


def _fewest_samples(duration_s: float, period_s: float) -> float:
    """The fewest readings an honest window of a warm-up holds: at half the requested rate, or on schedule but for
    one stall the collector lets pass (lag.stall_s), whichever is fewer; an edge
    reading at each end less."""
    stall_s = lag.stall_s(period_s)
    return min(SAMPLE_RATE_FLOOR * duration_s / period_s, (duration_s - stall_s) / period_s) - 2
