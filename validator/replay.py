"""eco-collect's loop over one configuration, replayed on its trials (collector/runner.py): what the
collector decided after each trial follows from the trials before it, so a row must end where that
loop ends. The first warm-up runs one request; a warm-up under 90 % of trial_min_duration_s resizes
the requests to ceil(trial_min_duration_s / its time per request), and nothing else does; warm-up
ends at the first full-size warm-up (from warmup.min_trials on) within settle_pct of the one before,
or at warmup.max_trials, and not before; after warm-up the loop stops at the first gate window that
passes its gates, or after which passing is implausible. A row that goes on past any of these points
is no run of it (a made-up row of ten steady trials goes on past its first passing window).
Every row of the real files (268 with trials, eco-collect 0.1.0-0.5.0) replays exactly: the same
floats, the same arithmetic. Risk: a future collector that sizes or stops otherwise (a test ties the
constants).
"""

from __future__ import annotations

from ecocompute import stats, warmup
from ecocompute.domain import Measurement, Submission
from ecocompute.gates import EarlyStop, Gates, ImplausibleAfter

from .findings import Finding, make
from .recompute import roles_problem

# eco-collect 0.1.0 (collector/trials.py) settled warm-up only between two consecutive full-size warm-ups
# (its list of rates started again at every resize); 7e904db made a full-size warm-up settle against the
# one before, whatever its size. 0.2.0 was numbered at 91a5103, between 7a15feb (the old rule, and an
# early stop that weighed trials past warm-up only) and 7e904db: a 0.2.0 row may follow either.
OLD_RULES = {"0.1.0": (True,), "0.2.0": (False, True)}  # collector version: the warm-up rules it may follow


def check(sub: Submission, file: str) -> list[Finding]:
    proto = sub.protocol
    gates = Gates.from_mapping(proto.gates)
    early_stop = EarlyStop.from_mapping(proto.early_stop) if proto.early_stop else None
    out: list[Finding] = []
    for i, m in enumerate(sub.measurements):
        if not m.is_skipped and m.trials and roles_problem(m, gates.min_trials) is None:  # else stats.window
            out += _warm_ups(sub, m, f"/measurements/{i}", file) or _steps(
                m, f"/measurements/{i}", file, gates, early_stop, sub.collector_version == "0.2.0"
            )
    return out


def _warm_ups(sub: Submission, m: Measurement, base: str, file: str) -> list[Finding]:
    """The row's warm-ups as one of the rules its collector version followed ran them (the newest rule's
    finding where none does)."""
    found: list[Finding] = []
    for old in OLD_RULES.get(sub.collector_version, (False,)):
        problem = _warm_up(sub, m, base, file, old)
        if not problem:
            return []
        found = found or problem
    return found


def _warm_up(sub: Submission, m: Measurement, base: str, file: str, old: bool = False) -> list[Finding]:
    """``old``: eco-collect 0.1.0's rule, under which only two consecutive full-size warm-ups settle."""
    proto = sub.protocol
    requests, rates, full_before = 1, [], False
    warmups = sum(t.is_warmup for t in m.trials)
    for j, t in enumerate(m.trials):
        if t.requests != requests:
            why = (
                "the first warm-up runs one" if j == 0 else f"eco-collect's sizing after trial {j - 1} gives {requests}"
            )
            return [
                make(
                    "protocol.trial_duration",
                    file,
                    f"{base}/trials/{j}/requests",
                    f"{t.requests} request(s); {why} (a warm-up under {warmup.FULL_SIZE_FRACTION:.0%} of trial_min_duration_s resizes "
                    "the requests to ceil(trial_min_duration_s / its time per request), nothing else does)",
                )
            ]
        if not t.is_warmup:
            continue
        full = warmup.full_size(t.duration_s, proto.trial_min_duration_s)
        if not full:
            requests = warmup.requests_for(proto.trial_min_duration_s, t.duration_s / t.requests)
        rates.append(t.throughput_tok_s)
        settled = len(rates) >= 2 and warmup.settled(rates[-2], rates[-1], proto.warmup_settle_pct)
        settled, full_before = settled and (full_before or not old), full
        ended = warmup.ended(j + 1, proto.warmup_min_trials, proto.warmup_max_trials, full, settled) is not None
        if ended != (j + 1 == warmups):  # the last warm-up, and only it, ends warm-up
            said = "ended" if ended else "had not ended (not full size, or not within settle_pct of the one before)"
            return [
                make(
                    "protocol.warmup",
                    file,
                    f"{base}/trials/{j + 1 if ended else j}/role",
                    f"warm-up {said} at trial {j} (it ends at a full-size warm-up within {proto.warmup_settle_pct} % "
                    f"of the one before, from warmup.min_trials on, or at warmup.max_trials), yet the row holds "
                    f"{warmups} warm-up(s)",
                )
            ]
    return []


def _steps(
    m: Measurement, base: str, file: str, gates: Gates, early_stop: EarlyStop | None, past_warm_up_only: bool = False
) -> list[Finding]:
    """After each trial past warm-up but the last, the gate window (its last min_trials) neither passed
    nor made passing implausible: eco-collect would have stopped there. ``past_warm_up_only``: a row that
    7a15feb's early stop may have run (eco-collect 0.2.0), which weighed the trials past warm-up only,
    is named only where that rule found passing implausible too.

    A window passes when each of its three CVs is under its gate (gates.evaluate of its summary: the
    window holds min_trials trials, so no other gate applies); the series are read once per row and
    each window's CVs computed only as far as the first that fails, and the early-stop rule is asked
    through gates.ImplausibleAfter, in time linear in the row (asked anew after every trial, a row of
    1,000 trials cost a second: fuzz 7)."""
    n = gates.min_trials
    post = [j for j, t in enumerate(m.trials) if not t.is_warmup]
    if len(post) > gates.max_trials:  # protocol.trial_budget's to name; the replay stays linear in the budget
        return []
    throughput_tok_s = [t.throughput_tok_s for t in m.trials]
    power_w = [t.power_avg_w for t in m.trials]
    energy_per_token_j = [t.energy_per_token_j for t in m.trials]
    stop = None if early_stop is None else ImplausibleAfter(m.trials, gates, early_stop)
    stop_past_warm_up = (
        ImplausibleAfter([m.trials[j] for j in post], gates, early_stop)
        if early_stop is not None and past_warm_up_only
        else None
    )
    for k in range(n - 1, len(post) - 1):
        at, first = post[k], post[k - n + 1]  # the window: trials first..at (past warm-up, consecutive)
        # the throughput gate first (cheap): a window under it may pass; one at or above it may be implausible
        below = stats.cv_pct(throughput_tok_s[first : at + 1]) < gates.throughput_cv_max_pct
        if (
            below
            and stats.cv_pct(power_w[first : at + 1]) < gates.power_cv_max_pct
            and stats.cv_pct(energy_per_token_j[first : at + 1]) < gates.energy_per_token_cv_max_pct
        ):
            why = "passed its gates"
        elif (
            not below
            and stop is not None
            and stop(at + 1)
            and not (stop_past_warm_up is not None and not stop_past_warm_up(k + 1))
        ):
            why = "made passing implausible (the early-stop rule)"  # it reads roles as warm-up or not
        else:
            continue
        return [
            make(
                "protocol.stop_reason",
                file,
                f"{base}/trials/{at + 1}",
                f"the gate window ending at trial {at} {why}, where eco-collect stops, yet "
                f"{len(m.trials) - at - 1} more trial(s) follow",
            )
        ]
    return []
