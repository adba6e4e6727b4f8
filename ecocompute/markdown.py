"""Text from the data inside Markdown that GitHub or the Hub renders: no markup, no column break, no HTML,
no link it did not ask for. The card (dataset_card) and the report (advisor) escape every value with ``cell``."""

from __future__ import annotations

import re
import sys
from typing import Any

from .cli import printable

# GFM's extended autolinks turn "www.x.y" and "scheme://x" in plain text into links: a model id www.evil.example/x
# (a Hub id may hold dots) or a board's name holding a URL rendered as one in the card and the report (attack v16
# V16-5). A backslash before the "." or the ":" renders as the character itself and breaks the match, which the
# renderers make on the source text.
_AUTOLINK = re.compile(r"(?i)(www)(\.)|(:)(?=//)")
# Inline markup (code spans, emphasis, strikethrough, links and images), the column break, and the escape itself:
# each renders as the character once backslash-escaped. '$' too: GitHub renders $...$ as math ("$5 to $10" lost
# its middle); and '@': GFM's extended autolinks take a@b.example and mailto:a@b.example for e-mail links, which
# the autolinks of ``unlinked`` do not break (review31). validator.reporters._md_cell, for the CI step summary,
# escapes every ASCII punctuation character; the card and the report keep their ids readable in the source.
_MARKUP = re.compile(r"([\\`*_\[\]|~$@])")


def unlinked(text: str) -> str:
    """``text`` (already escaped for Markdown otherwise) with every autolink broken by a backslash."""
    return _AUTOLINK.sub(lambda m: f"{m[1] or ''}\\{m[2] or m[3]}", text)


def cell(value: Any, limit: int | None = None) -> str:
    """A value from the data, safe inside a Markdown table cell and as HTML. One line of printable text
    (control, format and separator characters and line breaks shown escaped, ``\\n``), at most ``limit``
    characters (None: all of it); '&', '<' and '>' as HTML entities (an entity in the data, &#x202E;, shows
    as written, not as the bidi override it names, and no tag survives even where Markdown is not parsed);
    the markup characters backslash-escaped; no autolink."""
    text = printable(str(value), limit=sys.maxsize if limit is None else limit)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return unlinked(_MARKUP.sub(r"\\\1", text))
