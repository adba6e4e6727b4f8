"""The validator against a careless or dishonest contributor (issue 14): output that cannot be forged (control
characters, ANSI, bidi, Markdown and HTML escaped in every format, GitHub's step summary within its limit) and
line numbers that stay true. The files attacked are test_validator_adversarial.py's and
test_validator_adversarial_files.py's."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from validator import reporters
from validator.cli import main
from validator.findings import make
from validator.run import Report, validate


def _evil_report() -> Report:
    name = "sub\nmissions/evil\x1b[2J\u202e.json"
    f = make("json.syntax", name, "/x", "bad [click](https://evil.example) | **ok** <img src=x> `code` \x1b]8;;x\x07")
    return Report(files=[name], findings=[f])


def test_text_output_escapes_control_ansi_and_bidi() -> None:
    out = reporters.render_text(_evil_report())
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert out.count("\n") == 3  # finding, fix, verdict


def test_json_output_is_ascii_and_parses() -> None:
    out = reporters.render_json(_evil_report())
    assert out.isascii() and json.loads(out)["files"] == _evil_report().files


def test_step_summary_escapes_markdown_and_html() -> None:
    out = reporters.render_step_summary(_evil_report())
    row = out.splitlines()[-1]
    assert "](https" not in row and "<img" not in row and "**ok**" not in row and "`code`" not in row
    assert row.count(" | ") == 4 and "\\|" in row


def test_the_step_summary_stays_within_githubs_limit() -> None:
    """GitHub drops a step summary above 1 MiB: 12,000 findings made 1.4 MB."""
    many = [make("json.syntax", f"submissions/x/{i:05d}.json", "/x", "y" * 100) for i in range(12_000)]
    out = reporters.render_step_summary(Report(files=[f.file for f in many], findings=many))
    assert len(out.encode()) <= reporters.STEP_SUMMARY_MAX_BYTES
    shown = sum(line.startswith("| submissions") for line in out.splitlines())
    assert 0 < shown < 12_000 and out.rstrip().endswith(
        f"{12_000 - shown} more finding(s) not shown here; see the JSON report."
    )
    few = reporters.render_step_summary(Report(files=["a"], findings=many[:3]))
    assert "not shown" not in few and few.count("| submissions") == 3


def test_odd_file_names_are_reported_safely(tmp_path: Path, valid_doc: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    odd = os.fsdecode(b"bad\xff\n\x1b[31mname.json")
    (tmp_path / odd).write_text("{", encoding="utf-8")
    for fmt in ("text", "json", "github"):
        result = CliRunner().invoke(main, ["--format", fmt, "."])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "\x1b" not in result.output and result.output.count("\n") <= 3 + (fmt == "json") * 40


def test_every_valid_fixture_still_passes_with_line_numbers_untouched() -> None:
    for path in (FIXTURES / "valid").glob("*.json"):
        assert validate([path], accepted_root=None).errors == [], path.name


def _layout(value: Any, pointer: str, line: int, out: dict[str, int]) -> int:
    """Lines of json.dumps(value, indent=1): each value starts on its own line; returns the last line."""
    out[pointer] = line
    items = (
        list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    )
    if not items:
        return line
    last = line
    for key, child in items:
        token = str(key).replace("~", "~0").replace("/", "~1")
        last = _layout(child, f"{pointer}/{token}", last + 1, out)
    return last + 1  # the closing bracket


def test_lines_of_maps_every_pointer_in_one_pass() -> None:
    import random

    from validator.jsonpos import lines_of

    rng = random.Random(5)

    def build(level: int) -> Any:
        if level > 5 or rng.random() < 0.3:
            return rng.choice([1, "a/b~c", None, 2.5, "", "\\u00e9"])
        if rng.random() < 0.5:
            return [build(level + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(["k", "a/b", "t~1", "é", ""]) + str(i): build(level + 1) for i in range(rng.randint(0, 4))}

    for _ in range(300):
        doc = build(0)
        expected: dict[str, int] = {}
        _layout(doc, "", 1, expected)
        text = json.dumps(doc, indent=1, ensure_ascii=rng.random() < 0.5)
        asked = [*expected, "/nope", "/0/999"]
        found = lines_of(text, asked)
        assert {p: found[p] for p in expected} == expected
        assert "/nope" not in found
