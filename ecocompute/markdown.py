"""Text from the data inside Markdown that GitHub or the Hub renders: no link it did not ask for."""

from __future__ import annotations

import re

# GFM's extended autolinks turn "www.x.y" and "scheme://x" in plain text into links: a model id www.evil.example/x
# (a Hub id may hold dots) or a board's name holding a URL rendered as one in the card and the report (attack v16
# V16-5). A backslash before the "." or the ":" renders as the character itself and breaks the match, which the
# renderers make on the source text.
_AUTOLINK = re.compile(r"(?i)(www)(\.)|(:)(?=//)")


def unlinked(text: str) -> str:
    """``text`` (already escaped for Markdown otherwise) with every autolink broken by a backslash."""
    return _AUTOLINK.sub(lambda m: f"{m[1] or ''}\\{m[2] or m[3]}", text)
