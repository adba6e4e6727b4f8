"""The data's changelog as the card shows it: its entries from the first '## ' section on, their headings moved
down so that the highest is a level-3 heading under the card's own '## Changelog' (a '## ' section one level, a
'# ' heading among the entries two: as written, it was a heading of the card itself, beside its sections). Read
within bounds and refused where the card could not show it as written: a control or direction character; a code
fence, an HTML block or an HTML element it opens and never closes, which would swallow the card's sections after
it (an unclosed <details> folds them away, an unclosed <b> makes them bold); a heading underlined with '===' or
'---' (setext), which has no level below 2; a level-1 or level-2 heading in HTML."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ecocompute import smallfile
from ecocompute.cli import UNSAFE_CATEGORIES, printable

from .errors import BuildError, BuildOptionError

MAX_CHANGELOG_BYTES = 1 << 20  # DATA_CHANGELOG.md is a few kilobytes; the card shows all of it


def _changelog_problem(shown: str, exc: smallfile.SmallFileError) -> str:
    if exc.reason == "missing":
        return f"changelog {shown} does not exist (--changelog): give the data's changelog"
    if exc.reason == "not_regular":
        return f"changelog {shown} is not a regular file (--changelog): give a Markdown file"
    if exc.reason == "too_large":
        size = "more than" if exc.grew else f"{exc.size} bytes, more than"  # grown past the cap while read
        return f"changelog {shown} is {size} the {MAX_CHANGELOG_BYTES} a card shows (--changelog)"
    if exc.reason == "not_utf8":
        return f"changelog {shown} is not UTF-8 text (byte {exc.offset}) (--changelog): save it as UTF-8"
    return f"changelog {shown} cannot be read ({exc.strerror}) (--changelog)"


_UNRELEASED = re.compile(r"## \[?unreleased\]?\s*", re.IGNORECASE)
# Where a changelog's lines end, as Markdown (CommonMark) reads them. str.splitlines also breaks at
# \x0b, \x0c, \x1c-\x1e, \x85, U+2028 and U+2029, so a check of its lines never saw them.
_LINE_END = re.compile(r"\r\n|\r|\n")


def _hidden(lines: list[str]) -> tuple[int, int, str] | None:
    """(line, column, character) of the first character of ``lines`` that a card must not carry from
    the changelog: one of UNSAFE_CATEGORIES but a tab (an ESC or a C1 CSI recolours the terminal of
    whoever prints the card, a NUL ends C strings, a bidi override or mark makes a line read otherwise
    than it is: Trojan Source). Only the distinct characters are looked at."""
    for number, line in enumerate(lines, 1):
        bad = [c for c in set(line) if c != "\t" and unicodedata.category(c) in UNSAFE_CATEGORIES]
        if bad:
            column = min(line.index(c) for c in bad)
            return number, column + 1, line[column]
    return None


_FENCE = re.compile(r" {0,3}(`{3,}(?!.*`)|~{3,})")  # a code fence's opening line (a backtick one: no backtick after)
# CommonMark's HTML blocks that end only at their end string, never at a blank line (types 1 to 5), with what
# ends each: a comment (<!--) left open hides the rest of the page.
_HTML_BLOCKS = (
    (re.compile(r" {0,3}<(?:script|pre|style|textarea)(?:[\s>]|$)", re.IGNORECASE), "</(?:script|pre|style|textarea)>"),
    (re.compile(r" {0,3}<!--"), "-->"),
    (re.compile(r" {0,3}<\?"), r"\?>"),
    (re.compile(r" {0,3}<![A-Za-z]"), ">"),
    (re.compile(r" {0,3}<!\[CDATA\["), r"\]\]>"),
)


def _unclosed(lines: list[str]) -> tuple[int, str] | None:
    """(index, what) of the first code fence or HTML block in ``lines`` that is never closed: the card's
    sections after the changelog (its Citation) would render as code, or be hidden. Read as CommonMark reads
    a block at the top level; one inside a list or a quote closes with it, but is left open by mistake all the
    same."""
    opened: tuple[int, str, re.Pattern[str]] | None = None  # where, what, the line that ends it
    for i, line in enumerate(lines):
        if opened is not None:
            # a fence ends at a line of its own (its mark, as long or longer); an HTML block at its end string
            if opened[2].fullmatch(line) if opened[1].startswith("a code fence") else opened[2].search(line):
                opened = None
            continue
        if fence := _FENCE.match(line):
            mark = fence.group(1)
            ends = re.compile(rf" {{0,3}}{re.escape(mark[0])}{{{len(mark)},}}[ \t]*")
            opened = (i, f"a code fence ({mark[:12]})", ends)
            continue
        for start, end in _HTML_BLOCKS:
            if start.match(line) and not re.search(end, line, re.IGNORECASE):
                opened = (i, f"an HTML block ({line.strip()[:12]})", re.compile(end, re.IGNORECASE))
                break
    return None if opened is None else (opened[0], opened[1])


CARD_LEVEL = 2  # the card's sections ('## Changelog'): the entries' headings go below it
# An ATX heading's opening '#'s after the marks of the containers it lies in (block quotes, list items), which
# hold no '#': spaces, tabs, '>', bullets and ordered-list numbers.
_ATX_MARK = re.compile(r"[ \t>*+\-0-9.)]*?(#{1,6})(?=[ \t]|$)")
_HTML_HEADING = re.compile(rf"<h[1-{CARD_LEVEL}](?:[\s/>]|$)", re.IGNORECASE)


# HTML elements whose end tag may be left out (the parser closes them) or that have none: any other element the
# changelog opens and never closes holds the rest of the card (an unclosed <details> folds its Citation away).
_VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr")
_END_OPTIONAL = ("p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "optgroup")
_SELF_CLOSING = frozenset((*_VOID, *_END_OPTIONAL, "colgroup", "caption", "rt", "rp", "html", "head", "body"))
# A tag never spans a '<', in a quoted value either: each try from a '<' then reads no further than the next one,
# so a changelog's HTML is read in linear time (one that could scan on to the end from every '<' took minutes for
# 100 KB of '<a '). A tag with a '<' in a quoted value is not seen, which refuses nothing.
_TAG = re.compile(r"""<(/?)([A-Za-z][A-Za-z0-9-]*)(?:\s(?:[^<>"']|"[^<"]*"|'[^<']*')*)?(/?)>""")


def _without_comments(html: str) -> str:
    """``html`` with its comments left out, in linear time (a lazy regex scanned on to the end from every '<!--'
    left open: quadratic); one never closed hides the rest, as it does in a browser."""
    out, at = [], 0
    while (start := html.find("<!--", at)) != -1:
        out.append(html[at:start])
        end = html.find("-->", start + 4)
        if end == -1:
            return "".join(out)
        at = end + 3
    return "".join([*out, html[at:]])


def _html(tokens: list[Any]) -> Iterator[tuple[int, str]]:
    """(line index, text) of the changelog's raw HTML, in order: its HTML blocks, and the HTML inside its paragraphs
    (parsed inline only where a '<' is: a code span `<h1>` is code)."""
    from markdown_it import MarkdownIt

    inline = MarkdownIt("commonmark")
    for t in tokens:
        if t.map is None or "<" not in t.content:
            continue
        if t.type == "html_block":
            yield t.map[0], t.content
        elif t.type == "inline":
            for child in inline.parseInline(t.content)[0].children or []:
                if child.type == "html_inline":
                    yield t.map[0], child.content


def _unclosed_tag(html: list[tuple[int, str]]) -> tuple[int, str] | None:
    """(line index, name) of the first element ``html`` opens and never closes, comments left out; None if none."""
    opened: dict[str, list[int]] = {}
    for index, text in html:
        for closing, name, empty in _TAG.findall(_without_comments(text)):
            name = name.lower()
            if name in _SELF_CLOSING or empty:
                continue
            if not closing:
                opened.setdefault(name, []).append(index)
            elif opened.get(name):
                opened[name].pop()
    left = [(lines[0], name) for name, lines in opened.items() if lines]
    return min(left) if left else None


def _nested(lines: list[str], shown: str, first: int) -> list[str]:
    """``lines`` (the entries, from the changelog's line ``first`` + 1 on) with every Markdown heading moved down
    by one level, or by two where one is a level-1 heading (at most to level 6, where a heading stays one), so
    that none is a heading of the card's level or above; read as CommonMark reads it (markdown-it), so a '#' in
    a code block is code, left as written."""
    from markdown_it import MarkdownIt  # rich's dependency; imported here, when a changelog is shown

    # Block structure only: inline parsing took 3 s of a 1-MiB changelog; a paragraph that may hold an HTML
    # heading is parsed inline on its own (a code span `<h1>` is code).
    parser = MarkdownIt("commonmark").disable("inline")
    tokens = parser.parse("\n".join(lines))
    headings = [t for t in tokens if t.type == "heading_open" and t.map is not None]

    def refuse(index: int, why: str) -> BuildError:
        return BuildError(f"changelog {shown} line {first + index + 1}: {why} (--changelog)")

    html = list(_html(tokens))
    heading = next((i for i, text in html if _HTML_HEADING.search(_without_comments(text))), None)
    if heading is not None:
        raise refuse(
            heading,
            "a heading written in HTML (<h1>, <h2>) would be a heading of the card itself, beside its sections: "
            "write it in Markdown ('### ' and below)",
        )
    if (unclosed := _unclosed_tag(html)) is not None:
        index, tag = unclosed
        raise refuse(
            index,
            f"<{printable(tag, limit=40)}> opened there is never closed, so the card's sections after the changelog "
            "would render inside it: close it",
        )
    setext = next((t for t in headings if t.markup in ("=", "-")), None)
    if setext is not None:
        raise refuse(
            setext.map[1] - 1,  # the underline
            f"the line '{setext.markup * 3}' under text makes it a heading (setext), which cannot be moved below the "
            "card's own sections: write the heading as '### text', or leave a blank line above a '---' rule",
        )
    if not headings:
        return lines
    shift = CARD_LEVEL + 1 - min(int(t.tag[1]) for t in headings)
    out = list(lines)
    for t in headings:
        index, level = t.map[0], int(t.tag[1])
        mark = _ATX_MARK.match(out[index])
        if mark is None or len(mark[1]) != level:  # every container mark is in _ATX_MARK: not seen
            raise refuse(index, "a heading whose level cannot be read from its line: write it as '### text'")
        out[index] = out[index][: mark.start(1)] + "#" * min(level + shift, 6) + out[index][mark.end(1) :]
    return out


def changelog_entries(path: Path | None, *, required: bool = True, version: str | None = None) -> str:
    """The entries of the data changelog (from its first '## ' section on), their headings moved down
    so that they nest under the card's own 'Changelog' heading (``_nested``). A missing file is an error when
    ``required`` (a path the user gave), otherwise no entries (the default path, outside a checkout).
    ``version``: the card's (a release or pre-release; None for a local build); its card shows the
    'Unreleased' section headed with that version, since it is what the card releases. The file is
    not changed."""
    if path is None:
        return ""
    shown = printable(str(path))
    try:
        # Judged before it is opened: a FIFO would block the open, /dev/zero never end.
        text = smallfile.read_text(path, MAX_CHANGELOG_BYTES)
    except smallfile.SmallFileError as exc:
        if exc.reason == "missing" and not required:
            return ""
        # a path that is missing or not a file is the option's; what the file holds is the data's
        kind = BuildOptionError if exc.reason in ("missing", "not_regular") else BuildError
        raise kind(_changelog_problem(shown, exc)) from None
    text = text.removeprefix("\ufeff")  # an editor's byte-order mark: the first heading stays a heading
    lines = _LINE_END.split(text)
    if lines[-1] == "":
        lines.pop()  # the last line's end
    if hidden := _hidden(lines):
        number, column, ch = hidden
        raise BuildError(
            f"changelog {shown} line {number}, column {column}: character U+{ord(ch):04X} is a control, "
            "format (direction) or separator character, which the card cannot show as written (--changelog): "
            "remove it"
        )
    start = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    lines = lines[start:]
    if unclosed := _unclosed(lines):
        index, what = unclosed
        raise BuildError(
            f"changelog {shown} line {start + index + 1}: {printable(what)} opened there is never closed, so the "
            "card's sections after the changelog would render inside it (--changelog): close it"
        )
    if version is not None:
        unreleased = next((i for i, line in enumerate(lines) if _UNRELEASED.fullmatch(line)), None)
        if unreleased is not None:
            lines[unreleased] = f"## {version}"
    return "\n".join(_nested(lines, shown, start))
