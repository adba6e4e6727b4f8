"""A changelog that opens a code fence or an HTML block and never closes it (dsattack39): the card's sections
after the changelog (its Citation) rendered as code, or were hidden, in a build that exited 0."""

from __future__ import annotations

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
