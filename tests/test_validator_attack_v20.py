"""Attack v20: packages that transformers refuses to import beside (validator/companions.py).

``import transformers`` checks huggingface_hub and tokenizers against its pins and raises ImportError
outside them, so eco-collect never ran beside such a pair: transformers 4.x with huggingface_hub 1.x, or
5.x with huggingface_hub 0.x or tokenizers older than 0.22, passed with every number as measured.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from validator.check import check_data

CODE = "provenance.software_versions"


def _codes(doc: dict[str, Any], **software: str) -> set[str]:
    edited = copy.deepcopy(doc)
    edited["environment"]["software"].update(software)
    return {f.code for f in check_data(edited, "v.json").findings}


@pytest.mark.parametrize(
    "software",
    [
        {"transformers": "4.57.1", "huggingface_hub": "1.1.4"},  # every 4.x pins huggingface-hub<1.0
        {"transformers": "4.45.0", "huggingface_hub": "1.33.0"},
        {"transformers": "4.57.1", "huggingface_hub": "1.0.0"},
        {"transformers": "4.57.1+cpu", "huggingface_hub": "1.0.0.post1"},
        {"transformers": "5.17.0", "huggingface_hub": "0.30.2"},  # 5.x needs huggingface_hub 1.0 or later
        {"transformers": "5.0.0", "huggingface_hub": "0.36.0"},
        {"transformers": "5.17.0", "tokenizers": "0.21.4"},  # 5.x needs tokenizers 0.22 or later
        {"transformers": "5.2.0", "tokenizers": "0.15.2"},
    ],
)
def test_a_package_transformers_refuses_to_import_beside_is_refused(
    valid_doc: dict[str, Any], software: dict[str, str]
) -> None:
    assert CODE in _codes(valid_doc, **software)


@pytest.mark.parametrize(
    "software",
    [
        {"transformers": "4.45.0", "huggingface_hub": "0.25.0", "tokenizers": "0.20.0"},
        {"transformers": "4.57.1", "huggingface_hub": "0.36.0", "tokenizers": "0.22.1"},
        {"transformers": "5.17.0", "huggingface_hub": "1.33.0", "tokenizers": "0.23.2"},  # every real file
        {"transformers": "5.24.0", "huggingface_hub": "2.4.0", "tokenizers": "0.23.3"},  # a later 5.x may allow 2.x
        {"transformers": "5.0.0.dev0", "huggingface_hub": "0.35.3"},  # main before the pin moved: not judged
        {"transformers": "5.0.0rc0", "huggingface_hub": "1.1.4", "tokenizers": "0.22.1"},
        {"transformers": "6.0.0", "huggingface_hub": "1.33.0"},  # a major this table does not know
        # transformers compares with operator.lt on parsed versions, not a PEP 440 specifier: a pre-release of
        # huggingface_hub 1.0 is below 1.0, and 4.x imports beside it (review31)
        {"transformers": "4.57.1", "huggingface_hub": "1.0.0rc2"},
        {"transformers": "4.56.2", "huggingface_hub": "1.0.0.dev0"},
    ],
)
def test_pairs_that_import_pass(valid_doc: dict[str, Any], software: dict[str, str]) -> None:
    assert CODE not in _codes(valid_doc, **software)
