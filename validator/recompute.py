"""Statistics recomputed from the raw trials, and the gates that decide ok vs gate_failed."""

from __future__ import annotations

from typing import Any

from . import stats
from .findings import Finding, make
from .gates import DEFAULT_GATES, Gates, evaluate

# Summary keys whose mismatch is reported by a more specific physics check.
_PHYSICS_KEYS = {"throughput_tok_s_mean": 0.01}


def _roles_ok(trials: list[dict[str, Any]]) -> str | None:
    """Why the trial sequence is not warm-ups, then discarded/measured with one measured run."""
    if [t["index"] for t in trials] != list(range(len(trials))):
        return "trial indexes must be 0, 1, 2, ... in order"
    roles = [t["role"] for t in trials]
    first_other = next((i for i, r in enumerate(roles) if r != "warmup"), len(roles))
    if "warmup" in roles[first_other:]:
        return "a warm-up trial follows a non-warm-up trial"
    measured = [i for i, r in enumerate(roles) if r == "measured"]
    if measured and measured != list(range(measured[0], measured[-1] + 1)):
        return "measured trials are not consecutive"
    return None


def check(data: dict[str, Any], file: str) -> list[Finding]:
    findings: list[Finding] = []
    gates = Gates.from_mapping(data["protocol"]["gates"])
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
    for i, m in enumerate(data["measurements"]):
        if m["status"] == "skipped":
            continue
        findings.extend(_check_measurement(m, f"/measurements/{i}", file, gates))
    return findings


def _check_measurement(m: dict[str, Any], base: str, file: str, gates: Gates) -> list[Finding]:
    findings: list[Finding] = []
    problem = _roles_ok(m["trials"])
    if problem:
        findings.append(make("stats.window", file, f"{base}/trials", problem))
    n_measured = len(stats.measured(m["trials"]))
    if n_measured < gates.min_trials:
        findings.append(
            make(
                "stats.too_few_trials",
                file,
                f"{base}/trials",
                f"{n_measured} measured trial(s); at least {gates.min_trials} are required",
            )
        )
    recomputed = stats.summarize(m["trials"], stats.idle_power_w(m["idle"]))
    claimed = m["summary"]
    if recomputed is None:
        return findings
    # A claimed net energy above gross is reported by physics.net_energy, not as a mismatch.
    skip = (
        {"net_energy_j_mean", "net_energy_per_token_j_mean"}
        if claimed["net_energy_j_mean"] > claimed["energy_j_mean"]
        else set()
    )
    for key, value in recomputed.items():
        if key in skip:
            continue
        tolerance = _PHYSICS_KEYS.get(key)
        if tolerance is not None:
            if not stats.close(claimed[key], value, rel=tolerance):
                findings.append(
                    make(
                        "physics.throughput",
                        file,
                        f"{base}/summary/{key}",
                        f"{key} claims {claimed[key]!r} but generated_tokens / duration_s gives {value!r}",
                    )
                )
        elif not stats.close(claimed[key], value):
            findings.append(
                make(
                    "stats.mismatch",
                    file,
                    f"{base}/summary/{key}",
                    f"{key} claims {claimed[key]!r}; the trials give {value!r}",
                )
            )
    outcome = evaluate(recomputed, gates)
    if m["gate"] != outcome:
        findings.append(
            make("stats.gate_mismatch", file, f"{base}/gate", f"gate claims {m['gate']}; recomputed {outcome}")
        )
    expected_status = "ok" if outcome["passed"] else "gate_failed"
    if m["status"] != expected_status:
        findings.append(
            make(
                "stats.gate_mismatch",
                file,
                f"{base}/status",
                f"status is {m['status']!r} but the recomputed gates say {expected_status!r} (failed: {outcome['failed']})",
            )
        )
    return findings
