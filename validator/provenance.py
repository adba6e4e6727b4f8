"""Provenance completeness: exact versions, model revisions, honest timestamps and configs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from .findings import Finding, make

_PLACEHOLDERS = {"", "unknown", "latest", "n/a", "na", "none", "null", "todo", "tbd", "?", "-"}
_WILDCARD = re.compile(r"\*|(?:^|\.)x(?:\.|$|\s|\))|^[<>=~^!]|[<>=~^]=?\s*\d", re.IGNORECASE)
_EXACT = re.compile(r"^v?\d+(\.\d+)*([.+-]?[0-9A-Za-z]+)*$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
CLOCK_SKEW = timedelta(minutes=10)

# Expected bitsandbytes settings for each precision label.
_EXPECTED_QUANT: dict[str, dict[str, Any]] = {
    "fp32": {"method": "none", "torch_dtype": "float32"},
    "fp16": {"method": "none", "torch_dtype": "float16"},
    "bf16": {"method": "none", "torch_dtype": "bfloat16"},
    "int8": {"method": "bitsandbytes", "load_in_8bit": True, "llm_int8_threshold": 6.0},
    "int8-pure": {"method": "bitsandbytes", "load_in_8bit": True, "llm_int8_threshold": 0.0},
    "nf4": {
        "method": "bitsandbytes",
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_use_double_quant": False,
    },
    "nf4-dq": {
        "method": "bitsandbytes",
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_use_double_quant": True,
    },
    "fp4": {"method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "fp4"},
}


def version_problem(value: str) -> str | None:
    """Why a version string is not an exact version, or None if it is."""
    stripped = value.strip()
    if stripped.lower() in _PLACEHOLDERS:
        return f"{value!r} is a placeholder, not a version"
    if _WILDCARD.search(stripped) or not _EXACT.match(stripped):
        return f"{value!r} is not an exact version"
    return None


def _is_placeholder(value: str) -> bool:
    return value.strip().lower() in _PLACEHOLDERS or "not recorded" in value.lower()


def check(data: dict[str, Any], file: str, now: datetime | None = None) -> list[Finding]:
    findings: list[Finding] = []
    env = data["environment"]
    for section in ("software", "driver"):
        for key, value in sorted(env[section].items()):
            problem = version_problem(value)
            if problem:
                findings.append(
                    make("provenance.unpinned_version", file, f"/environment/{section}/{key}", f"{key}: {problem}")
                )
    for section in ("gpu", "host"):
        for key, value in sorted(env[section].items()):
            if isinstance(value, str) and _is_placeholder(value):
                findings.append(
                    make("provenance.missing_value", file, f"/environment/{section}/{key}", f"{key} is {value!r}")
                )
    if version_problem(data["collector"]["version"]):
        findings.append(
            make(
                "provenance.unpinned_version",
                file,
                "/collector/version",
                f"collector version {data['collector']['version']!r} is not exact",
            )
        )

    created = datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
    now = now or datetime.now(timezone.utc)
    if created > now + CLOCK_SKEW:
        findings.append(
            make(
                "provenance.future_time",
                file,
                "/created_at",
                f"created_at {data['created_at']} is after now ({now:%Y-%m-%dT%H:%M:%SZ})",
            )
        )

    for i, m in enumerate(data["measurements"]):
        base = f"/measurements/{i}"
        model = m["model"]
        if model["weights"] == "pretrained" and not _HEX40.match(model["revision"]):
            findings.append(
                make(
                    "provenance.revision",
                    file,
                    f"{base}/model/revision",
                    f"{model['id']}: revision {model['revision']!r} is not a 40-hex commit SHA",
                )
            )
        expected = _EXPECTED_QUANT[m["precision"]]
        quant = m["quantization"]
        wrong = [k for k, v in expected.items() if quant.get(k) != v]
        if wrong:
            detail = ", ".join(f"{k}={quant.get(k)!r} (expected {expected[k]!r})" for k in wrong)
            findings.append(
                make(
                    "provenance.quantization_mismatch",
                    file,
                    f"{base}/quantization",
                    f"precision {m['precision']}: {detail}",
                )
            )
    return findings
