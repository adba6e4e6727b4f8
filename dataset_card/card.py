"""Render the dataset card (README.md) from the template: YAML front matter plus the body."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import pyarrow as pa
import yaml
from datasets import Features

from ecocompute.columns import CONFIGS
from ecocompute.gates import DEFAULT_GATES

from .writer import PARQUET_NAME

PRETTY_NAME = "ecocompute LLM inference energy"
_UNITS = {
    "_j": "J",
    "_w": "W",
    "_s": "s",
    "_tok_s": "tokens/s",
    "_pct": "%",
    "_mib": "MiB",
    "_gib": "GiB",
    "_c": "°C",
    "_mhz": "MHz",
    "_hz": "Hz",
}
_DESCRIPTIONS = {
    "measurement_id": "sha256 of GPU identity and the whole measurement: stable row id",
    "energy_per_1k_tokens_j": "gross energy per 1,000 generated tokens (mean over the gate window)",
    "net_energy_per_1k_tokens_j": "energy per 1,000 tokens minus idle power x duration",
    "energy_per_request_j": "gross energy of one generate() call over the batch",
    "net_energy_per_request_j": "idle-net energy of one generate() call over the batch",
    "energy_vs_fp16": "energy per token relative to the matching fp16 row",
    "throughput_vs_fp16": "throughput relative to the matching fp16 row",
    "power_reading": "sampler power source: NVML's instant field, or the power-usage reading (a 1-s average on Ampere+); null before schema 1.1.0",
    "power_nvml_avg_1s_w": "mean of NVML's 1-s average power field over the trial; null before schema 1.1.0 or where unsupported",
    "counter_sampler_disagreement_pct_max": "largest |sampler - counter| / counter over the window",
    "status": "ok (gates passed), gate_failed (data kept) or skipped (see skip_reason)",
    "gate_failed": "comma-separated failed gates",
    "weights": "pretrained, or random_init (architecture only)",
    "role": "warmup, discarded (outside the gate window) or measured (the gate window)",
    "energy_basis": "gross, or net (idle-subtracted) as published",
    "row_kind": "trial (raw CSV row) or aggregate (published table row)",
}


def size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


def features_yaml(schema: pa.Schema) -> list[dict[str, Any]]:
    return Features.from_arrow_schema(schema)._to_yaml_list()


def front_matter(counts: dict[str, int], sizes: dict[str, int]) -> str:
    data = {
        "license": "cc-by-4.0",
        "pretty_name": PRETTY_NAME,
        "language": ["en"],
        "tags": ["energy", "gpu", "llm", "inference", "quantization", "bitsandbytes", "nvml", "green-ai"],
        "size_categories": [size_category(counts["measurements"])],
        "configs": [
            {
                "config_name": name,
                "data_files": [{"split": "train", "path": f"{name}/{PARQUET_NAME}"}],
                **({"default": True} if name == "measurements" else {}),
            }
            for name in CONFIGS
        ],
        "dataset_info": [
            {
                "config_name": name,
                "features": features_yaml(schema),
                "splits": [{"name": "train", "num_bytes": sizes[name], "num_examples": counts[name]}],
            }
            for name, schema in CONFIGS.items()
        ],
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000).strip()


def _unit(column: str) -> str:
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if column.endswith(suffix):
            return _UNITS[suffix]
    return ""


def columns_section() -> str:
    parts = []
    for name, schema in CONFIGS.items():
        parts += [f"### `{name}`", "", "| column | type | unit | meaning |", "|---|---|---|---|"]
        for f in schema:
            parts.append(f"| `{f.name}` | {f.type} | {_unit(f.name)} | {_DESCRIPTIONS.get(f.name, '')} |")
        parts.append("")
    return "\n".join(parts).rstrip()


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def counts_section(measurements: pa.Table, counts: dict[str, int]) -> str:
    if not measurements.num_rows:
        return "No accepted submissions yet."
    lines = [
        f"{counts['measurements']} measurements ({counts['trials']} trials) from {counts['submissions']} submission(s)."
    ]
    for column in ("gpu_name", "model_id", "precision", "status", "weights"):
        tally = Counter(measurements.column(column).to_pylist())
        lines += ["", _table([column, "measurements"], [[k, v] for k, v in sorted(tally.items())])]
    return "\n".join(lines)


def render(
    *,
    version: str,
    repo_id: str,
    year: str,
    measurements: pa.Table,
    counts: dict[str, int],
    sizes: dict[str, int],
    legacy_cv: list[tuple[int, float, int]],
    discrepancies: list[dict[str, str]],
    changelog: str,
) -> str:
    template = Template(
        resources.files("dataset_card").joinpath("templates/README.md.tmpl").read_text(encoding="utf-8")
    )
    return template.substitute(
        front_matter=front_matter(counts, sizes),
        pretty_name=PRETTY_NAME,
        version=version,
        repo_id=repo_id,
        year=year,
        counts=counts_section(measurements, counts),
        columns=columns_section(),
        gate_tput=DEFAULT_GATES.throughput_cv_max_pct,
        gate_power=DEFAULT_GATES.power_cv_max_pct,
        gate_ept=DEFAULT_GATES.energy_per_token_cv_max_pct,
        gate_min=DEFAULT_GATES.min_trials,
        legacy_rows=counts["legacy"],
        legacy_cv=_table(["batch size", "trials", "throughput CV %"], [[b, n, f"{cv:.2f}"] for b, cv, n in legacy_cv]),
        discrepancies=_table(
            ["topic", "one source says", "another says"], [[d["topic"], d["a"], d["b"]] for d in discrepancies]
        ),
        changelog=changelog.strip() or "(none)",
    )


def write(text: str, out_dir: Path) -> Path:
    path = out_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
