"""Hostile input never produces a traceback or a hang."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from validator.cli import main
from validator.run import validate

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


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _keys(value: object) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_keys(v) for v in value)
    return 0


def test_depth_check_agrees_with_the_parsed_document() -> None:
    """The bracket count skips string content however it is escaped: keys and values full of
    brackets, colons, quotes and backslashes, non-ASCII text, empty strings side by side. The same
    skeleton holds one colon per key as written (the fast parser's duplicate-key test)."""
    import json

    from validator.loading import _skeleton, _too_deep

    rng = random.Random(11)
    atoms = ["", "[", "]{", '"[', "\\", "\\[", '\\"]', "ü{", "}\u2028", ":", '":', "\\:", 1.5, None, True]

    def build(level: int) -> object:
        if level > 12 or rng.random() < 0.25:
            return rng.choice(atoms)
        if rng.random() < 0.5:
            return [build(level + 1) for _ in range(rng.randint(0, 3))]
        return {f"{rng.choice(atoms)}{i}": build(level + 1) for i in range(rng.randint(0, 3))}

    for _ in range(2000):
        doc = build(0)
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1]))
        depth = _depth(doc)
        for limit in {max(depth - 1, 0), depth}:
            assert _too_deep(text, limit) is (depth > limit), (text, limit)
        assert _skeleton(text).count(b":") == _keys(doc), text
