"""Test helper: translate the researcher's legacy files field by field into our submission format.

Nothing is corrected or invented beyond what the format needs to be parseable: a value he did not
record becomes "not recorded"; aggregate-only rows become the single trial they amount to.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import synthetic

from ecocompute import gates, stats
from ecocompute.domain import Trial

LEGACY = Path(__file__).resolve().parents[1] / "legacy"
NOT_RECORDED = "not recorded"
_GPU_OF_FILE = {
    "rtx4090d_metadata.json": "NVIDIA GeForce RTX 4090 D",
    "rtx5090_metadata.json": "NVIDIA GeForce RTX 5090",
    "a800_metadata.json": "NVIDIA A800 80GB",
    "pure_int8_metadata.json": "NVIDIA GeForce RTX 4090 D",
}


def _dig(data: Any, *paths: str) -> str:
    for path in paths:
        node = data
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (str, int, float)):
            return str(node)
    return NOT_RECORDED


def _software(meta: dict[str, Any]) -> dict[str, str]:
    sw = meta.get("software", {})
    return {
        "python": _dig(sw, "python.version"),
        "torch": _dig(sw, "deep_learning_framework.pytorch", "pytorch.version")
        if sw
        else _dig(meta, "pytorch_version"),
        "torch_cuda": _dig(sw, "deep_learning_framework.cuda", "pytorch.cuda_version")
        if sw
        else _dig(meta, "cuda_version"),
        "transformers": _dig(sw, "libraries.transformers", "transformers.version"),
        "bitsandbytes": _dig(sw, "libraries.bitsandbytes", "bitsandbytes.version"),
        "accelerate": _dig(sw, "libraries.accelerate", "accelerate.version"),
        "tokenizers": _dig(sw, "libraries.tokenizers", "tokenizers.version"),
        "huggingface_hub": _dig(sw, "libraries.huggingface_hub", "huggingface_hub.version"),
        "nvidia_ml_py": _dig(sw, "libraries.pynvml", "nvml.version"),
    }


def _revisions(meta: dict[str, Any]) -> dict[str, str]:
    models = meta.get("models") or meta.get("models_tested") or [meta.get("model_tested") or {}]
    out = {}
    for m in models:
        path = m.get("repository") or m.get("huggingface_path")
        if path:
            out[path] = m.get("commit_hash", NOT_RECORDED)
    return out


def _trial(index: int, duration_s: float, tokens: int, power_w: float, energy_j: float) -> dict[str, Any]:
    return {
        "index": index,
        "role": "measured",
        "requests": 1,
        "duration_s": duration_s,
        "generated_tokens": tokens,
        "energy_j": energy_j,
        "energy_per_gpu_j": [energy_j],
        "power_avg_w": power_w,
        "power_peak_w": power_w,
        "power_samples": int(duration_s * 10),
        "sample_rate_hz": 10.0,
        "sampler_energy_j": None,
        "temperature_max_c": 50.0,
        "sm_clock_mhz_mean": 0.0,
        "mem_clock_mhz_mean": 0.0,
        "throttle_reasons": [],
        "host": {"cpu_load_1m": None, "cpu_steal_pct": None},
    }


def _measurement(model: str, revision: str, precision: str, batch: int, trials: list[dict[str, Any]]) -> dict[str, Any]:
    idle = {"power_before_w": 0.0, "power_after_w": None}  # not recorded per configuration
    summary = stats.summarize([Trial.from_dict(t) for t in trials], 0.0)
    return {
        "model": {
            "id": model,
            "revision": revision,
            "weights": "pretrained",
            "parameter_count": 1,
            "model_type": NOT_RECORDED,
        },
        "precision": precision,
        "quantization": synthetic.quantization(precision)
        | ({"llm_int8_threshold": 0.0} if precision == "int8-pure" else {}),
        "engine": {"cache_implementation": "dynamic", "compiled": False, "attn_implementation": NOT_RECORDED},
        "batch_size": batch,
        "status": "ok",  # his documents present every row as valid
        "idle": idle,
        "trials": trials,
        "summary": summary.to_dict() if summary else None,
        "gate": {"passed": True, "failed": []},
        "quality": None,
        "notes": [],
    }


def _envelope(meta: dict[str, Any], gpu: str, output_tokens: int, measurements: list[dict[str, Any]]) -> dict[str, Any]:
    doc = synthetic.submission(seed=0, n_measurements=1)
    doc.update(
        schema_version="1.0.0",  # the researcher recorded no 1-s average power field (added in 1.1.0)
        submission_id="legacy-translation",
        collector={"name": "legacy-translation", "version": "1.0"},
        measurements=measurements,
    )
    doc["environment"]["gpu"]["name"] = gpu
    doc["environment"]["gpu"]["uuid_sha256"] = hashlib.sha256(gpu.encode()).hexdigest()
    doc["environment"]["software"] = _software(meta)
    doc["environment"]["driver"]["driver_version"] = _dig(meta, "hardware.gpu.driver_version")
    doc["environment"]["host"]["cpu_model"] = _dig(meta, "hardware.cpu.model")
    doc["protocol"]["output_tokens"] = output_tokens
    doc["protocol"]["gates"] = gates.DEFAULT_GATES.as_dict()
    return doc


def from_aggregates(metadata_file: str) -> dict[str, Any]:
    """Published aggregate rows of one document: one trial per row (the mean is all there is)."""
    meta = json.loads((LEGACY / metadata_file).read_text(encoding="utf-8"))
    gpu = _GPU_OF_FILE[metadata_file]
    revisions = _revisions(meta)
    with (LEGACY / "published_aggregates.csv").open(encoding="utf-8") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["gpu"].startswith(gpu[:20])
            and (
                r["source"] == metadata_file
                or (r["source"] == "COMPLETE_DATASET_MEMO.md" and metadata_file.startswith("rtx") and r["gpu"] == gpu)
            )
        ]
    measurements = []
    for r in rows:
        tokens = int(r["batch_size"]) * int(r["output_tokens"])
        duration = tokens / float(r["throughput_tok_s"])
        energy = float(r["energy_j_per_1k_tok"]) * tokens / 1000.0
        trial = _trial(0, duration, tokens, float(r["power_w"]), energy)
        measurements.append(
            _measurement(
                r["hf_path"], revisions.get(r["hf_path"], NOT_RECORDED), r["precision"], int(r["batch_size"]), [trial]
            )
        )
    return _envelope(meta, gpu, int(rows[0]["output_tokens"]), measurements)


def from_a800_raw() -> dict[str, Any]:
    """The A800 batch-size sweep: 10 raw trials per batch size."""
    stem = "a800_mistral7b_pure_int8_batch_size_{}_20260215_131345"
    meta = json.loads((LEGACY / (stem.format("metadata") + ".json")).read_text(encoding="utf-8"))
    by_batch: dict[int, list[dict[str, Any]]] = {}
    with (LEGACY / (stem.format("raw") + ".csv")).open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            trials = by_batch.setdefault(int(r["batch_size"]), [])
            trials.append(
                _trial(
                    len(trials),
                    float(r["total_time_s"]),
                    int(r["tokens_generated"]),
                    float(r["avg_power_w"]),
                    float(r["total_energy_j"]),
                )
            )
    measurements = [_measurement(meta["model"], NOT_RECORDED, "int8-pure", b, t) for b, t in sorted(by_batch.items())]
    return _envelope(meta, meta["gpu"], meta["output_length"], measurements)
