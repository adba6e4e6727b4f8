from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures" / "submissions"
sys.path.insert(0, str(TESTS))  # test helpers (legacy_translate)


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def valid_doc() -> dict[str, Any]:
    return json.loads((FIXTURES / "valid" / "synthetic-two-measurements.json").read_text(encoding="utf-8"))
