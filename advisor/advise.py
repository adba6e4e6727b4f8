"""The answer to "at which precision, engine and batch size should I run a model of N parameters on
this GPU to spend the least energy, and what does it cost?", from measured rows only.

Close match: a measured configuration answers the question when it ran on the named GPU model (the
NVML name; other boards never stand in), with the asked engine and batch size when given, on a model
whose parameter count is within a factor ``max_params_ratio`` (default 1.5) of the asked one. The
measured size nearest the asked one is used; configurations of that size are ranked by energy per
token. Without a close match there is no recommendation: the answer says what is nearest and why it
does not count. A fitted ratio at the asked size is shown only inside the fit's measured sizes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ecocompute import catalogue, reference
from ecocompute.cli import EcoError, OptionError, printable
from ecocompute.names import L, M

from . import estimate, text
from .analysis import Analysis, Config, Curve, Point, precision_rank
from .estimate import LogEstimate

DEFAULT_MAX_PARAMS_RATIO = 1.5
MAX_NAMES_SHOWN = 20  # GPU names listed where --gpu matches none; the rest are counted
_PARAMS = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([kKmMbBtT]?)\s*$")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


class AdviceError(EcoError):
    """A question the advisor cannot take as asked (an ambiguous GPU name, an unreadable size)."""


class GpuNameError(AdviceError, OptionError):
    """A --gpu that is empty, or matches several GPUs or none: a usage error (exit 2)."""


def parse_params(value: str) -> float:
    """A parameter count: 7e9, 7000000000, 7B, 7.2b, 494M."""
    match = _PARAMS.match(value)
    if match is None:
        raise AdviceError(f"parameter count {printable(value)!r} is not a number like 7e9, 7B or 494M")
    count = float(match.group(1)) * _SCALE[match.group(2).lower()]
    if not math.isfinite(count) or count < 1:
        raise AdviceError(f"parameter count {printable(value)!r} must be a finite number of at least 1")
    return count


@dataclass(frozen=True)
class Query:
    gpu: str
    params: float
    batch_size: int | None = None
    engine: str | None = None
    max_params_ratio: float = DEFAULT_MAX_PARAMS_RATIO


@dataclass(frozen=True)
class FitAt:
    """A curve on the asked GPU and its fitted ratio at the asked size (None: outside its sizes)."""

    curve: Curve
    at: LogEstimate | None


@dataclass(frozen=True)
class Advice:
    query: Query
    analysis: Analysis
    gpu_name: str | None  # the dataset's or the table's name the query resolved to
    no_close_match: str | None  # why there is no recommendation
    ranked: tuple[Config, ...]  # the configurations of the nearest measured size, least energy first
    margin: LogEstimate | None  # runner-up's energy per token over the recommendation's
    best_per_batch: tuple[Config, ...]
    also_close: tuple[Config, ...]  # the best configuration of each other close size
    fits: tuple[FitAt, ...]
    legacy: tuple[Point, ...]  # legacy ratios on this GPU within the size factor
    legacy_fits: tuple[FitAt, ...]
    notes: tuple[str, ...]

    @property
    def recommendation(self) -> Config | None:
        return self.ranked[0] if self.ranked and self.no_close_match is None else None


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def gpu_query(query: str) -> str:
    """``query`` as ``resolve_gpu`` compares it (lowercase letters and digits); GpuNameError when nothing
    is left, a name no dataset can resolve."""
    wanted = _norm(query)
    if not wanted:
        raise GpuNameError("--gpu is empty; give an NVML name such as 'NVIDIA H100 80GB HBM3' or a part like 'H100'")
    return wanted


def resolve_gpu(query: str, names: Iterable[str]) -> str | None:
    """The one name ``query`` means: equal ignoring case and punctuation, else the one name ending with
    it, else the one containing it. None when nothing matches; AdviceError when several do."""
    wanted = gpu_query(query)
    pool = sorted(set(names))
    for test in (str.__eq__, str.endswith, str.__contains__):
        found = [n for n in pool if test(_norm(n), wanted)]
        if len(found) == 1:
            return found[0]
        if found:
            shown = ", ".join(repr(printable(n)) for n in found[:10])
            raise GpuNameError(f"--gpu {printable(query)!r} matches several GPUs: {shown}; give more of the name")
    return None


def check_gpu(query: str, names: Iterable[str], source: str) -> None:
    """GpuNameError unless ``query`` names one GPU of ``names`` (a dataset's) or of the GPU table: run on the
    dataset's names as soon as they are read (data.load's ``gpus``), before its trials and the analysis."""
    names = set(names)
    if not names:  # nothing to judge by: ``recommend`` says the dataset holds no rows
        return
    if resolve_gpu(query, names) is None and resolve_gpu(query, reference.default().gpus) is None:
        raise GpuNameError(f"--gpu: {_unknown_gpu(query, names, source)}")


def _unknown_gpu(query: str, names: Iterable[str], source: str) -> str:
    shown = sorted(printable(n, limit=80) for n in set(names))  # a dataset may hold any number of them
    known = ", ".join(shown[:MAX_NAMES_SHOWN])
    if len(shown) > MAX_NAMES_SHOWN:
        known += f" and {len(shown) - MAX_NAMES_SHOWN} more"
    return f"no GPU called {printable(query)!r} in {printable(source)} or the GPU table; give one it holds: {known}"


def _distance(count: float, params: float) -> float:
    return abs(math.log(count / params))


def recommend(analysis: Analysis, query: Query) -> Advice:
    if not analysis.measurements and not analysis.legacy_rows:
        # Else --gpu is judged against the GPU table alone: 'H100' was "ambiguous" (exit 2), the data's fault.
        raise AdviceError(
            f"{printable(analysis.source)} holds no rows (no measurement, no legacy row): nothing to recommend "
            "from; give a dataset eco-dataset build wrote from accepted submissions"
        )
    measured_names = {m[M.gpu_name] for m in analysis.measurements} | {r[L.gpu] for r in analysis.legacy_rows}
    gpu = resolve_gpu(query.gpu, measured_names) or resolve_gpu(query.gpu, reference.default().gpus)
    legacy = tuple(
        p
        for c in analysis.legacy_curves
        if gpu is not None and _norm(c.gpu_name) == _norm(gpu)
        for p in c.points
        if _distance(p.parameter_count, query.params) <= math.log(query.max_params_ratio)
    )
    legacy_fits = _fits(
        [c for c in analysis.legacy_curves if gpu is not None and _norm(c.gpu_name) == _norm(gpu)], query
    )
    empty = Advice(query, analysis, gpu, None, (), None, (), (), (), legacy, legacy_fits, ())
    if gpu is None:
        return _without(empty, _unknown_gpu(query.gpu, measured_names, analysis.source))
    on_gpu = [c for c in analysis.configs if c.gpu_name == gpu]
    candidates = [
        c
        for c in on_gpu
        if (query.engine is None or c.engine == query.engine)
        and (query.batch_size is None or c.batch_size == query.batch_size)
    ]
    curves = [
        c
        for c in analysis.curves
        if c.gpu_name == gpu
        and (query.engine is None or c.engine == query.engine)
        and (query.batch_size is None or c.batch_size == query.batch_size)
    ]
    if not candidates:
        return _without(_with_fits(empty, curves, query), _nothing_on_gpu(analysis, gpu, on_gpu))
    nearest = min(_distance(c.parameter_count, query.params) for c in candidates)
    if nearest > math.log(query.max_params_ratio):
        sizes = sorted(
            {(c.parameter_count, c.model_id) for c in candidates}, key=lambda s: _distance(s[0], query.params)
        )
        shown = ", ".join(f"{text.params(n)} ({printable(m)})" for n, m in sizes[:2])
        reason = (
            f"no model within a factor {query.max_params_ratio:g} of {text.params(query.params)} parameters was "
            f"measured on {printable(gpu)} under these filters; nearest: {shown}. Not extrapolated."
        )
        return _without(_with_fits(empty, curves, query), reason)
    size = min((c.parameter_count for c in candidates), key=lambda n: _distance(n, query.params))
    ranked = tuple(sorted((c for c in candidates if c.parameter_count == size), key=_rank))
    margin = estimate.ratio(ranked[1].energy_per_token, ranked[0].energy_per_token) if len(ranked) > 1 else None
    per_batch = {}
    for c in ranked:
        per_batch.setdefault(c.batch_size, c)
    close_sizes = sorted(
        {
            c.parameter_count
            for c in candidates
            if _distance(c.parameter_count, query.params) <= math.log(query.max_params_ratio)
        }
        - {size}
    )
    also = tuple(min((c for c in candidates if c.parameter_count == n), key=_rank) for n in close_sizes)
    best = ranked[0]
    shown_curves = [c for c in curves if c.engine == best.engine and c.batch_size == best.batch_size]
    return Advice(
        query,
        analysis,
        gpu,
        None,
        ranked,
        margin,
        tuple(per_batch[b] for b in sorted(per_batch)) if query.batch_size is None else (),
        also,
        _fits(shown_curves, query),
        legacy,
        legacy_fits,
        tuple(_notes(ranked)),
    )


def _rank(c: Config) -> tuple[Any, ...]:
    return (c.energy_per_token.log, precision_rank(c.precision), c.engine, c.batch_size, c.model_id)


def _fits(curves: Sequence[Curve], query: Query) -> tuple[FitAt, ...]:
    x = math.log10(query.params)
    out = []
    for c in curves:
        inside = c.line is not None and c.line.log10_range[0] <= x <= c.line.log10_range[1]
        out.append(FitAt(c, c.line.at(x) if inside and c.line is not None else None))
    return tuple(out)


def _with_fits(advice: Advice, curves: Sequence[Curve], query: Query) -> Advice:
    """Fits whose measured sizes contain the asked one: interpolation, labelled, never a recommendation."""
    return replace(advice, fits=tuple(f for f in _fits(curves, query) if f.at is not None))


def _without(advice: Advice, reason: str) -> Advice:
    return replace(advice, no_close_match=reason, ranked=())


def _nothing_on_gpu(analysis: Analysis, gpu: str, on_gpu: list[Config]) -> str:
    name = printable(gpu)
    if not on_gpu:
        rows = [m for m in analysis.measurements if m[M.gpu_name] == gpu and m[M.energy_per_token_j] is not None]
        if rows:
            statuses = ", ".join(
                f"{sum(m[M.status] == s for m in rows)} {printable(s)}" for s in sorted({m[M.status] for m in rows})
            )
            return (
                f"{len(rows)} row(s) on {name} ({statuses}), none admitted (statuses used: "
                f"{', '.join(analysis.statuses)}); --include-gate-failed shows what gate-failed rows say"
            )
        if any(_norm(r[L.gpu]) == _norm(gpu) for r in analysis.legacy_rows):
            return f"no validated measurement on {name}; only legacy rows (not validated, shown below, never used)"
        return f"no measurement on {name} in this dataset"
    engines = ", ".join(sorted({printable(c.engine) for c in on_gpu}))
    batches = ", ".join(str(b) for b in sorted({c.batch_size for c in on_gpu}))
    return f"no admitted row on {name} with these filters; measured there: engines {engines}; batch sizes {batches}"


def _notes(configs: Sequence[Config]) -> list[str]:
    """Caveats of the compared configurations."""
    notes = []
    if any(s == catalogue.STATUS_GATE_FAILED for c in configs for s in c.statuses):
        notes.append("gate_failed rows are part of this answer (--include-gate-failed): their spread broke the gates")
    if any(c.weights == "random_init" and c.precision == "int8" for c in configs):
        notes.append(
            "int8 (LLM.int8(), threshold 6.0) on random weights splits fewer outlier columns than trained weights: "
            "its cost is under-stated in the rows compared here"
        )
    if len({c.output_tokens for c in configs}) > 1:
        notes.append("the compared rows generated different numbers of tokens per sequence")
    return notes
