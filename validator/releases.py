"""What each released eco-collect writes in a submission's protocol, field by field: a constant of its
code, or a number within the range of one of its command-line options. A file that names a release
and holds a protocol that release cannot write was not measured by it as stated (attack v9 U1, U2):
``early_stop.evidence_min_trials`` 1,000 (its replay then never stops a row as implausible), 8,192
output tokens, a warm-up that settles within 100 %, a 1-ms sample period beside 20-Hz samples.

The table comes from the code's history, not from its present: every commit at which
collector/__init__.py names a version (the union over them: a version was installed from any of its
commits), read from each such commit's tree (``git grep`` of the defaults and option ranges, over
``git rev-list HEAD -- collector``). What sets each field:

- output_tokens: ``--output-tokens``, ``click.IntRange(1, 4096)`` in every release.
- prompt: a built-in prompt (its hash and length: hardware.py), or for random weights
  ``seeded-token-ids:<seed>:<n>`` from ``RunRequest.seed = 0`` and ``prompt_tokens = 64``, which no
  option of any release sets (collector/workload.py).
- warmup, idle_window_s, sample_period_s, gates, early_stop: ``TrialPlan``/``RunRequest``/``Gates``/
  ``EarlyStop`` constants, except ``gates.max_trials`` (``--max-trials``, ``IntRange(5, ...)``) and
  ``trial_min_duration_s`` (``--trial-min-s``, down to the floor protocol.trial_duration holds in every
  release, so it is not repeated here).
- energy_method, power_reading, interleaved: what the machine and --schedule gave; decoding and
  early_stop.rule: the schema's constants. Not judged here.

eco-collect 0.1.0 was also run through benchmarks/collector_sweep.py (from 0dddda0 until 7a15feb removed it), whose
``--trial-min-s``, ``--idle-window-s``, ``--max-trials`` and ``--warmup-max`` took any number, and two of
the accepted 0.1.0 files hold its values (idle windows of 3 s, warm-ups of at most 3 or 6): those four
fields are not judged for 0.1.0. A release missing from the table (another collector, a version
provenance.collector refuses) is not judged here either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ecocompute.domain import Protocol, Submission
from ecocompute.gates import DEFAULT_GATES, Gates
from ecocompute.reference import seeded_prompt

from .findings import Finding, make

COLLECTOR = "eco-collect"
SEED, PROMPT_TOKENS = 0, 64  # collector/request.py RunRequest.seed, prompt_tokens: no option sets them


@dataclass(frozen=True)
class Written:
    """What a release writes for one field: one of ``values`` (None: the field left out), or a number
    from ``low`` to ``high`` (None: no bound) that ``option`` sets."""

    values: tuple[float | None, ...] = ()
    low: float | None = None
    high: float | None = None
    option: str = ""

    def admits(self, value: Any) -> bool:
        if self.values:
            return any(value == v and (value is None) == (v is None) for v in self.values)
        return (
            value is not None and (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        )

    def describe(self) -> str:
        if self.values:
            shown = " or ".join("none" if v is None else f"{v:g}" for v in self.values)
            return f"{shown} (a constant: no option sets it)"
        top = f"-{self.high:g}" if self.high is not None else " or more"
        return f"{self.low:g}{top} (its {self.option} option)"


def _const(*values: float | None) -> Written:
    return Written(values=values)


# field: (JSON pointer, finding code, the value in a protocol or None where the file has none)
_Field = tuple[str, str, Callable[[Protocol], Any]]


def _early_stop(name: str) -> Callable[[Protocol], Any]:
    return lambda p: (p.early_stop or {}).get(name)


def _seeded(index: int) -> Callable[[Protocol], Any]:
    return lambda p: (seeded_prompt(p.prompt_source) or (None, None))[index]  # None: not a seeded prompt


FIELDS: Mapping[str, _Field] = {
    "prompt.seed": ("/protocol/prompt/source", "reference.unknown_prompt", _seeded(0)),
    "prompt.seeded_tokens": ("/protocol/prompt/source", "reference.unknown_prompt", _seeded(1)),
    "output_tokens": ("/protocol/output_tokens", "protocol.settings", lambda p: p.output_tokens),
    "warmup.min_trials": ("/protocol/warmup/min_trials", "protocol.warmup", lambda p: p.warmup_min_trials),
    "warmup.max_trials": ("/protocol/warmup/max_trials", "protocol.warmup", lambda p: p.warmup_max_trials),
    "warmup.settle_pct": ("/protocol/warmup/settle_pct", "protocol.warmup", lambda p: p.warmup_settle_pct),
    "idle_window_s": ("/protocol/idle_window_s", "protocol.idle_window", lambda p: p.idle_window_s),
    "sample_period_s": ("/protocol/sample_period_s", "protocol.sample_period", lambda p: p.sample_period_s),
    "gates.min_trials": ("/protocol/gates/min_trials", "protocol.settings", lambda p: p.gates.get("min_trials")),
    "gates.max_trials": ("/protocol/gates/max_trials", "protocol.trial_budget", lambda p: p.gates.get("max_trials")),
    **{
        f"gates.{name}": (f"/protocol/gates/{name}", "protocol.settings", lambda p, n=name: p.gates.get(n))
        for name in ("throughput_cv_max_pct", "power_cv_max_pct", "energy_per_token_cv_max_pct")
    },
    **{
        f"early_stop.{name}": (f"/protocol/early_stop/{name}", "protocol.settings", _early_stop(name))
        for name in ("probability_max", "confidence", "evidence_min_trials")
    },
}

# Every release from 0.1.0 to 0.6.0, unless its row below says otherwise.
_EVERY_RELEASE: Mapping[str, Written | None] = {
    "prompt.seed": _const(SEED),
    "prompt.seeded_tokens": _const(PROMPT_TOKENS),
    "output_tokens": Written(low=1, high=4096, option="--output-tokens"),
    "warmup.min_trials": _const(2),
    "warmup.settle_pct": _const(2.0),
    "idle_window_s": _const(5.0),
    "sample_period_s": _const(0.05),
    "gates.min_trials": _const(5),
    "gates.max_trials": Written(low=5, option="--max-trials"),  # the schema holds the top
    "gates.throughput_cv_max_pct": _const(2.0),
    "gates.power_cv_max_pct": _const(5.0),
    "gates.energy_per_token_cv_max_pct": _const(5.0),
    "early_stop.probability_max": _const(0.05),
    "early_stop.confidence": _const(0.75),
    # DEFAULT_GATES.min_trials + 2 from 0.3.0 (schema 1.4.0, which requires it); before, the field did not exist.
    "early_stop.evidence_min_trials": _const(7),
}
_BEFORE_EVIDENCE = {"early_stop.evidence_min_trials": _const(None)}

RELEASES: Mapping[str, Mapping[str, Written | None]] = {
    "0.1.0": {
        **_EVERY_RELEASE,
        **_BEFORE_EVIDENCE,
        # benchmarks/collector_sweep.py set these to any number (see above): not known, not judged.
        "warmup.max_trials": None,
        "idle_window_s": None,
        "gates.max_trials": None,
        "early_stop.confidence": _const(0.9, 0.75),  # 0.9 from 5d6b58f, 0.75 from 7a15feb
    },
    "0.2.0": {**_EVERY_RELEASE, **_BEFORE_EVIDENCE, "warmup.max_trials": _const(6, 4)},  # 4 from b2837a3
    "0.3.0": {**_EVERY_RELEASE, "warmup.max_trials": _const(3)},
    "0.4.0": {**_EVERY_RELEASE, "warmup.max_trials": _const(3)},
    "0.5.0": {**_EVERY_RELEASE, "warmup.max_trials": _const(2)},
    "0.6.0": {**_EVERY_RELEASE, "warmup.max_trials": _const(2)},
}


def written(sub: Submission) -> Mapping[str, Written | None] | None:
    """What the release the file names writes, field by field; None where the table knows no such release."""
    if sub.collector_name != COLLECTOR:
        return None
    return RELEASES.get(sub.collector_version)


_SAID = {
    "prompt.seed": " (of the prompt source's seeded-token-ids:<seed>:<n>, for random weights)",
    "prompt.seeded_tokens": " (of the prompt source's seeded-token-ids:<seed>:<n>, for random weights)",
}


def check(sub: Submission, file: str) -> list[Finding]:
    table = written(sub)
    if table is None:
        return []
    proto, release = sub.protocol, f"{COLLECTOR} {sub.collector_version}"
    loosened = {f"gates.{name}" for name in Gates.from_mapping(proto.gates).looser_than(DEFAULT_GATES)}
    out = []
    for name, (where, code, read) in FIELDS.items():
        rule = table.get(name)
        if rule is None or name in loosened:  # not known for this release; stats.gates_loosened's own
            continue
        if name.startswith("early_stop.") and proto.early_stop is None:
            continue  # a file of schema 1.0.0-1.1.0: no early stop; the schema says where it is required
        value = read(proto)
        if value is None and None not in rule.values:
            continue  # left out: the schema says where it is required
        if not rule.admits(value):
            shown = "none" if value is None else f"{value:g}"
            out.append(
                make(
                    code,
                    file,
                    where,
                    f"{name} {shown}{_SAID.get(name, '')}: {release} writes {rule.describe()}; measure with "
                    "eco-collect and submit its protocol as it wrote it, never edited",
                )
            )
    return out
