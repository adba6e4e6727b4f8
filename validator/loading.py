"""File hygiene and safe parsing: everything that happens before a document exists."""

from __future__ import annotations

import hashlib
import json
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .findings import Finding, make

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 16
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Loaded:
    path: str
    sha256: str | None = None  # of the bytes read, for builders (no second read)
    text: str | None = None
    data: Any = None
    findings: list[Finding] = field(default_factory=list)


class _Reject(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_path_policy(display: str) -> list[Finding]:
    """Naming policy for files in the repository's submissions/ folder (other paths are not policed).

    ``display`` is the path relative to the repository root, as git and the CLI show it.
    """
    parts = display.replace("\\", "/").split("/")
    if parts[0] != "submissions":
        return []
    rel = parts[1:]
    bad = [p for p in rel if p in ("..", ".") or not _SEGMENT.match(p)]
    problems = []
    if bad:
        problems.append(f"segment(s) {', '.join(repr(b) for b in bad)} not allowed")
    if not display.endswith(".json"):
        problems.append("submissions must end in .json")
    if len(rel) != 2:
        problems.append("expected submissions/<handle>/<file>.json")
    if not problems:
        return []
    return [make("file.path_policy", display, "", f"path {display!r}: " + "; ".join(problems))]


def _reject_constant(name: str) -> float:
    raise _Reject("json.nonfinite", f"{name} is not a number JSON allows")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)  # built in C; a duplicate key shows as a shorter dict
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Reject("json.duplicate_key", f"key {key!r} appears twice in one object")
            seen.add(key)
    return obj


_DROP = bytes(c for c in range(256) if c not in b'[]{}"')  # UTF-8 multi-byte units are all >= 0x80
_OPEN = frozenset(b"[{")


def _too_deep(text: str, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (valid JSON assumed).

    Escaped backslashes and quotes go first, then every byte but brackets and quotes. Two adjacent
    quotes left then hold nothing but string content (an empty string, or the gap between two
    strings), so dropping them keeps the quote pairs alternating; what lies between a remaining pair
    is string content. All passes but the short last loop run in C: 3x cheaper than translating
    the text as str, 10x cheaper than a regex removing the strings."""
    raw = text.encode("utf-8", "surrogatepass")
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = raw.translate(None, _DROP).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    depth = 0
    for byte in skeleton:
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def parse_text(text: str, display: str) -> tuple[Any, list[Finding]]:
    """Strict JSON: no NaN/Infinity, no duplicate keys, bounded depth."""
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_pairs)
    except _Reject as exc:
        return None, [make(exc.code, display, "", str(exc))]
    except RecursionError:
        return None, [make("json.too_deep", display, "", f"nesting deeper than {MAX_DEPTH} levels")]
    except json.JSONDecodeError as exc:
        return None, [
            make("json.syntax", display, "", f"{exc.msg} at line {exc.lineno} column {exc.colno}", exc.lineno)
        ]
    except ValueError as exc:  # e.g. an integer literal longer than Python's digit limit
        return None, [make("json.syntax", display, "", str(exc))]
    if isinstance(data, (dict, list)) and _too_deep(text, MAX_DEPTH):
        return None, [make("json.too_deep", display, "", f"nesting deeper than {MAX_DEPTH} levels")]
    return data, []


def load(path: Path, display: str | None = None) -> Loaded:
    """Read one file with every hygiene check; never raises for bad content."""
    shown = display or path.as_posix()
    result = Loaded(shown)
    result.findings.extend(check_path_policy(shown))
    try:
        info = path.lstat()
    except OSError as exc:
        result.findings.append(make("file.not_regular", shown, "", f"cannot read: {exc.strerror}"))
        return result
    if not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        result.findings.append(make("file.not_regular", shown, "", f"{shown} is {kind}"))
        return result
    if info.st_size > MAX_BYTES:
        result.findings.append(make("file.too_large", shown, "", f"{info.st_size} bytes; the cap is {MAX_BYTES} bytes"))
        return result
    raw = path.read_bytes()
    result.sha256 = hashlib.sha256(raw).hexdigest()
    problem = None
    if raw.startswith(b"\xef\xbb\xbf"):
        problem = "starts with a UTF-8 byte-order mark"
    elif b"\x00" in raw:
        offset = raw.index(b"\x00")
        problem = f"contains a NUL byte at offset {offset}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"invalid UTF-8 at byte {exc.start}"
    if problem:
        result.findings.append(make("file.encoding", shown, "", problem))
        return result
    result.text = text
    result.data, errors = parse_text(text, shown)
    result.findings.extend(errors)
    return result
