"""What the schema cannot say about how a file was measured: the protocol's own settings were kept
(warm-ups, trial budget, trial length, sample period: every version), the engine is what its name says
(engines.py; from schema 1.2.0 it also computed the same tokens as generate()), and from schema 1.2.0
the configuration stopped for the reason it gives, the model sat on the GPUs measured, and the
session's clock adds up (timeline.py)."""

from __future__ import annotations

from ecocompute import catalogue, stats
from ecocompute.domain import Measurement, Submission
from ecocompute.gates import EarlyStop, Gates, implausible

from . import engines, readings, releases, replay, timeline
from .findings import Finding, make
from .groups import Span

# The sampler's period bounds the energy check's slack (two periods at the window edges): a declared
# period cannot buy tolerance. eco-collect samples every 0.05 s.
SAMPLE_PERIOD_RANGE_S = (0.001, 0.1)


def check(sub: Submission, file: str, spans: list[Span]) -> list[Finding]:
    """``spans``: ``timeline.trial_spans(sub)``, for the session's clock."""
    findings: list[Finding] = _settings(sub, file) + releases.check(sub, file)
    gates = Gates.from_mapping(sub.protocol.gates)
    for i, m in enumerate(sub.measurements):
        if not m.is_skipped:
            findings += _kept(sub, m, f"/measurements/{i}", file, gates)
        elif m.idle is not None:
            findings.append(_skipped_idle(m, f"/measurements/{i}", file))
    if sub.session is not None:
        findings += timeline.check(sub, file, spans)
    findings += timeline.millisecond_grain(sub, file)
    findings += replay.check(sub, file)  # the collector's own loop over each row's trials
    early_stop = EarlyStop.from_mapping(sub.protocol.early_stop) if sub.protocol.early_stop else None
    recorded = sub.records("1.2.0")  # engines, stop reasons and placements
    for i, m in enumerate(sub.measurements):
        base = f"/measurements/{i}"
        findings += engines.check(m, base, file, recorded, sub.protocol.output_tokens)
        if recorded:
            findings += _stop(m, base, file, gates, early_stop, sub.collector_version == "0.2.0")
            findings += _placement(m, base, file, sub.environment.gpu.count, readings.one_sum_without_counter(sub))
    return findings + engines.one_attention(sub, file)


def _skipped_idle(m: Measurement, base: str, file: str) -> Finding:
    """A skipped configuration ran no trials, so eco-collect measured no idle baseline around them: every
    release writes its idle as null (collector/schedule.py ``_close``; 0.1.0's sweep as well). Idle
    numbers there were put in by hand, and the dataset would publish them with the file."""
    assert m.idle is not None
    return make(
        "protocol.idle_window",
        file,
        f"{base}/idle",
        f"a skipped configuration carries an idle baseline ({m.idle.power_before_w!r} W before, "
        f"{m.idle.power_after_w!r} W after): it ran no trials, so eco-collect measured no idle around them and "
        "writes idle: null; submit the file as eco-collect wrote it",
    )


def _settings(sub: Submission, file: str) -> list[Finding]:
    """The protocol's own numbers: a sample period that bounds tolerances, a real trial length,
    minimums not above maximums."""
    proto, out = sub.protocol, []
    lo, hi = SAMPLE_PERIOD_RANGE_S
    if not lo <= proto.sample_period_s <= hi:
        out.append(
            make(
                "protocol.sample_period",
                file,
                "/protocol/sample_period_s",
                f"sample period {proto.sample_period_s} s is outside {lo}-{hi} s",
            )
        )
    if proto.trial_min_duration_s < catalogue.TRIAL_MIN_DURATION_FLOOR_S:
        out.append(
            make(
                "protocol.trial_duration",
                file,
                "/protocol/trial_min_duration_s",
                f"trials of {proto.trial_min_duration_s} s: the energy counter steps every 0.1 s, so a trial "
                f"needs at least {catalogue.TRIAL_MIN_DURATION_FLOOR_S} s",
            )
        )
    if proto.idle_window_s < catalogue.IDLE_WINDOW_FLOOR_S:
        out.append(
            make(
                "protocol.idle_window",
                file,
                "/protocol/idle_window_s",
                f"idle windows of {proto.idle_window_s} s: power readings change every 0.1 s, so an idle baseline "
                f"needs at least {catalogue.IDLE_WINDOW_FLOOR_S} s",
            )
        )
    if proto.warmup_min_trials > proto.warmup_max_trials:
        out.append(
            make(
                "protocol.warmup",
                file,
                "/protocol/warmup",
                f"warm-up min_trials {proto.warmup_min_trials} is above max_trials {proto.warmup_max_trials}",
            )
        )
    gates = Gates.from_mapping(proto.gates)
    if gates.min_trials > gates.max_trials:
        out.append(
            make(
                "protocol.trial_budget",
                file,
                "/protocol/gates",
                f"gate window min_trials {gates.min_trials} is above the budget max_trials {gates.max_trials}",
            )
        )
    return out


def _kept(sub: Submission, m: Measurement, base: str, file: str, gates: Gates) -> list[Finding]:
    """A measured configuration kept its protocol: warm-ups within bounds, no more trials than the
    budget, every trial after warm-up as long as the protocol asks."""
    proto, out = sub.protocol, []
    warmups = next((j for j, t in enumerate(m.trials) if not t.is_warmup), len(m.trials))
    if not proto.warmup_min_trials <= warmups <= proto.warmup_max_trials:
        out.append(
            make(
                "protocol.warmup",
                file,
                f"{base}/trials",
                f"{warmups} warm-up trial(s); the protocol runs {proto.warmup_min_trials}-{proto.warmup_max_trials}",
            )
        )
    after = len(m.trials) - warmups
    if after > gates.max_trials:
        out.append(
            make(
                "protocol.trial_budget",
                file,
                f"{base}/trials",
                f"{after} trials after warm-up; the budget is {gates.max_trials}",
            )
        )
    shortest = catalogue.TRIAL_DURATION_FRACTION * proto.trial_min_duration_s
    for j, t in enumerate(m.trials[warmups:], start=warmups):
        if t.duration_s < shortest:
            out.append(
                make(
                    "protocol.trial_duration",
                    file,
                    f"{base}/trials/{j}/duration_s",
                    f"trial of {t.duration_s:.3f} s; trials after warm-up last about trial_min_duration_s "
                    f"({proto.trial_min_duration_s} s), never less than {shortest} s",
                )
            )
            break
    return out


def _stop(
    m: Measurement, base: str, file: str, gates: Gates, early_stop: EarlyStop | None, past_warm_up_only: bool = False
) -> list[Finding]:
    """stopped_by as eco-collect decides it after the last trial, in its order (collector/runner.py ``step``):
    gates passed, else implausible, else the trial budget, else the time budget. ``past_warm_up_only``: the
    early stop of eco-collect 0.2.0 may have weighed the trials past warm-up only (replay.py)."""
    if m.is_skipped:
        if m.stopped_by is not None:
            return [make("protocol.stop_reason", file, f"{base}/stopped_by", "a skipped configuration ran no trials")]
        return []
    reason = m.stopped_by
    passed = m.gate is not None and m.gate.passed  # a gate that lies is stats.gate_mismatch's finding
    if reason is None or (reason == "gates_passed") != passed:
        return [
            make(
                "protocol.stop_reason",
                file,
                f"{base}/stopped_by",
                f"stopped_by {reason!r} does not fit a gate that {'passed' if passed else 'failed'}",
            )
        ]
    post_warmup = [t for t in m.trials if not t.is_warmup]
    if reason == "trial_budget" and len(post_warmup) < gates.max_trials:
        return [
            make(
                "protocol.stop_reason",
                file,
                f"{base}/stopped_by",
                f"trial budget: {len(post_warmup)} trials after warm-up, the budget is {gates.max_trials}",
            )
        ]
    if reason in BUDGETS and _implausible_then(m, gates, early_stop, past_warm_up_only):
        return [
            make(
                "protocol.stop_reason",
                file,
                f"{base}/stopped_by",
                f"stopped by its {reason.replace('_', ' ')}, but passing had become implausible by then (the "
                "early-stop rule holds on its trials), which eco-collect asks first",
            )
        ]
    if reason == "time_budget" and len(post_warmup) >= gates.max_trials:
        return [
            make(
                "protocol.stop_reason",
                file,
                f"{base}/stopped_by",
                f"stopped by its time budget after {len(post_warmup)} trials after warm-up, where the trial budget of "
                f"{gates.max_trials}, which eco-collect asks first, had ended",
            )
        ]
    if reason == "implausible" and (early_stop is None or not implausible(m.trials, gates, early_stop)):
        tput = [t.throughput_tok_s for t in post_warmup]
        cv = stats.cv_pct(tput[-gates.min_trials :]) if tput else float("nan")
        return [
            make(
                "protocol.stop_reason",
                file,
                f"{base}/stopped_by",
                f"stopped as implausible, but the early-stop rule does not hold on its trials (last window CV {cv:.2f} %)",
            )
        ]
    return []


# Budgets end a row only where passing had not become implausible (attack v23: rows stopped as implausible
# relabelled time_budget, a published column, passed).
BUDGETS = ("trial_budget", "time_budget")


def _implausible_then(m: Measurement, gates: Gates, early_stop: EarlyStop | None, past_warm_up_only: bool) -> bool:
    """Whether the early-stop rule holds on the row's trials, under each rule its collector may have followed."""
    if early_stop is None or not implausible(m.trials, gates, early_stop):
        return False
    return not past_warm_up_only or implausible([t for t in m.trials if not t.is_warmup], gates, early_stop)


def _placement(m: Measurement, base: str, file: str, gpus: int, sample_means: bool = False) -> list[Finding]:
    """``sample_means``: each board's idle is the mean of its samples, not its share of the total
    (readings.LAST_ONE_SUM_VERSION)."""
    out = []
    if m.placement is not None:
        outside = sorted({p for p in m.placement.device_map.values() if p >= gpus})
        if outside:
            out.append(
                make(
                    "protocol.placement",
                    file,
                    f"{base}/placement/device_map",
                    f"modules placed on GPU position(s) {outside}, but {gpus} GPU(s) were measured",
                )
            )
        if m.placement.strategy == "device_map" and gpus == 1:  # eco-collect shards only over several GPUs
            out.append(
                make(
                    "protocol.placement",
                    file,
                    f"{base}/placement/strategy",
                    "a device_map placement over one measured GPU: eco-collect shards a model only over several "
                    "(--gpu listed more than one); on one GPU it records single_gpu",
                )
            )
        if "" in m.placement.device_map and len(m.placement.device_map) > 1:  # accelerate's root: all of it
            out.append(
                make(
                    "protocol.placement",
                    file,
                    f"{base}/placement/device_map",
                    "the whole model ('') and single modules are both placed: accelerate names the root module "
                    "only when it holds every module, on one GPU",
                )
            )
        if m.placement.strategy == "single_gpu" and dict(m.placement.device_map) != {"": 0}:
            out.append(
                make(
                    "protocol.placement",
                    file,
                    f"{base}/placement",
                    "single_gpu placement must map the whole model ('') to position 0",
                )
            )
    idle = m.idle
    if idle is not None:
        for name, total, per_gpu in (
            ("power_per_gpu_before_w", idle.power_before_w, idle.power_per_gpu_before_w),
            ("power_per_gpu_after_w", idle.power_after_w, idle.power_per_gpu_after_w),
        ):
            if per_gpu is None:
                continue
            if (
                len(per_gpu) != gpus
                or total is None
                or not (sample_means or stats.close(sum(per_gpu), total, rel=1e-6, abs_tol=1e-6))
            ):
                out.append(
                    make(
                        "protocol.placement",
                        file,
                        f"{base}/idle/{name}",
                        f"{len(per_gpu)} value(s) summing to {sum(per_gpu)} W for {gpus} GPU(s) and {total} W in total",
                    )
                )
    return out
