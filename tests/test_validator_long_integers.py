"""An integer literal longer than Python's 4,300 digits was refused with Python's own advice to call
sys.set_int_max_str_digits(); the finding says which number, where, and what to write instead (attack v23 U5)."""

from __future__ import annotations

import json
from pathlib import Path

import synthetic

from validator import loading


def test_an_integer_too_long_to_read_is_named_at_its_place(tmp_path: Path) -> None:
    doc = synthetic.submission(seed=3)
    doc["measurements"][1]["batch_size"] = 123456789  # a marker, replaced by 5,000 nines in the text
    text = json.dumps(doc, indent=1).replace("123456789", "9" * 5000, 1)
    path = tmp_path / "big.json"
    path.write_text(text)
    [finding] = loading.load(path).findings
    line = text[: text.index("9" * 5000)].count("\n") + 1
    assert (finding.code, finding.pointer, finding.line) == ("json.syntax", "/measurements/1/batch_size", line)
    assert finding.message.startswith(f"an integer of 5000 digits at /measurements/1/batch_size (line {line}), ")
    assert "set_int_max_str_digits" not in finding.message and "write the value eco-collect recorded" in finding.message


def test_a_long_key_above_the_integer_is_not_repeated(tmp_path: Path) -> None:
    """A 200,000-character key above the integer made a finding of 200 KB: its pointer, and the message twice
    (review 33); the finding points at the nearest enclosing value whose pointer is short, as schema findings do."""
    key = "k" * 200_000
    path = tmp_path / "key.json"
    path.write_text('{"a": {"' + key + '": ' + "9" * 5000 + "}}")
    [finding] = loading.load(path).findings
    assert (finding.code, finding.pointer, finding.line) == ("json.syntax", "/a", 1)
    assert finding.message.startswith("an integer of 5000 digits inside /a (line 1), ") and len(finding.message) < 300
