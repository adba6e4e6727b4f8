"""The fast parser (orjson) returns exactly what the strict one (json.loads with a per-object hook)
returns, or steps aside: same values, same types, same float bits, same findings."""

from __future__ import annotations

import json
import math
import os
import random
import struct
from typing import Any

import orjson  # a required dependency (pyproject.toml): a missing one fails this module, never skips it
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validator import loading


def _same(a: Any, b: Any) -> bool:
    """Equal as documents: types agree (1 is not 1.0 nor True), floats bit for bit, key order too."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def _strict(text: str) -> tuple[Any, list[tuple[str, str]]]:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(loading, "orjson", None)
        data, findings, finite = loading.parse_text(text, "f.json")
    assert not finite  # only the fast parser vouches for finite numbers
    return data, [(f.code, f.message) for f in findings]


def _nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_nonfinite(v) for v in value.values())
    return isinstance(value, list) and any(_nonfinite(v) for v in value)


def _both(text: str) -> None:
    data, findings, finite = loading.parse_text(text, "f.json")
    strict_data, strict_findings = _strict(text)
    assert [(f.code, f.message) for f in findings] == strict_findings, text[:300]
    assert _same(data, strict_data), text[:300]
    assert not (finite and _nonfinite(data)), text[:300]  # the flag row hashes rely on (Loaded.finite)


KEYS = st.sampled_from(["a", "b", "a:b", 'q"', "\\", "ü", "\u2028", "", "x\\u0061", "[", "{:}"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from('a:"\\{[]}ü\u2028\x7f 0'), max_size=6),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(KEYS, inner), max_size=4),  # pairs: a key may repeat
    ),
    max_leaves=25,
)


def _write(value: Any, rng: random.Random) -> str:
    """JSON text of ``value`` where a list of (key, value) pairs is an object written pair by pair
    (duplicate keys stay duplicates), keys sometimes escaped (\\u0061 for a), spacing varied."""
    sep = rng.choice([(",", ":"), (", ", ": "), (",\n  ", " : "), ("\t,", ":\r\n")])
    if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
        parts = []
        for key, item in value:
            written = json.dumps(key, ensure_ascii=rng.random() < 0.5)
            if rng.random() < 0.3:
                written = written.replace("a", "\\u0061")
            parts.append(f"{written}{sep[1]}{_write(item, rng)}")
        return "{" + sep[0].join(parts) + "}"
    if isinstance(value, list):
        return "[" + sep[0].join(_write(v, rng) for v in value) + "]"
    if isinstance(value, float) and rng.random() < 0.3:
        return f"{value:.25e}"  # more digits than repr writes: the long path of a float parser
    return json.dumps(value, ensure_ascii=rng.random() < 0.5)


@settings(max_examples=400, deadline=None)
@given(doc=DOCS, seed=st.integers(0, 2**16))
def test_fast_and_strict_parsers_agree(doc: Any, seed: int) -> None:
    _both(_write(doc, random.Random(seed)))


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 1}',
        '{"a": 1, "\\u0061": 1}',
        '{"a": {"b": [1, {"c": 2, "c": 3}]}}',
        '{"a:b": "c:d", "e": "\\":"}',
        "[18446744073709551615, -9223372036854775808]",
        "[18446744073709551616]",
        "[-9223372036854775809]",
        "123456789012345678901234567890",
        '{"n": 1' + "0" * 400 + "}",
        "[1e999, -1e999]",
        "[1.7976931348623157e308, 2e308, 4.9e-324, 1e-400, -0.0, -0]",
        "[0.1000000000000000055511151231257827021181583404541015625]",
        "[NaN]",
        "[-Infinity]",
        '["\\ud800"]',
        '["\\udc00\\ud800", "\\ud83d\\ude00"]',
        '["\\u0000", "\\u202e", "\u202e"]',
        '{"a": 1,}',
        "[01]",
        "[1] x",
        '"x"',
    ],
)
def test_fast_and_strict_parsers_agree_on_edge_cases(text: str) -> None:
    _both(text)


def test_float_literals_parse_to_the_same_bits() -> None:
    """orjson's float parser against Python's on literals of 1 to 60 significant digits, exponents
    to the edges of the range, and bit patterns of random doubles (repr's shortest form)."""
    rng = random.Random(3)
    for _ in range(20_000):
        if rng.random() < 0.3:
            value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(63)))[0]
            if not math.isfinite(value):
                continue
            text = repr(value)
        else:
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 60)))
            cut = rng.randint(1, len(digits))
            text = (digits[:cut].lstrip("0") or "0") + "." + (digits[cut:] or "0")
            if rng.random() < 0.5:
                text += f"e{rng.randint(-330, 310)}"
        expected = json.loads(text)
        if math.isinf(expected):
            continue  # orjson refuses; the strict parser decides (test above)
        assert struct.pack("<d", orjson.loads(text)) == struct.pack("<d", expected), text


def test_a_submission_as_eco_collect_writes_it_takes_the_fast_path(valid_doc: dict) -> None:
    """The fast path is not dead code: a whole submission (digits runs of hashes, 17-digit floats
    such as 0.0018139977081974847, colons in timestamps) is read by orjson."""
    text = json.dumps(valid_doc, indent=2, sort_keys=True)
    assert loading._fast_parse(text, loading._skeleton(text).count(b":")) == valid_doc


@pytest.mark.parametrize("grows_to", [5_000, loading.MAX_BYTES + 10])
def test_a_file_that_grows_after_lstat_is_read_whole_or_refused(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, valid_doc: dict, grows_to: int
) -> None:
    """load reads one byte past the size fstat gave: a file that grew since is read on to the cap
    (its whole text parsed), or refused as too large; never cut at the size fstat saw."""
    text = json.dumps(valid_doc, sort_keys=True)
    path = tmp_path / "x.json"
    path.write_text(text + " " * (grows_to - len(text)) if grows_to > len(text) else text)
    real_fstat, real_lstat = os.fstat, type(path).lstat

    def small(info: os.stat_result) -> os.stat_result:  # the size seen before the file grew
        return os.stat_result((*info[:6], 10, *info[7:]))

    monkeypatch.setattr(loading.os, "fstat", lambda fd: small(real_fstat(fd)))
    monkeypatch.setattr(type(path), "lstat", lambda self: small(real_lstat(self)))
    loaded = loading.load(path)
    if grows_to > loading.MAX_BYTES:
        assert [f.code for f in loaded.findings] == ["file.too_large"]
        assert "grew" in loaded.findings[0].message
    else:
        assert loaded.findings == [] and loaded.data == valid_doc
        assert len(loaded.text or "") == max(grows_to, len(text))


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(os, "O_NOFOLLOW"), reason="POSIX only")
@pytest.mark.parametrize("swapped_in", ["fifo", "symlink", "directory"])
def test_a_path_swapped_after_lstat_is_refused_not_followed_or_waited_on(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, valid_doc: dict, swapped_in: str
) -> None:
    """Between lstat and open a regular file may become a FIFO (reading it would wait for a writer for
    ever) or a symbolic link (to a file the submitter may not publish): neither is opened as a file."""
    decoy = tmp_path / "regular.json"
    decoy.write_text(json.dumps(valid_doc, sort_keys=True))
    path = tmp_path / "x.json"
    if swapped_in == "fifo":
        os.mkfifo(path)
    elif swapped_in == "symlink":
        path.symlink_to(decoy)
    else:
        path.mkdir()
    real_lstat = type(path).lstat
    monkeypatch.setattr(type(path), "lstat", lambda self: real_lstat(decoy) if self == path else real_lstat(self))
    descriptors = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    loaded = loading.load(path)  # a FIFO opened for reading would block here
    assert [f.code for f in loaded.findings] == ["file.not_regular"]
    assert loaded.data is None and loaded.sha256 is None
    if descriptors is not None:
        assert len(os.listdir("/proc/self/fd")) == descriptors  # what was opened is closed
