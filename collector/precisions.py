"""Precision labels and the exact quantization config each one means."""

from __future__ import annotations

from typing import Any

PRECISIONS = ("fp16", "bf16", "fp32", "int8", "int8-pure", "nf4", "nf4-dq", "fp4")
_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
_BNB: dict[str, dict[str, Any]] = {
    "int8": {"load_in_8bit": True, "llm_int8_threshold": 6.0},
    "int8-pure": {"load_in_8bit": True, "llm_int8_threshold": 0.0},
    "nf4": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": False},
    "nf4-dq": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True},
    "fp4": {"load_in_4bit": True, "bnb_4bit_quant_type": "fp4", "bnb_4bit_use_double_quant": False},
}
# Fields of BitsAndBytesConfig recorded in every submission (schema: quantization).
BNB_FIELDS = (
    "load_in_8bit",
    "load_in_4bit",
    "llm_int8_threshold",
    "llm_int8_has_fp16_weight",
    "llm_int8_skip_modules",
    "bnb_4bit_quant_type",
    "bnb_4bit_compute_dtype",
    "bnb_4bit_use_double_quant",
    "bnb_4bit_quant_storage",
)


def parse(values: str) -> list[str]:
    out = [v.strip() for v in values.split(",") if v.strip()]
    unknown = [v for v in out if v not in PRECISIONS]
    if unknown:
        raise ValueError(f"unknown precision {', '.join(unknown)}; choose from {', '.join(PRECISIONS)}")
    return list(dict.fromkeys(out))


def torch_dtype_name(precision: str) -> str:
    return _DTYPES.get(precision, "float16")


def is_quantized(precision: str) -> bool:
    return precision in _BNB


def bnb_kwargs(precision: str) -> dict[str, Any]:
    """Keyword arguments for transformers.BitsAndBytesConfig (compute dtype fp16)."""
    kwargs = dict(_BNB[precision])
    if kwargs.get("load_in_4bit"):
        kwargs["bnb_4bit_compute_dtype"] = "float16"
    return kwargs


def record(precision: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """The schema's quantization object, from the config transformers actually used."""
    if config is None:
        return {"method": "none", "torch_dtype": torch_dtype_name(precision)}
    out: dict[str, Any] = {"method": "bitsandbytes", "torch_dtype": torch_dtype_name(precision)}
    for key in BNB_FIELDS:
        value = config.get(key)
        out[key] = str(value).removeprefix("torch.") if key.endswith(("_dtype", "_storage")) else value
    out["llm_int8_threshold"] = float(out["llm_int8_threshold"])
    return out
