"""Statistics recomputed from the raw trials, and the gates that decide ok vs gate_failed."""

from __future__ import annotations

from dataclasses import fields

from ecocompute import catalogue, stats
from ecocompute.domain import Measurement, Submission, Summary
from ecocompute.gates import DEFAULT_GATES, Gates, evaluate, status_for

from .findings import Finding, make

# Every summary value must follow from the trials to stats.close's tolerance (the writer uses the same
# functions, so only float noise separates them). Throughput's mismatch has its own code.
_PHYSICS_KEYS = {"throughput_tok_s_mean"}
_SUMMARY_KEYS = tuple(f.name for f in fields(Summary))


def roles_problem(m: Measurement, window: int) -> str | None:
    """Why the trial sequence is not warm-ups, then discarded trials, then the gate window: the last
    ``window`` trials, consecutive (a window picked from the middle of the run is not the protocol's)."""
    if [t.index for t in m.trials] != list(range(len(m.trials))):
        return "trial indexes must be 0, 1, 2, ... in order"
    roles = [t.role for t in m.trials]
    first_other = next((i for i, r in enumerate(roles) if r != catalogue.ROLE_WARMUP), len(roles))
    if catalogue.ROLE_WARMUP in roles[first_other:]:
        return "a warm-up trial follows a non-warm-up trial"
    measured = [i for i, r in enumerate(roles) if r == catalogue.ROLE_MEASURED]
    if not measured:
        return None
    if measured != list(range(measured[0], measured[-1] + 1)):
        return "measured trials are not consecutive"
    if measured[-1] != len(roles) - 1:
        return f"{len(roles) - 1 - measured[-1]} trial(s) follow the measured ones: the gate window is the last trials"
    if len(measured) > window:
        return f"{len(measured)} measured trials: the gate window is the last {window}, the earlier ones are discarded"
    if len(measured) < window and catalogue.ROLE_DISCARDED in roles:
        return f"trials were discarded although the window holds only {len(measured)} of {window}"
    return None


def check(sub: Submission, file: str) -> list[Finding]:
    findings: list[Finding] = []
    gates = Gates.from_mapping(sub.protocol.gates)
    looser = gates.looser_than(DEFAULT_GATES)
    if looser:
        findings.append(
            make(
                "stats.gates_loosened",
                file,
                "/protocol/gates",
                f"{', '.join(looser)} looser than the project's gates {DEFAULT_GATES.as_dict()}",
            )
        )
    for i, m in enumerate(sub.measurements):
        if not m.is_skipped:
            findings.extend(_check_measurement(m, f"/measurements/{i}", file, gates))
    return findings


def _check_measurement(m: Measurement, base: str, file: str, gates: Gates) -> list[Finding]:
    findings: list[Finding] = []
    problem = roles_problem(m, gates.min_trials)
    if problem:
        findings.append(make("stats.window", file, f"{base}/trials", problem))
    n_measured = len(m.measured)
    if n_measured < gates.min_trials:
        findings.append(
            make(
                "stats.too_few_trials",
                file,
                f"{base}/trials",
                f"{n_measured} measured trial(s); at least {gates.min_trials} are required",
            )
        )
    assert m.idle is not None and m.summary is not None and m.gate is not None  # the schema requires them
    recomputed = stats.summarize(m.trials, m.idle.power_w)
    claimed = m.summary
    if recomputed is None:
        return findings
    # A claimed net energy above gross is reported by physics.net_energy, not as a mismatch.
    skip = (
        {"net_energy_j_mean", "net_energy_per_token_j_mean"}
        if claimed.net_energy_j_mean > claimed.energy_j_mean
        else set()
    )
    for key in _SUMMARY_KEYS:
        if key in skip:
            continue
        want, got = getattr(recomputed, key), getattr(claimed, key)
        if key in _PHYSICS_KEYS:
            if not stats.close(got, want):
                findings.append(
                    make(
                        "physics.throughput",
                        file,
                        f"{base}/summary/{key}",
                        f"{key} claims {got!r} but generated_tokens / duration_s gives {want!r}",
                    )
                )
        elif not stats.close(got, want):
            findings.append(
                make("stats.mismatch", file, f"{base}/summary/{key}", f"{key} claims {got!r}; the trials give {want!r}")
            )
    outcome = evaluate(recomputed, gates)
    if m.gate != outcome:
        findings.append(
            make(
                "stats.gate_mismatch",
                file,
                f"{base}/gate",
                f"gate claims {m.gate.to_dict()}; recomputed {outcome.to_dict()}",
            )
        )
    expected_status = status_for(outcome)
    if m.status != expected_status:
        findings.append(
            make(
                "stats.gate_mismatch",
                file,
                f"{base}/status",
                f"status is {m.status!r} but the recomputed gates say {expected_status!r} (failed: {list(outcome.failed)})",
            )
        )
    return findings
