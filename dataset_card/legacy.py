"""The researcher's published numbers, imported as they are into the separate ``legacy`` config.

Nothing is corrected: his per-trial A800 CSV and his transcribed aggregate tables keep their
values, energy basis and gaps, and every row says it did not pass our validator.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecocompute import stats

RAW = "a800_mistral7b_pure_int8_batch_size_raw_20260215_131345.csv"
RAW_META = "a800_mistral7b_pure_int8_batch_size_metadata_20260215_131345.json"
AGGREGATES = "published_aggregates.csv"
VALIDATION = "not validated: legacy data has no model revisions, no exact library versions and no idle baseline per configuration; it cannot pass eco-validate"
MISSING = {
    RAW: "model revision; transformers/bitsandbytes/accelerate/driver versions; idle power; warm-up trials",
    "COMPLETE_DATASET_MEMO.md": "model revisions; exact library versions; raw trials (aggregates only)",
    "a800_metadata.json": "model revision ('latest'); torch/transformers/bitsandbytes versions ('2.x', '4.x', '0.x'); raw trials",
    "pure_int8_metadata.json": "model revision ('latest'); raw trials",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _num(value: str, kind: type = float) -> Any:
    return kind(value) if value not in ("", None) else None


def raw_trial_rows(folder: Path) -> list[dict[str, Any]]:
    meta = json.loads((folder / RAW_META).read_text(encoding="utf-8"))
    digest = _sha256(folder / RAW)
    rows, counters = [], {}
    with (folder / RAW).open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            batch = int(r["batch_size"])
            index = counters[batch] = counters.get(batch, -1) + 1
            rows.append(
                {
                    "legacy_id": f"a800-batch-sweep-bs{batch:03d}-t{index:02d}",
                    "row_kind": "trial",
                    "source_document": RAW,
                    "source_file": f"legacy/{RAW}",
                    "source_sha256": digest,
                    "gpu": meta["gpu"],
                    "model": meta["model"].split("/")[-1],
                    "hf_path": meta["model"],
                    "params_b": None,
                    "precision": "int8-pure",
                    "batch_size": batch,
                    "output_tokens": int(meta["output_length"]),
                    "n_runs": int(meta["n_runs_per_batch"]),
                    "trial_index": index,
                    "duration_s": float(r["total_time_s"]),
                    "energy_j": float(r["total_energy_j"]),
                    "throughput_tok_s": float(r["throughput_tok_s"]),
                    "throughput_std": None,
                    "power_w": float(r["avg_power_w"]),
                    "power_std": None,
                    "energy_per_1k_tokens_j": float(r["energy_per_1k_tokens_j"]),
                    "energy_std": None,
                    "energy_basis": "gross",
                    "power_source": "NVML power polling (10 Hz per the author's documents)",
                    "missing_provenance": MISSING[RAW],
                    "validation": VALIDATION,
                }
            )
    return rows


def aggregate_rows(folder: Path) -> list[dict[str, Any]]:
    digest = _sha256(folder / AGGREGATES)
    rows = []
    with (folder / AGGREGATES).open(encoding="utf-8") as fh:
        for i, r in enumerate(csv.DictReader(fh)):
            rows.append(
                {
                    "legacy_id": f"published-aggregate-{i:03d}",
                    "row_kind": "aggregate",
                    "source_document": r["source"],
                    "source_file": f"legacy/{AGGREGATES}",
                    "source_sha256": digest,
                    "gpu": r["gpu"],
                    "model": r["model"],
                    "hf_path": r["hf_path"],
                    "params_b": _num(r["params_b"]),
                    "precision": r["precision"],
                    "batch_size": int(r["batch_size"]),
                    "output_tokens": int(r["output_tokens"]),
                    "n_runs": int(r["n_runs"]),
                    "trial_index": None,
                    "duration_s": None,
                    "energy_j": None,
                    "throughput_tok_s": _num(r["throughput_tok_s"]),
                    "throughput_std": _num(r["throughput_std"]),
                    "power_w": _num(r["power_w"]),
                    "power_std": _num(r["power_std"]),
                    "energy_per_1k_tokens_j": _num(r["energy_j_per_1k_tok"]),
                    "energy_std": _num(r["energy_std"]),
                    "energy_basis": r["energy_basis"],
                    "power_source": "NVML power polling (10 Hz per the author's documents)",
                    "missing_provenance": MISSING.get(r["source"], "model revisions; exact versions; raw trials"),
                    "validation": VALIDATION,
                }
            )
    return rows


def rows(folder: Path) -> list[dict[str, Any]]:
    return raw_trial_rows(folder) + aggregate_rows(folder)


def raw_sweep_cv(folder: Path) -> list[tuple[int, float, int]]:
    """(batch size, throughput CV %, trials) of the raw A800 sweep: checked against his "CV < 2 %"."""
    by_batch: dict[int, list[float]] = {}
    for r in raw_trial_rows(folder):
        by_batch.setdefault(r["batch_size"], []).append(r["throughput_tok_s"])
    return [(b, stats.cv_pct(v), len(v)) for b, v in sorted(by_batch.items())]


def discrepancies(folder: Path) -> list[dict[str, str]]:
    """Where the researcher's documents disagree with themselves (cited, see legacy/DISCREPANCIES.json)."""
    return json.loads((folder / "DISCREPANCIES.json").read_text(encoding="utf-8"))


# Who the legacy numbers belong to, as the seed documents say (shared/seeds 000, 001 and 003): the
# forum post's BibTeX entry, the author's two repositories and the Zenodo archive they cite.
AUTHOR = "Hongping Zhang"
REPOSITORIES = (
    "https://github.com/hongping-zh/ecocompute-ai",
    "https://github.com/hongping-zh/ecocompute-dynamic-eval",
)
REPOSITORY_LICENCE = "the README of ecocompute-dynamic-eval states 'MIT License - See LICENSE'"
BIBTEX = """@misc{zhang2026llmenergy,
  author = {Zhang, Hongping},
  title  = {LLM Energy Benchmark: Real GPU Power Measurements for Quantized Inference},
  year   = {2026},
  doi    = {10.5281/zenodo.18900289},
  url    = {https://doi.org/10.5281/zenodo.18900289}
}"""


@dataclass(frozen=True)
class Source:
    document: str
    rows: int
    licence: str  # what the copy we hold states, or that it states nothing
    citation: str


def _stated(folder: Path, document: str) -> tuple[str, str]:
    """(licence, citation) as the source file itself states them, where we hold it as JSON."""
    path = folder / (RAW_META if document == RAW else document)
    if path.suffix != ".json" or not path.is_file():
        return "not stated in what we hold (the document is not in legacy/)", ""
    meta = json.loads(path.read_text(encoding="utf-8"))
    licence = f"{meta['license']} (stated in {path.name})" if isinstance(meta.get("license"), str) else ""
    citation = meta.get("citation") if isinstance(meta.get("citation"), str) else ""
    return licence or f"not stated in {path.name}", citation


def sources(folder: Path, documents: list[str]) -> list[Source]:
    """One entry per source document of the legacy rows (``documents``: each row's source_document)."""
    counts = Counter(documents)
    return [Source(d, counts[d], *_stated(folder, d)) for d in sorted(counts)]
