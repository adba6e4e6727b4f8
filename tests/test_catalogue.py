"""One catalogue: the schema's enums, the collector's choices and the validator's rules agree."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from collector import nvmlnames
from ecocompute import catalogue
from ecocompute.domain import parse
from validator import provenance
from validator.contract import load_schema


def _defs() -> dict[str, Any]:
    return load_schema()["$defs"]


def test_schema_enums_equal_the_catalogue() -> None:
    schema, defs = load_schema(), _defs()
    measurement = defs["measurement"]["properties"]
    assert schema["properties"]["schema_version"]["enum"] == list(catalogue.SCHEMA_VERSIONS)
    assert measurement["precision"]["enum"] == list(catalogue.PRECISIONS)
    assert measurement["status"]["enum"] == list(catalogue.STATUSES)
    assert measurement["model"]["properties"]["weights"]["enum"] == list(catalogue.WEIGHTS)
    assert measurement["gate"]["properties"]["failed"]["items"]["enum"] == list(catalogue.GATE_NAMES)
    assert measurement["engine"]["properties"]["cache_implementation"]["enum"] == list(catalogue.CACHE_IMPLEMENTATIONS)
    assert defs["trial"]["properties"]["role"]["enum"] == list(catalogue.ROLES)
    assert defs["protocol"]["properties"]["energy_method"]["enum"] == list(catalogue.ENERGY_METHODS)
    assert defs["protocol"]["properties"]["power_reading"]["enum"] == list(catalogue.POWER_READINGS)
    quant = defs["quantization"]["properties"]
    assert quant["torch_dtype"]["enum"] == list(catalogue.TORCH_DTYPES)
    assert set(catalogue.BNB_FIELDS) == set(quant) - {"method", "torch_dtype"}
    reasons = defs["trial"]["properties"]["throttle_reasons"]["items"]["enum"]
    assert reasons == sorted(nvmlnames.THROTTLE_NAMES.values())  # what eco-collect can write, and no more


def test_every_precision_is_fully_described() -> None:
    for label, p in catalogue.PRECISIONS.items():
        assert p.label == label and p.torch_dtype in catalogue.TORCH_DTYPES and p.bytes_per_param > 0
        record = p.expected_record()
        assert record["method"] == ("bitsandbytes" if p.quantized else "none")
        if p.quantized:
            assert record["load_in_8bit"] != record["load_in_4bit"]


def _with_precision(doc: dict[str, Any], precision: str, **quant: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    m = doc["measurements"][0]
    m["precision"] = precision
    m["quantization"] = {
        "method": "bitsandbytes",
        "torch_dtype": "float16",
        "load_in_8bit": False,
        "load_in_4bit": True,
        "llm_int8_threshold": 6.0,
        "llm_int8_has_fp16_weight": False,
        "llm_int8_skip_modules": None,
        "bnb_4bit_quant_type": precision.removesuffix("-dq"),
        "bnb_4bit_compute_dtype": "float16",
        "bnb_4bit_use_double_quant": precision.endswith("-dq"),
        "bnb_4bit_quant_storage": "uint8",
        **quant,
    }
    return doc


def _mismatch(doc: dict[str, Any]) -> bool:
    codes = [f.code for f in provenance.check(parse(doc), "f.json")]
    return "provenance.quantization_mismatch" in codes


@pytest.mark.parametrize("precision", ["nf4", "fp4", "nf4-dq"])
def test_four_bit_labels_are_checked_alike(valid_doc: dict[str, Any], precision: str) -> None:
    """Fixed inconsistency: fp4 with double quantisation was accepted while nf4 with it was not."""
    assert not _mismatch(_with_precision(valid_doc, precision))
    flipped = not precision.endswith("-dq")
    assert _mismatch(_with_precision(valid_doc, precision, bnb_4bit_use_double_quant=flipped))
    assert _mismatch(_with_precision(valid_doc, precision, load_in_8bit=True))
    assert _mismatch(_with_precision(valid_doc, precision, bnb_4bit_compute_dtype="float32"))


def test_parse_precisions() -> None:
    assert catalogue.parse_precisions("fp16, nf4,fp16") == ["fp16", "nf4"]
    with pytest.raises(ValueError, match="unknown precision int4"):
        catalogue.parse_precisions("fp16,int4")


def test_only_generate_is_paced_by_the_host() -> None:
    # physics.batch_power takes its smaller batches as yardsticks for every engine; int8_outliers refuses an int8
    # row on an engine that replays a graph
    assert {name for name, e in catalogue.ENGINES.items() if e.host_paced} == {"generate"}
    assert {name for name, e in catalogue.ENGINES.items() if e.cuda_graph} == {"cuda-graph"}
