"""eco-dataset publish names a build folder, and the files of a release's plan, escaped: a folder or file name
holding a line break or a terminal escape split the one-line error, or reached the terminal raw (review35 L4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_hub import GITATTRIBUTES, Hub, make_build

from dataset_card import outdir
from dataset_card.publish import MANIFEST, PublishError, dry_run
from ecocompute.cli import printable

ODD = "bu\x1b[31mild\nx"  # a terminal escape and a line break in the build folder's name


def _refused(build: Path) -> str:
    with pytest.raises(PublishError) as refused:
        dry_run(Hub({".gitattributes": GITATTRIBUTES}).api, "o/r", build, "1.0.0")
    message = str(refused.value)
    assert "\x1b" not in message and "\n" not in message, message
    return message


def test_a_folder_that_is_no_build_is_named_escaped(tmp_path: Path) -> None:
    (tmp_path / ODD).mkdir()
    assert _refused(tmp_path / ODD).startswith(f"{printable(str(tmp_path / ODD))} is not a built dataset (no README")
    (tmp_path / ODD / "README.md").write_text("# card\n")
    assert f"{printable(str(tmp_path / ODD))} is not a built dataset (no valid" in _refused(tmp_path / ODD)


def test_a_build_holding_an_unlisted_file_names_both_escaped(tmp_path: Path) -> None:
    (tmp_path / ODD).mkdir()
    build = make_build(tmp_path / ODD)
    (build / "notes\x1b[2J.txt").write_text("mine")
    message = _refused(build)
    assert message.startswith(f"{printable(str(build))} holds other files than its {MANIFEST} marker lists")
    assert "(notes\\x1b[2J.txt (not listed))" in message


def test_a_build_whose_card_states_no_rows_is_named_escaped(tmp_path: Path) -> None:
    (tmp_path / ODD).mkdir()
    build = make_build(tmp_path / ODD)
    (build / "README.md").write_text("# a card without its front matter\n")
    outdir.mark(build)  # as a build would have written it
    assert _refused(build).startswith(f"{printable(str(build))} is not a built dataset (its card states no row")


def test_a_file_the_plan_names_is_escaped(tmp_path: Path) -> None:
    """What a release deletes or keeps comes from the Hub: any name a repository holds."""
    stale = "figures/old\x1b[2J.png"
    listed = json.dumps({"format": outdir.FORMAT, "files": [stale]}).encode()
    hub = Hub({".gitattributes": GITATTRIBUTES, MANIFEST: listed, stale: b"x", "LICENSE\x1b]0;x\x07": b"x"})
    (tmp_path / "build").mkdir()
    text = "\n".join(dry_run(hub.api, "o/r", make_build(tmp_path / "build"), "1.0.0").lines())
    assert "\x1b" not in text and "\x07" not in text
    assert "figures/old\\x1b[2J.png" in text and "LICENSE\\x1b]0;x\\x07" in text
