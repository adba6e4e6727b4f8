"""Findings: what a check reports, and the catalogue of stable codes.

Every check appends findings; nothing here prints or decides an exit code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    title: str
    fix: str


_E, _W = Severity.ERROR, Severity.WARNING

# Codes are stable: tools, docs and fixtures refer to them by name. Add, never rename.
CATALOGUE: dict[str, Code] = {
    c.code: c
    for c in [
        Code("file.too_large", _E, "file exceeds the size cap", "split the session into several submissions"),
        Code(
            "file.not_regular",
            _E,
            "not a regular file (symlink, device, folder)",
            "commit the JSON file itself, not a link",
        ),
        Code(
            "file.encoding",
            _E,
            "not strict UTF-8 (BOM, NUL byte or invalid bytes)",
            "write the file as UTF-8 without BOM",
        ),
        Code(
            "file.path_policy",
            _E,
            "path under submissions/ breaks the naming policy",
            "use submissions/<handle>/<submission_id>.json with letters, digits, '.', '_', '-'",
        ),
        Code("file.name_mismatch", _E, "file name does not match submission_id", "name the file <submission_id>.json"),
        Code("json.syntax", _E, "not valid JSON", "re-export the file with eco-collect; do not edit it by hand"),
        Code("json.nonfinite", _E, "NaN or Infinity in JSON", "a measurement that produced NaN is broken: re-measure"),
        Code("json.duplicate_key", _E, "the same key twice in one object", "keep one value per key"),
        Code("json.too_deep", _E, "nesting deeper than allowed", "submissions are at most a few levels deep"),
        Code(
            "submission.not_a_submission",
            _E,
            "this file is not an ecocompute submission",
            "produce submissions with eco-collect; legacy metadata cannot be submitted",
        ),
        Code(
            "schema.unknown_version",
            _E,
            "schema_version is not one this validator knows",
            "write the file with a released eco-collect",
        ),
        Code("schema.violation", _E, "does not conform to the submission schema", "see docs/submission-fields.md"),
        Code(
            "provenance.unpinned_version",
            _E,
            "a version is empty, 'unknown', 'latest' or a wildcard",
            "record the exact installed version",
        ),
        Code("provenance.missing_value", _E, "a provenance field holds a placeholder", "record the real value"),
        Code(
            "provenance.revision",
            _E,
            "pretrained weights without a 40-hex model revision",
            "record the commit SHA of the weights",
        ),
        Code("provenance.future_time", _E, "created_at lies in the future", "fix the clock of the measuring machine"),
        Code(
            "provenance.quantization_mismatch",
            _E,
            "quantization config does not match the precision label",
            "let eco-collect build the config",
        ),
        Code(
            "stats.too_few_trials",
            _E,
            "fewer measured trials than the protocol minimum",
            "measure at least gates.min_trials trials",
        ),
        Code(
            "stats.window",
            _E,
            "trial roles do not form warm-ups then one window of consecutive measured trials",
            "keep every trial in order; mark the gate window 'measured'",
        ),
        Code(
            "stats.mismatch",
            _E,
            "a summary value differs from the one recomputed from the trials",
            "never edit summaries by hand",
        ),
        Code(
            "stats.gate_mismatch",
            _E,
            "gate outcome or status disagrees with the recomputed gates",
            "status is ok only when every gate passes",
        ),
        Code("stats.gates_loosened", _E, "gate thresholds looser than the project's", "measure with the default gates"),
        Code(
            "physics.power_range",
            _E,
            "average power is not within (0, 1.1 x enforced limit]",
            "check the GPU index and the sampler",
        ),
        Code(
            "physics.energy_power",
            _E,
            "energy differs from average power x duration by more than 5 %",
            "check the energy source",
        ),
        Code(
            "physics.throughput", _E, "summary throughput differs from tokens / duration", "never edit trials by hand"
        ),
        Code(
            "physics.token_count",
            _E,
            "generated tokens != batch x output tokens x requests",
            "force min_new_tokens == max_new_tokens",
        ),
        Code("physics.net_energy", _E, "net energy exceeds gross energy", "idle power cannot be negative"),
        Code(
            "physics.idle_power",
            _E,
            "idle power is not below loaded power",
            "measure idle with no other load on the GPU",
        ),
        Code("physics.temperature", _E, "temperature outside 10-100 C", "check the sensor readings"),
        Code(
            "physics.per_gpu_sum", _E, "per-GPU energies do not add up to the trial energy", "never edit trials by hand"
        ),
        Code(
            "physics.counter_sampler",
            _W,
            "energy counter and integrated sampled power disagree by more than 5 %",
            "check for a second process on the GPU",
        ),
        Code(
            "protocol.engine_mismatch",
            _E,
            "engine fields contradict the named engine (cache, compiled, CUDA graph, prefill)",
            "let eco-collect record the engine",
        ),
        Code(
            "protocol.token_check",
            _E,
            "an engine other than generate() was measured without equal token ids, or generate() carries a check",
            "measure with a released eco-collect: it compares every engine's tokens with generate()'s first",
        ),
        Code(
            "protocol.stop_reason",
            _E,
            "stopped_by does not fit the status, the trial budget or the early-stop rule",
            "never edit stopped_by or the trials by hand",
        ),
        Code(
            "protocol.session_time",
            _E,
            "session wall time, created_at and the trials' start times do not add up",
            "check the clock of the measuring machine; never edit timings by hand",
        ),
        Code(
            "protocol.placement",
            _E,
            "modules placed on GPUs that were not measured, or per-GPU idle power that does not add up",
            "let eco-collect record the placement and the idle windows",
        ),
        Code("duplicate.measurement", _E, "the same measurement appears twice", "submit each measurement once"),
        Code(
            "duplicate.submission_id",
            _E,
            "submission_id already used by another file",
            "every submission needs a fresh id",
        ),
        Code(
            "history.modified",
            _E,
            "an accepted submission was modified",
            "accepted files are append-only: add a new file instead",
        ),
        Code(
            "history.deleted",
            _E,
            "an accepted submission was deleted",
            "accepted files are never removed in a PR; ask a maintainer",
        ),
        Code(
            "history.renamed", _E, "an accepted submission was renamed or moved", "keep accepted files where they are"
        ),
    ]
}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    file: str
    pointer: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "file": self.file,
            "pointer": self.pointer,
            "line": self.line,
            "message": self.message,
            "fix": CATALOGUE[self.code].fix,
        }


def make(code: str, file: str, pointer: str, message: str, line: int | None = None) -> Finding:
    """Build a finding whose severity comes from the catalogue (KeyError on an unknown code)."""
    return Finding(code, CATALOGUE[code].severity, file, pointer, message, line)
