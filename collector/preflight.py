"""Before anything is measured: what eco-validate refuses in any file of this machine, whatever its trials.

The board unknown to the reference tables or contradicting them (reference.unknown_gpu, gpu_mismatch: an
architecture that nvidia-ml-py cannot name), a driver or package the validator refuses, a power limit no
such board has, text no file may hold, a protocol no release writes (the library entry's seed): all of it
lies in the file's environment, collector and protocol sections, which are set before the run and never
change during it. Each was found when the finished file was
checked, after the whole run. eco-validate judges them here on the file the run would write were none of
its configurations measured (each written as eco-collect writes a skipped one): its findings there are the
finished file's, and the rest (those rows) is left aside.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ecocompute import catalogue
from ecocompute.cli import printable
from ecocompute.domain import Engine, Environment, Measurement
from validator.findings import CATALOGUE

from . import submission
from .errors import CollectError
from .models import ModelSource
from .request import RunRequest
from .workload import Prompt

# Where a finding concerns the machine, the collector and its protocol alone: the parts of the file fixed
# before the run. Whether it interleaves is decided later; the one row here alternates with nothing either way.
FIXED = ("/environment", "/collector", "/protocol")
NOT_YET = "not measured yet"


def provisional(
    request: RunRequest,
    source: ModelSource,
    environment: Environment,
    protocol: Any,
    now: datetime,
) -> dict[str, Any]:
    """The file this run writes, were its first configuration skipped before any trial (as one that does not
    fit in memory is written): the machine's sections as they will be, one row that no check judges here."""
    precision, engine, batch = request.precisions[0], request.engines[0], request.batch_sizes[0]
    row = Measurement(
        model=source.describe(),
        precision=precision,
        quantization=source.quantization(precision),
        engine=Engine.of(catalogue.REFERENCE_ENGINE if engine == "auto" else engine, "not loaded"),
        batch_size=batch,
        status=catalogue.STATUS_SKIPPED,
        idle=None,
        trials=(),
        summary=None,
        gate=None,
        quality=None,
        notes=(),
        skip_reason=NOT_YET,
    )
    return submission.assemble(
        request=request,
        environment=environment,
        protocol=protocol,
        measurements=[row],
        started_at=now,
        finished_at=now,
        wall_s=1.0,
    ).to_dict()


def check(
    request: RunRequest,
    source: ModelSource,
    environment: Environment,
    prompt: Prompt,
    energy_method: str,
    power_reading: str,
    now: datetime,
) -> None:
    """Refuse, before anything is measured, a run whose file eco-validate refuses for the machine alone."""
    protocol = submission.protocol(request, prompt, energy_method, power_reading, interleaved=False)
    doc = provisional(request, source, environment, protocol, now)
    errors = [e for e in submission.error_findings(doc) if e.pointer.startswith(FIXED)]
    if errors:
        first = errors[0]
        raise CollectError(
            f"eco-validate refuses every file of this machine as it stands ({len(errors)} error(s), first: "
            f"{first.code} {first.pointer}: {printable(first.message, limit=300)}; fix: {CATALOGUE[first.code].fix})"
            "; nothing measured"
        )
