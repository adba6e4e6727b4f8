"""Map JSON pointers to the lines where their values start in the original text, in one pass.

Findings carry pointers; a file may have thousands of them. Walking the text once per pointer was
quadratic (an 8,000-trial file with a finding per trial took minutes); here the pointers form a trie,
the text is walked once in document order, subtrees no pointer enters are skipped by the C scanner
and lines are counted between consecutive positions only.
"""

from __future__ import annotations

import contextlib
import json.decoder
import re
from collections.abc import Iterable
from typing import Any

_WS = re.compile(r"[ \t\n\r]*")
_SCAN = json.decoder.JSONDecoder().scan_once  # C: the value at an index and the index after it
_END = object()  # trie key: a pointer ends at this node


# A pointer may name a key of any length (one of a free-form device map, megabytes long): beyond this a
# finding points at the nearest enclosing value instead (``bounded``), so no report repeats the key whole.
MAX_POINTER_CHARS = 256


def bounded(pointer: str) -> str:
    """``pointer``, or where it is longer than MAX_POINTER_CHARS, the pointer of its nearest enclosing value
    that is not."""
    if len(pointer) <= MAX_POINTER_CHARS:
        return pointer
    return pointer[: pointer.rfind("/", 0, MAX_POINTER_CHARS + 1)]


def _tokens(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


class _Walk:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0  # where lines were last counted
        self.line = 1
        self.found: dict[str, int] = {}

    def ws(self, i: int) -> int:
        return _WS.match(self.text, i).end()  # type: ignore[union-attr]

    def line_at(self, i: int) -> int:
        self.line += self.text.count("\n", self.pos, i)
        self.pos = i
        return self.line

    def skip(self, i: int) -> int:
        """Index just past the value starting at ``i``."""
        return _SCAN(self.text, i)[1]

    def value(self, i: int, node: dict[Any, Any]) -> int:
        """Record the pointers ending here, descend where the trie goes, return the index past the value."""
        pointer = node.get(_END)
        if pointer is not None:
            self.found[pointer] = self.line_at(i)
        children = {k: v for k, v in node.items() if k is not _END}
        if not children:
            return self.skip(i)
        text = self.text
        ch = text[i]
        if ch == "{":
            i = self.ws(i + 1)
            if text[i] == "}":
                return i + 1
            while True:
                key, i = json.decoder.scanstring(text, i + 1)
                i = self.ws(self.ws(i) + 1)  # the colon
                child = children.get(key)
                i = self.ws(self.value(i, child) if child is not None else self.skip(i))
                if text[i] == "}":
                    return i + 1
                i = self.ws(i + 1)  # the comma
        if ch == "[":
            i = self.ws(i + 1)
            if text[i] == "]":
                return i + 1
            index = 0
            while True:
                child = children.get(str(index))
                i = self.ws(self.value(i, child) if child is not None else self.skip(i))
                if text[i] == "]":
                    return i + 1
                i = self.ws(i + 1)
                index += 1
        return self.skip(i)


def lines_of(text: str, pointers: Iterable[str]) -> dict[str, int]:
    """1-based line of the value at each pointer that exists in ``text`` (valid JSON); missing
    pointers are left out."""
    trie: dict[Any, Any] = {}
    for pointer in set(pointers):
        node = trie
        for token in _tokens(pointer):
            node = node.setdefault(token, {})
        node[_END] = pointer
    if not trie:
        return {}
    walk = _Walk(text)
    # Not the valid JSON it should be: what was found so far stands.
    with contextlib.suppress(IndexError, ValueError, StopIteration, RecursionError):
        walk.value(walk.ws(0), trie)
    return walk.found


def line_of(text: str, pointer: str) -> int | None:
    """1-based line of the value at ``pointer``; None when it cannot be found."""
    return lines_of(text, [pointer]).get(pointer)
