"""eco-advise's answer as text for people and as JSON for tools: the same content, collected once.

Every string that comes from the data is escaped (``printable``) in text; JSON escapes by itself.
"""

from __future__ import annotations

import json
from typing import Any

from ecocompute.cli import printable
from ecocompute.names import M

from . import text
from .advise import Advice, FitAt
from .analysis import LEGACY, Config, Point, per_model
from .estimate import LogEstimate

CLOSE_RULE = (
    "A measured configuration is a close match when it ran on the same GPU model (NVML name), with the "
    "asked engine and batch size when given, on a model whose parameter count is within a factor of "
    "{factor:g} of the asked one; the nearest such size is ranked by energy per token. Nothing is "
    "extrapolated: without a close match there is no recommendation."
)


def _estimate(e: LogEstimate | None, confidence: float) -> dict[str, Any] | None:
    if e is None:
        return None
    bounds = e.interval(confidence)
    return {
        "value": e.value,
        "low": text.finite(bounds[0]) if bounds else None,
        "high": text.finite(bounds[1]) if bounds else None,
        "dof": text.finite(e.dof),
    }


def _config(c: Config, confidence: float) -> dict[str, Any]:
    return {
        "gpu_name": c.gpu_name,
        "model_id": c.model_id,
        "weights": c.weights,
        "parameter_count": c.parameter_count,
        "precision": c.precision,
        "engine": c.engine,
        "batch_size": c.batch_size,
        "output_tokens": c.output_tokens,
        "measurement_ids": list(c.measurement_ids),
        "statuses": list(c.statuses),
        "energy_per_token_j": _estimate(c.energy_per_token, confidence),
        "energy_per_1k_tokens_j": 1000 * c.energy_per_token.value,
        "energy_per_sequence_j": c.energy_per_sequence_j,
        "throughput_tok_s": c.throughput_tok_s,
        "power_w": c.power_w,
        "energy_vs_fp16": _estimate(c.vs_fp16, confidence),
    }


def _point(p: Point, confidence: float) -> dict[str, Any]:
    return {
        "row_id": p.row_id,
        "reference_id": p.reference_id,
        "source": p.source,
        "gpu_name": p.gpu_name,
        "model_id": p.model_id,
        "parameter_count": p.parameter_count,
        "precision": p.precision,
        "engine": p.engine,
        "batch_size": p.batch_size,
        "output_tokens": p.output_tokens,
        "energy_basis": p.basis,
        "status": p.status,
        "reference_status": p.reference_status,
        "energy_vs_fp16": _estimate(p.ratio, confidence),
        "used": p.used,
    }


def _fit(f: FitAt, confidence: float) -> dict[str, Any]:
    c = f.curve
    cross = c.crossover
    return {
        "source": c.source,
        "gpu_name": c.gpu_name,
        "engine": c.engine,
        "batch_size": c.batch_size,
        "output_tokens": c.output_tokens,
        "energy_basis": c.basis,
        "precision": c.precision,
        "points_used": len(c.used),
        "ratio_at_asked_size": _estimate(f.at, confidence),
        "crossover": {
            "kind": cross.kind,
            "parameters": cross.params,
            "low": cross.low,
            "high": cross.high,
            "saves": cross.saves,
            "band_excludes_one": cross.confident if cross.kind == "none_in_range" else None,
            "measured": list(cross.measured) if cross.measured else None,
            "text": text.crossover(c, confidence),
        },
    }


def evidence(advice: Advice) -> list[dict[str, Any]]:
    """The measured rows behind the answer: the recommendation's and the runner-up's, and the fp16 rows
    their ratios divide by."""
    a, confidence = advice.analysis, advice.analysis.confidence
    by_id = {m[M.measurement_id]: m for m in a.measurements}
    wanted: list[str] = []
    for c in advice.ranked[:2]:
        for mid in c.measurement_ids:
            point = a.ratios.get(mid)
            wanted += [mid] + ([point.reference_id] if point else [])
    out = []
    for mid in dict.fromkeys(wanted):
        m, point = by_id[mid], a.ratios.get(mid)
        out.append(
            {
                "measurement_id": mid,
                "submission_id": m[M.submission_id],
                "gpu_name": m[M.gpu_name],
                "model_id": m[M.model_id],
                "weights": m[M.weights],
                "parameter_count": m[M.parameter_count],
                "precision": m[M.precision],
                "engine": m[M.engine],
                "batch_size": m[M.batch_size],
                "output_tokens": m[M.output_tokens],
                "status": m[M.status],
                "gate_failed": m[M.gate_failed],
                "trials_measured": m[M.trials_measured],
                "energy_per_token_j": _estimate(a.energies[mid], confidence),
                "energy_per_request_j": m[M.energy_per_request_j],
                "throughput_tok_s": m[M.throughput_tok_s],
                "power_w": m[M.power_w],
                "energy_vs_fp16": _estimate(point.ratio, confidence) if point else None,
                "fp16_reference_id": point.reference_id if point else None,
            }
        )
    return out


def to_json(advice: Advice) -> dict[str, Any]:
    a, q, confidence = advice.analysis, advice.query, advice.analysis.confidence
    best = advice.recommendation
    return {
        "query": {
            "gpu": q.gpu,
            "params": q.params,
            "batch_size": q.batch_size,
            "engine": q.engine,
            "max_params_ratio": q.max_params_ratio,
        },
        "dataset": a.source,
        "statuses_used": list(a.statuses),
        "confidence": confidence,
        "method": text.METHOD,
        "close_match_rule": CLOSE_RULE.format(factor=q.max_params_ratio),
        "gpu_name": advice.gpu_name,
        "recommendation": _config(best, confidence) if best else None,
        "no_close_match": advice.no_close_match,
        "runner_up_energy_ratio": _estimate(advice.margin, confidence),
        "ranked": [_config(c, confidence) for c in advice.ranked],
        "best_per_batch_size": [_config(c, confidence) for c in advice.best_per_batch],
        "other_close_sizes": [_config(c, confidence) for c in advice.also_close],
        "evidence": evidence(advice),
        "fits": [_fit(f, confidence) for f in advice.fits],
        "legacy": {
            "note": "legacy rows did not pass eco-validate; shown beside the answer, never used in it",
            "ratios": [_point(p, confidence) for p in advice.legacy],
            "fits": [_fit(f, confidence) for f in advice.legacy_fits],
        },
        "notes": list(advice.notes),
    }


def json_text(advice: Advice) -> str:
    """The answer for tools: keys sorted, as eco-validate's JSON report and the submission files write them."""
    return json.dumps(to_json(advice), indent=2, sort_keys=True, ensure_ascii=True, allow_nan=False)


def _what(c: Config) -> str:
    return f"{printable(c.precision)}, engine {printable(c.engine)}, batch size {c.batch_size}"


def _request_source(c: Config) -> str:
    """What the J-per-request figure is: one row's energy_per_request_j, or (several rows of one configuration
    pooled, as its J/token is) an estimate no row of the dataset states."""
    n = len(c.measurement_ids)
    return (
        "the dataset's energy_per_request_j"
        if n == 1
        else f"pooled over {n} rows; each states its own energy_per_request_j"
    )


def _table(configs: tuple[Config, ...], confidence: float) -> list[str]:
    lines = [
        f"  {'precision':<10} {'engine':<16} {'batch':>5}  {'J/token [' + text.pct(confidence) + ']':<30} {'vs fp16':<30} statuses"
    ]
    for c in configs:
        vs = (
            text.change(c.vs_fp16, confidence) if c.vs_fp16 else "reference" if c.precision == "fp16" else "no fp16 row"
        )
        lines.append(
            f"  {printable(c.precision):<10} {printable(c.engine):<16} {c.batch_size:>5}  "
            f"{text.with_interval(c.energy_per_token, confidence):<30} {vs:<30} {printable(','.join(c.statuses))}"
        )
    return lines


def render_text(advice: Advice) -> str:
    a, q, confidence = advice.analysis, advice.query, advice.analysis.confidence
    where = f"engine {printable(q.engine)}" if q.engine else "any engine"
    batch = f"batch size {q.batch_size}" if q.batch_size else "any batch size"
    lines = [
        f"eco-advise: {printable(advice.gpu_name or q.gpu)}, {text.params(q.params)} parameters, {where}, {batch}",
        f"dataset: {printable(a.source)}; rows used: status {' or '.join(a.statuses)} ({a.admitted} of "
        f"{len(a.measurements)} rows)",
        "",
    ]
    best = advice.recommendation
    if best is None:
        lines += [f"No close match: {advice.no_close_match}", ""]
    else:
        lines += [
            f"Recommendation: {_what(best)} ({printable(best.model_id)}, {text.params(best.parameter_count)}, "
            f"{printable(best.weights)} weights)",
            f"  energy (gross: idle power included) {text.with_interval(best.energy_per_token, confidence)} J/token"
            f" = {text.number(1000 * best.energy_per_token.value)} J per 1k tokens; "
            f"{text.number(best.energy_per_sequence_j)} J per sequence of {best.output_tokens} tokens, "
            f"{text.number(best.energy_per_sequence_j * best.batch_size)} J per request of {best.batch_size} "
            f"({_request_source(best)})",
            f"  throughput {text.number(best.throughput_tok_s)} tok/s at {text.number(best.power_w)} W",
        ]
        if best.vs_fp16 is not None:
            lines.append(
                f"  vs fp16 on the same engine and batch size: {text.change(best.vs_fp16, confidence)} "
                f"({text.verdict(best.vs_fp16, confidence)})"
            )
        if advice.margin is not None:
            runner = advice.ranked[1]
            lines.append(
                f"  runner-up {_what(runner)}: {text.change(advice.margin, confidence)} energy per token "
                f"({'distinguishable' if text.verdict(advice.margin, confidence) == 'costs' else 'not distinguishable'} "
                f"at {text.pct(confidence)})"
            )
        lines += ["", f"Configurations measured at {text.params(best.parameter_count)}, least energy first:"]
        lines += _table(advice.ranked, confidence)
        if advice.best_per_batch:
            lines += ["", "Best per batch size:", *_table(advice.best_per_batch, confidence)]
        if advice.also_close:
            lines += ["", "Best at the other close sizes:"]
            lines += [
                f"  {text.params(c.parameter_count)} ({printable(c.model_id)}): {_what(c)}, "
                f"{text.with_interval(c.energy_per_token, confidence)} J/token"
                for c in advice.also_close
            ]
        lines += ["", "Rows behind it:"]
        for r in evidence(advice):
            ratio = r["energy_vs_fp16"]
            vs = (
                f"; vs fp16 {text.number(ratio['value'])} [{text.number(ratio['low'])}-{text.number(ratio['high'])}] "
                f"over {text.short_id(r['fp16_reference_id'])}"
                if ratio and ratio["low"] is not None
                else ""
            )
            e = r["energy_per_token_j"]
            lines.append(
                f"  {text.short_id(r['measurement_id'])} {printable(r['precision'])} {printable(r['engine'])} "
                f"b{r['batch_size']} {printable(r['status'])}"
                + (f" ({printable(r['gate_failed'])})" if r["gate_failed"] else "")
                + f", {r['trials_measured']} trials: {text.number(e['value'])} J/token "
                f"[{text.number(e['low'])}-{text.number(e['high'])}]{vs}"
            )
    lines += _fits_text("Fits on this GPU", advice.fits, q, confidence)
    if advice.legacy or advice.legacy_fits:
        lines += ["", "Legacy (not validated; shown beside, never used above):"]
        lines += [
            f"  {printable(p.row_id)} {printable(p.model_id)} {text.params(p.parameter_count)} "
            f"{printable(p.precision)} b{p.batch_size} ({printable(p.basis)} energy): vs fp16 "
            f"{text.change(p.ratio, confidence)}"
            for p in advice.legacy
        ]
        lines += _fits_text("  legacy fits", advice.legacy_fits, q, confidence)[1:]
    lines += [""] + [f"Note: {n}" for n in advice.notes]
    lines += [f"Close match: {CLOSE_RULE.format(factor=q.max_params_ratio)}", f"Method: {text.METHOD}"]
    return "\n".join(lines) + "\n"


def _fits_text(title: str, fits: tuple[FitAt, ...], q: Any, confidence: float) -> list[str]:
    if not fits:
        return []
    lines = ["", f"{title}:"]
    for f in fits:
        c = f.curve
        where = "legacy tables" if c.source == LEGACY else f"engine {printable(c.engine)}"
        if f.at is not None:
            at = f"fitted ratio at {text.params(q.params)} {text.change(f.at, confidence)}; "
        elif c.line is not None:
            at = f"{text.params(q.params)} is outside the fitted sizes; "
        else:
            at = ""
        lines.append(
            f"  {printable(c.precision)}, {where}, batch {c.batch_size} ({len(c.used)} rows used, {len(per_model(c.points))} models): {at}"
            f"{text.crossover(c, confidence)}"
        )
    return lines
