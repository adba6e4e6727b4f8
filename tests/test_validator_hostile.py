"""Hostile input never produces a traceback or a hang."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from validator.cli import main
from validator.engine import validate

CASES: dict[str, bytes] = {
    "huge_int": b'{"schema_version": "1.0.0", "x": ' + b"9" * 100_000 + b"}",
    "deep_object": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "deep_list": b"[" * 100_000 + b"]" * 100_000,
    "long_string": b'{"schema_version": "' + b"A" * 1_000_000 + b'"}',
    "wrong_types": b'{"schema_version": "1.0.0", "measurements": "all of them", "environment": 7}',
    "control_chars": b'{"a": "\x01\x02"}',
    "lone_surrogate": b'{"a": "\\ud800"}',
    "infinity": b'{"a": Infinity}',
    "negative_nan": b'{"a": -NaN}',
    "only_whitespace": b"   \n\t ",
    "number_top": b"42",
    "null_top": b"null",
    "schema_version_object": b'{"schema_version": {"$ref": "#"}}',
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_is_a_finding_not_a_crash(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.json"
    path.write_bytes(CASES[name])
    start = time.perf_counter()
    report = validate([path], accepted_root=None)
    assert time.perf_counter() - start < 1.0
    assert report.errors, name


def test_random_bytes_and_mutations(tmp_path: Path, valid_doc: dict) -> None:
    import json

    rng = random.Random(7)
    text = json.dumps(valid_doc).encode()
    for i in range(150):
        data = bytearray(text)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path = tmp_path / f"m{i}.json"
        path.write_bytes(bytes(data) if i % 3 else bytes(rng.randrange(256) for _ in range(200)))
        start = time.perf_counter()
        validate([path], accepted_root=None)  # must not raise
        assert time.perf_counter() - start < 1.0


def test_cli_reports_hostile_file_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(CASES["deep_list"])
    result = CliRunner().invoke(main, [str(path)])
    assert result.exit_code == 1
    assert "json.too_deep" in result.output
    assert "Traceback" not in result.output
