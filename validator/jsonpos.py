"""Map a JSON pointer to the line where its value starts in the original text."""

from __future__ import annotations

import json.decoder
import re

_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def _ws(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]


def _skip(text: str, i: int) -> int:
    """Index just past the value starting at ``i`` (the text is known to be valid JSON)."""
    i = _ws(text, i)
    ch = text[i]
    if ch == '"':
        return json.decoder.scanstring(text, i + 1)[1]
    if ch in "[{":
        close = "]" if ch == "[" else "}"
        i = _ws(text, i + 1)
        if text[i] == close:
            return i + 1
        while True:
            if ch == "{":
                i = _ws(text, _skip(text, i))  # key
                i += 1  # colon
            i = _ws(text, _skip(text, i))
            if text[i] == close:
                return i + 1
            i = _ws(text, i + 1)  # comma
    match = _SCALAR.match(text, i)
    return match.end() if match else i + 1


def _tokens(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]


def line_of(text: str, pointer: str) -> int | None:
    """1-based line of the value at ``pointer``; None when it cannot be found."""
    try:
        i = _ws(text, 0)
        for token in _tokens(pointer):
            ch = text[i]
            if ch == "{":
                i = _ws(text, i + 1)
                while text[i] != "}":
                    key, i = json.decoder.scanstring(text, i + 1)
                    i = _ws(text, _ws(text, i) + 1)
                    if key == token:
                        break
                    i = _ws(text, _skip(text, i))
                    if text[i] == ",":
                        i = _ws(text, i + 1)
                else:
                    return None
            elif ch == "[":
                index = int(token)
                i = _ws(text, i + 1)
                for _ in range(index):
                    i = _ws(text, _skip(text, i))
                    if text[i] != ",":
                        return None
                    i = _ws(text, i + 1)
                if text[i] == "]":
                    return None
            else:
                return None
        return text.count("\n", 0, i) + 1
    except (IndexError, ValueError):
        return None
