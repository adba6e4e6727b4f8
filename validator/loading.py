"""File hygiene and safe parsing: everything that happens before a document exists."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecocompute import smallfile
from ecocompute.cli import UNSAFE_CATEGORIES

from .findings import Finding, make
from .jsonpos import bounded, line_of

try:
    import orjson
except ImportError:  # the strict parser alone decides, only slower
    orjson = None  # type: ignore[assignment]

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 16
# A 5 MB submission of 8,000 trials holds about 32,000 arrays and objects; a million empty ones cost
# the parser seconds.
MAX_CONTAINERS = 100_000
MAX_KEY_SHOWN = 80  # of a duplicate key, in the finding: each copy of a report holds the message


@dataclass
class Loaded:
    path: str
    sha256: str | None = None  # of the bytes read, for builders (no second read)
    text: str | None = None
    data: Any = None
    findings: list[Finding] = field(default_factory=list)
    finite: bool = False  # read by orjson: no NaN or infinite float anywhere in data


class _Reject(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _reject_constant(name: str) -> float:
    raise _Reject("json.nonfinite", f"{name} is not a number JSON allows")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)  # built in C; a duplicate key shows as a shorter dict
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:  # a key may be megabytes long: the message shows its start only
                shown = (
                    repr(key) if len(key) <= MAX_KEY_SHOWN else f"{key[:MAX_KEY_SHOWN]!r}... ({len(key)} characters)"
                )
                raise _Reject("json.duplicate_key", f"key {shown} appears twice in one object")
            seen.add(key)
    return obj


_DROP = bytes(c for c in range(256) if c not in b'[]{}":')  # UTF-8 multi-byte units are all >= 0x80


def _skeleton(text: str | bytes) -> bytes:
    """The brackets and colons of a JSON text, string content removed (valid JSON assumed): one
    colon per key of the document as written.

    Escaped backslashes and quotes go first, then every byte but brackets, colons and quotes. Two adjacent
    quotes left then hold nothing but string content (an empty string, or the gap between two
    strings), so dropping them keeps the quote pairs alternating; what lies between a remaining pair
    is string content. All in C: 3x cheaper than translating the text as str, 10x cheaper than a
    regex removing the strings."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = raw.translate(None, _DROP).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    return skeleton


# A bracket of a skeleton as a step of the nesting depth: +1 opening, -1 (0xFF as int8) closing.
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def _deeper_than(skeleton: bytes, limit: int) -> bool:
    """Whether the running depth of the skeleton's brackets ever exceeds ``limit``: its steps summed
    in numpy (a byte at a time in Python cost 0.04 ms of a 50-kB file, twice reading it). The memory
    is bounded by the capped file: five bytes a bracket."""
    import numpy as np  # imported with pyarrow by every caller that reaches here; not at eco-validate --help

    steps = np.frombuffer(skeleton.translate(_STEP, b":"), dtype=np.int8)  # replace(b":", b"") is 15x slower
    return steps.size > limit and int(steps.cumsum(dtype=np.int32).max()) > limit


def _too_deep(text: str, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (valid JSON assumed)."""
    return _deeper_than(_skeleton(text), limit)


def nonfinite(data: Any, display: str) -> list[Finding]:
    """json.nonfinite when a number of the document overflowed to infinity (1e999): one pass in C."""
    try:
        json.dumps(data, allow_nan=False)
    except ValueError:
        return [make("json.nonfinite", display, "", "a number overflows to infinity (an exponent like 1e999)")]
    return []


# Unicode categories no field may hold: the set that printable() escapes.
_UNSAFE_CATEGORIES = UNSAFE_CATEGORIES
# One escape sequence of a JSON string, left to right: a surrogate pair, one \uXXXX, or a one-letter
# escape (an escaped backslash is consumed whole, so the next match starts at a real escape).
_ESCAPE = re.compile(
    r"\\(?:(u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(.))", re.DOTALL
)
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _escaped_char(pair: str, single: str, letter: str) -> str:
    if pair:
        high, low = int(pair[1:5], 16), int(pair[7:11], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    if single:
        return chr(int(single, 16))
    return _SIMPLE_ESCAPES.get(letter, letter)


def unsafe_text(text: str) -> str | None:
    """Why a string of this (valid JSON) text holds a character no field may hold, or None.

    Outside strings valid JSON has only ASCII, and raw control characters are syntax errors, so
    every non-ASCII character and every escape lies in a string. Linear: the text is scanned in C
    and only distinct characters and escapes are looked at in Python."""
    if not text.isascii():
        bad = sorted(c for c in set(text) if ord(c) > 127 and _unsafe(c))
        if bad:
            at = min(text.find(c) for c in bad[:16])  # bounded: a position, not necessarily the first
            return f"U+{ord(text[at]):04X} ({unicodedata.name(text[at], 'unnamed')}) at line {text.count(chr(10), 0, at) + 1}"
    if "\\" in text:
        # a set built as the matches come: findall's list held a tuple per escape (190 MB for a file
        # of 2.6 million), where only the distinct ones are looked at
        for groups in {m.groups(default="") for m in _ESCAPE.finditer(text)}:
            ch = _escaped_char(*groups)
            if _unsafe(ch):
                escape = "\\" + (groups[0] or (f"u{groups[1]}" if groups[1] else groups[2]))
                at = text.find(escape)
                kind = "a lone surrogate" if unicodedata.category(ch) == "Cs" else f"U+{ord(ch):04X}"
                return f"escape {escape} ({kind}) at line {text.count(chr(10), 0, at) + 1}"
    return None


def unsafe_strings(data: Any, display: str) -> list[Finding]:
    """unsafe_text for a document in memory (the collector's check before writing): its JSON text."""
    try:
        problem = unsafe_text(json.dumps(data, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return [make("json.syntax", display, "", "the document is not representable as JSON")]
    return [make("json.unsafe_text", display, "", f"a string holds {problem}")] if problem else []


def parse_text(text: str, display: str, raw: bytes | None = None) -> tuple[Any, list[Finding], bool]:
    """Strict JSON: no NaN/Infinity (spelt or overflowing), no duplicate keys, bounded depth and
    number of containers, and no string holding a control, bidi/format, private-use, unassigned or
    lone-surrogate character. The flag: the document holds no NaN or infinite float (the fast parser
    read it; the strict one lets 1e999 through as infinity, for the checks to name).

    Depth and containers are counted on the text before parsing, so neither a deep nor a wide
    structure costs the parser (and its per-object hook) more than a real submission does.
    ``raw``: the UTF-8 bytes ``text`` was decoded from, when the caller has them (not encoded again)."""
    raw = raw if raw is not None else text.encode("utf-8", "surrogatepass")
    skeleton = _skeleton(raw)
    containers = skeleton.count(b"[") + skeleton.count(b"{")
    if containers > MAX_CONTAINERS:
        return _failed(
            make("json.too_complex", display, "", f"{containers} arrays and objects; the cap is {MAX_CONTAINERS}")
        )
    if _deeper_than(skeleton, MAX_DEPTH):
        return _failed(make("json.too_deep", display, "", f"nesting deeper than {MAX_DEPTH} levels"))
    data = _fast_parse(raw, skeleton.count(b":"))
    finite = data is not None
    if not finite:
        data, failed = _strict_parse(text, display)
        if failed:
            return _failed(failed)
    problem = unsafe_text(text)
    if problem:
        return _failed(make("json.unsafe_text", display, "", f"a string holds {problem}"))
    return data, [], finite


def _failed(finding: Finding) -> tuple[Any, list[Finding], bool]:
    return None, [finding], False


def _strict_parse(text: str, display: str) -> tuple[Any, Finding | None]:
    """json.loads refusing NaN/Infinity and duplicate keys; the finding when it fails."""
    # A literal like 1e999 parses as infinity: a per-float hook would cost every file; the checks on
    # the document find it instead (has_nonfinite), where only such a file pays.
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_pairs), None
    except _Reject as exc:
        return None, make(exc.code, display, "", str(exc))
    except RecursionError:
        return None, make("json.too_deep", display, "", f"nesting deeper than {MAX_DEPTH} levels")
    except json.JSONDecodeError as exc:
        return None, make("json.syntax", display, "", f"{exc.msg} at line {exc.lineno} column {exc.colno}", exc.lineno)
    except ValueError as exc:  # an integer literal longer than Python's digit limit (4,300 by default)
        return None, _long_integer(text, display) or make("json.syntax", display, "", str(exc)[:300])


class _Long:
    """An integer literal longer than ``int`` reads: its digits."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _long_integer(text: str, display: str) -> Finding | None:
    """The finding for the first integer longer than Python's digit limit, at its pointer and line (the
    error json.loads raises names neither, and advises ``sys.set_int_max_str_digits()``, which is no fix
    for a file); None when ``text`` holds none. Only a file that failed so is parsed again."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    if not limit:
        return None

    def literal(token: str) -> Any:
        digits = len(token.lstrip("-"))
        return _Long(digits) if digits > limit else int(token)

    try:
        data = json.loads(text, parse_int=literal)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:  # depth first, in document order
        pointer, value = stack.pop()
        if isinstance(value, _Long):
            shown = bounded(pointer)  # a key may be megabytes long: no more of it is repeated
            line = line_of(text, shown)
            at = ("at " if shown == pointer else "inside ") + (shown or "/") + (f" (line {line})" if line else "")
            return make(
                "json.syntax",
                display,
                shown,
                f"an integer of {value.digits} digits {at}, more than the {limit} digits eco-validate reads: no "
                "field holds a number this long; write the value eco-collect recorded",
                line,
            )
        if isinstance(value, dict):
            items = [(f"{pointer}/{k.replace('~', '~0').replace('/', '~1')}", v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(f"{pointer}/{i}", v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(items))
    return None


# Digits to "0", the other bytes of a number's fraction or exponent to ".", all else to " ": a run of
# 19 zeros after a " " (or at the start) is an integer literal of 19 digits or more, which orjson may
# read as a float (beyond 64 bits). Such a text is left to the strict parser.
_NUMBER_SHAPE = bytes.maketrans(
    bytes(range(256)), bytes(48 if chr(c).isdigit() else 46 if chr(c) in ".eE" else 32 for c in range(128)) + b" " * 128
)
_LONG_INTEGER = b" " + b"0" * 19


def _fast_parse(text: str | bytes, keys_written: int) -> Any:
    """The document orjson reads from ``text`` when it is what the strict parser would return, else
    None (the strict parser then decides, and names the fault). 4x cheaper than json.loads with a
    per-object hook, and a submission that passes is read only this way.

    orjson agrees with json.loads on every JSON text it accepts except three, each excluded here:
    NaN, Infinity and literals that overflow (1e999) and lone surrogate escapes it refuses; integers
    beyond 64 bits it reads as floats (no integer of 19 digits is let through); duplicate keys it keeps
    the last of (the keys it kept, the colons of its own output, must be the colons written).
    ``keys_written``: the colons of ``text`` outside strings. Floats, however many digits, parse to
    the same bits (tests/test_validator_parsing.py compares them)."""
    if orjson is None:
        return None
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    shape = raw.translate(_NUMBER_SHAPE)
    # rfind: its scan keys on the needle's first byte, the rarer " ", where ``in`` keys on "0" (3 us a
    # file against 13; linear either way, 2 ms on 5 MB at worst)
    if shape.rfind(_LONG_INTEGER) != -1 or shape.startswith(_LONG_INTEGER[1:]):
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if _skeleton(orjson.dumps(data)).count(b":") != keys_written:
        return None
    return data


def _folder(path: Path) -> str:
    """What a folder met where a file was expected is: one named like a file, or one that a walk of
    the submissions could not list (its files unchecked, so the run must not pass)."""
    try:
        with os.scandir(path):
            return "a folder, not a file"
    except OSError as exc:
        return f"a folder that cannot be listed ({exc.strerror}): its files were not checked"


def _unread(exc: smallfile.SmallFileError, path: Path, shown: str) -> Finding:
    """The finding for a file not read; the codes and messages contributors' tooling matches on."""
    if exc.reason == "too_large":
        if exc.grew:
            return make("file.too_large", shown, "", f"more than {MAX_BYTES} bytes (it grew while read)")
        return make("file.too_large", shown, "", f"{exc.size} bytes; the cap is {MAX_BYTES} bytes")
    if exc.reason == "not_regular" and exc.mode is not None:
        kind = "not a regular file"
        if not exc.opened:  # what the path named: said precisely (what was swapped in is just not a file)
            if stat.S_ISLNK(exc.mode):
                kind = "a symbolic link"
            elif stat.S_ISDIR(exc.mode):
                kind = _folder(path)
        return make("file.not_regular", shown, "", f"{shown} is {kind}")
    return make("file.not_regular", shown, "", f"cannot read: {exc.strerror}")  # missing or unreadable


def load(path: Path, display: str | None = None) -> Loaded:
    """Read one file with every hygiene check; never raises for bad content."""
    shown = display or path.as_posix()
    result = Loaded(shown)
    try:
        # A link is refused, not followed (a symlink to a secret); the path may be swapped after the
        # stat (a link, a FIFO that would block the run for ever): smallfile opens without following a
        # link and without waiting for a writer, then judges what was opened.
        raw = smallfile.read_bytes(path, MAX_BYTES, follow_symlinks=False)
    except smallfile.SmallFileError as exc:
        result.findings.append(_unread(exc, path, shown))
        return result
    result.sha256 = hashlib.sha256(raw).hexdigest()
    problem = None
    if raw.startswith(b"\xef\xbb\xbf"):
        problem = "starts with a UTF-8 byte-order mark"
    elif b"\x00" in raw:
        offset = raw.index(b"\x00")
        problem = f"contains a NUL byte at offset {offset}"
    try:
        text = smallfile.decode(path, raw)
    except smallfile.SmallFileError as exc:
        problem = f"invalid UTF-8 at byte {exc.offset}"
    if problem:
        result.findings.append(make("file.encoding", shown, "", problem))
        return result
    result.text = text
    result.data, errors, result.finite = parse_text(text, shown, raw)
    result.findings.extend(errors)
    return result
