"""A changelog that opens a code fence or an HTML block and never closes it (dsattack39): the card's sections
after the changelog (its Citation) rendered as code, or were hidden, in a build that exited 0."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from dataset_card.build import BuildError, changelog_entries


@pytest.mark.parametrize(
    ("body", "line", "what"),
    [
        ("- rows\n```\nexample", 4, "a code fence (```)"),
        ("- rows\n````text\n```\n", 4, "a code fence (````)"),
        ("- rows\n  ~~~\n", 4, "a code fence (~~~)"),
        ("- rows\n<!-- to do: the H200 rows\n", 4, "an HTML block (<!-- to do: )"),
        ("<script>\n", 3, "an HTML block (<script>)"),
        ("<![CDATA[ x\n", 3, "an HTML block (<![CDATA[ x)"),
    ],
)
def test_a_block_never_closed_is_refused_naming_its_line(tmp_path: Path, body: str, line: int, what: str) -> None:
    path = tmp_path / "DATA_CHANGELOG.md"
    path.write_text(f"# Data changelog\n\n## Unreleased\n{body}", encoding="utf-8")
    with pytest.raises(BuildError) as caught:
        changelog_entries(path)
    assert str(caught.value) == (
        f"changelog {path} line {line + 1}: {what} opened there is never closed, so the card's sections after the "
        "changelog would render inside it (--changelog): close it"
    )


def test_blocks_that_close_and_inline_marks_are_shown_as_written(tmp_path: Path) -> None:
    path = tmp_path / "DATA_CHANGELOG.md"
    body = [
        "```intro: before the first section, never shown",
        "## Unreleased",
        "```bash",
        "eco-dataset build",
        "```",
        "~~~~",
        "```",
        "~~~~~",
        "<!-- one line -->",
        "<!--",
        "several lines",
        "-->",
        "<pre>x</pre>",
        "- a row <!-- inline, not a block",
        "- ``code`` and x ```",
        "    ```",
    ]
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    assert changelog_entries(path) == "\n".join(["### Unreleased", *body[2:]])


def _entries(tmp_path: Path, text: str, version: str | None = None) -> str:
    path = tmp_path / "DATA_CHANGELOG.md"
    path.write_text(text, encoding="utf-8")
    return changelog_entries(path, version=version)


def test_a_level_one_heading_among_the_entries_nests_under_the_cards_changelog(tmp_path: Path) -> None:
    """A '# ' heading after the first '## ' section became '## ', a section of the card beside its Changelog and
    Citation (and one indented by a space, or in a quote, stayed a level-1 heading, the card's title level): every
    heading moves down so that the highest is level 3, keeping their order of rank."""
    text = "# Data\n\n## Unreleased\n- rows\n# 2026\n ## 1.1.0\n> # quoted\n- # listed\n### part\n###### six\n"
    assert _entries(tmp_path, text, version="1.2.0") == (
        "#### 1.2.0\n- rows\n### 2026\n #### 1.1.0\n> ### quoted\n- ### listed\n##### part\n###### six"
    )
    assert _entries(tmp_path, "## Unreleased\n- rows\n##### five\n###### six\n") == (
        "### Unreleased\n- rows\n###### five\n###### six"  # a seventh '#' is no heading: level 6 is the last
    )


def test_a_hash_in_code_is_code_and_a_hash_without_a_space_is_text(tmp_path: Path) -> None:
    """Every line starting with '#' got one more, inside a code fence too: a shell comment in an example became
    '## comment', the command shown otherwise than written."""
    text = "## Unreleased\n```bash\n# build it\neco-dataset build\n```\n#hashtag\n##\tfive rows\n"
    assert (
        _entries(tmp_path, text)
        == "### Unreleased\n```bash\n# build it\neco-dataset build\n```\n#hashtag\n###\tfive rows"
    )


@pytest.mark.parametrize(
    ("body", "line", "why"),
    [
        ("- rows\n\nA release\n===", 6, "the line '===' under text makes it a heading (setext)"),
        ("- rows\n\nnotes\n---", 6, "the line '---' under text makes it a heading (setext)"),
        ("<h2>A release</h2>", 3, "a heading written in HTML (<h1>, <h2>)"),
        ("- rows\n\nsee <H1 class=x>this</H1>", 5, "a heading written in HTML (<h1>, <h2>)"),
    ],
)
def test_a_heading_that_cannot_move_below_the_cards_sections_is_refused(
    tmp_path: Path, body: str, line: int, why: str
) -> None:
    """A setext heading (no level below 2 exists) or an HTML <h1>/<h2> was a section of the card itself."""
    with pytest.raises(BuildError) as caught:
        _entries(tmp_path, f"# Data\n## Unreleased\n{body}\n")
    assert str(caught.value).startswith(f"changelog {tmp_path / 'DATA_CHANGELOG.md'} line {line}: {why}")
    assert str(caught.value).endswith("(--changelog)")


def test_a_rule_and_html_headings_in_code_are_shown_as_written(tmp_path: Path) -> None:
    text = "## Unreleased\n- rows\n\n---\n\n`<h1>` and <h3>part</h3>\n"
    assert _entries(tmp_path, text) == "### Unreleased\n- rows\n\n---\n\n`<h1>` and <h3>part</h3>"


@pytest.mark.parametrize(
    ("body", "line", "tag"),
    [
        ("- rows\n<details>\n<summary>The H200 rows</summary>\n\n- more rows", 4, "details"),
        ("- rows <b>in bold", 3, "b"),  # a formatting element: the browser carries it on into the next paragraphs
        ('<div class="notes">\n\n- rows\n\n<!-- </div> -->', 3, "div"),
    ],
)
def test_an_html_element_never_closed_is_refused_naming_its_line(
    tmp_path: Path, body: str, line: int, tag: str
) -> None:
    """An HTML block of CommonMark's type 6 ends at a blank line, but the element it opens does not: an unclosed
    <details> folded the card's Citation into it, an unclosed <b> made the rest of the card bold."""
    with pytest.raises(BuildError) as caught:
        _entries(tmp_path, f"# Data\n## Unreleased\n{body}\n")
    assert str(caught.value) == (
        f"changelog {tmp_path / 'DATA_CHANGELOG.md'} line {line}: <{tag}> opened there is never closed, so the card's "
        "sections after the changelog would render inside it: close it (--changelog)"
    )


def test_html_elements_that_close_or_need_no_end_tag_are_shown_as_written(tmp_path: Path) -> None:
    text = (
        "## Unreleased\n<details>\n<summary>rows</summary>\n\n- x\n\n</details>\n\n"
        "a<br>b <img src=x.png> <p>no end tag <B>bold</b> <a href='x>y'>link</a>\n\n`<div>` is code\n"
    )
    assert _entries(tmp_path, text) == "### " + text.removeprefix("## ").rstrip("\n")


def test_html_in_a_comment_is_shown_as_written(tmp_path: Path) -> None:
    """A comment hides what it holds: a draft heading commented out (<!-- <h2>... -->) was refused as a heading of
    the card, though an element left open in a comment was not."""
    text = "## Unreleased\n<!-- <h2>H200 rows</h2> to come -->\n- rows <!-- <h1> --> kept\n"
    assert _entries(tmp_path, text) == "### " + text.removeprefix("## ").rstrip("\n")


@pytest.mark.parametrize("html", ["<div\n" + "<a " * 30_000, "<div>\nx " + "<!--" * 30_000], ids=["tags", "comments"])
def test_a_changelogs_html_is_read_in_linear_time(tmp_path: Path, html: str) -> None:
    """The tags of an HTML block were read by a pattern that, from every '<', could scan on to the end (as its
    comments were): 90 KB of '<a ' took over a minute, the 1 MiB a changelog may have, hours. Whether such text
    is refused is not the point here."""
    import time

    path = tmp_path / "DATA_CHANGELOG.md"
    path.write_text(f"# Data changelog\n\n## Unreleased\n{html}\n", encoding="utf-8")  # an HTML block
    started = time.monotonic()
    with contextlib.suppress(BuildError):
        changelog_entries(path)
    assert time.monotonic() - started < 5.0  # 0.05 s here; over 60 s before
