"""Text from the data renders as the text itself in the card and the report: no link (attack v16 V16-5: GitHub's
and the Hub's Markdown turn www.x.y and scheme://x in plain text into links)."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from advisor import report
from dataset_card import card
from ecocompute.cli import printable

# "www." as such, or "://" behind an even number of backslashes (none, or escaped ones): what an autolink matches
LIVE = re.compile(r"(?i)www\.|(?:^|[^\\])(?:\\\\)*://")
LINKY = ["www.evil.example/x", "WWW.Evil.example", "see http://a.b/c", "https://x.y", "ftp://h", "a www.b.c d"]


@pytest.mark.parametrize("escape", [card.cell, report._md])
@pytest.mark.parametrize("value", LINKY)
def test_a_url_in_the_data_is_not_left_for_an_autolink(escape: object, value: str) -> None:
    escaped = escape(value)  # type: ignore[operator]
    assert not LIVE.search(escaped)
    # and CommonMark renders the escapes back to the text as written
    assert MarkdownIt().renderInline(escaped) == html.escape(value, quote=False)


@given(st.text(alphabet=st.sampled_from("wW.:/ abh\\|&_"), max_size=40))
def test_no_text_leaves_an_autolink_in_a_cell(value: str) -> None:
    for escaped in (card.cell(value), report._md(value)):
        assert not LIVE.search(escaped)


def test_ids_without_urls_read_as_before() -> None:
    assert card.cell("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert card.cell("NVIDIA H100 80GB HBM3") == "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize("escape", [card.cell, report._md])
@pytest.mark.parametrize("value", ["~~gone~~", "about ~30 % and ~40 %", "a\u202eb", "<b>x</b> &amp; *y*", "a|b\\c"])
def test_card_and_report_escape_alike_and_render_the_text_as_written(escape: object, value: str) -> None:
    """tidy31 (review29 F6): one escaper, ecocompute.markdown.cell. The card's left '~' unescaped, as the
    report's did (GitHub strikes through text between one or two tildes: 'about ~30 % and ~40 %' lost its
    middle there), and let a bidi override through."""
    escaped = escape(value)  # type: ignore[operator]
    rendered = MarkdownIt().enable("strikethrough").renderInline(escaped)
    assert rendered == html.escape(printable(value), quote=False)
    assert "\u202e" not in escaped and "\n" not in escaped


def test_the_report_cuts_a_long_value_the_card_does_not() -> None:
    assert card.cell("x" * 300) == "x" * 300 and report._md("x" * 300) == "x" * 197 + "..."


@pytest.mark.parametrize("escape", [card.cell, report._md])
@pytest.mark.parametrize("value", ["from $5 to $10", "$x^2$", "ops@evil.example", "mailto:a@b.example", "xmpp:a@b.c/d"])
def test_no_math_and_no_e_mail_link_is_left_in_a_cell(escape: object, value: str) -> None:
    """review31: GitHub renders $...$ as math (what lies between two dollars was lost), and GFM's extended
    autolinks make a@b.example and mailto:/xmpp: addresses links; each '$' and '@' is escaped, and renders as
    itself."""
    escaped = escape(value)  # type: ignore[operator]
    assert not re.search(r"(?:^|[^\\])(?:\\\\)*[$@]", escaped), escaped
    assert MarkdownIt().renderInline(escaped) == html.escape(value, quote=False)
