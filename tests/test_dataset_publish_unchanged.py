"""eco-dataset publish --dry-run listed byte-identical files under "replace" (22 where only README.md differed), and
the commit uploaded them all: the plan counts them as unchanged (by the ids the Hub lists) and the one commit
leaves them out (attackds2 N4)."""

from __future__ import annotations

from pathlib import Path

from fake_hub import GITATTRIBUTES, PARQUET, ROWS, SUBMISSIONS, Hub, card, make_build, released

from dataset_card.publish import MANIFEST, dry_run, publish


def test_a_re_release_lists_and_uploads_only_what_changed(tmp_path: Path) -> None:
    hub = Hub({".gitattributes": GITATTRIBUTES})
    (tmp_path / "first").mkdir()
    publish(hub.api, "o/r", make_build(tmp_path / "first"), "1.0.0")
    (tmp_path / "second").mkdir()
    # the same rows: only the card differs (its version), and so the marker (the card's sha256)
    second = make_build(tmp_path / "second", {"README.md": (card(ROWS) + "\nversion 1.1.0\n").encode()})
    plan = dry_run(hub.api, "o/r", second, "1.1.0")
    assert (plan.added, plan.replaced, plan.deleted) == ([], [MANIFEST, "README.md"], [])
    assert plan.unchanged == [PARQUET, SUBMISSIONS]  # two LFS files, compared by their ids
    lines = plan.lines()
    assert lines[3].startswith("  replace (2): README.md (the card")
    assert lines[-2] == "  unchanged (2): the Hub holds the same bytes, not uploaded"
    publish(hub.api, "o/r", second, "1.1.0")
    assert [op.path_in_repo for op in hub.api.create_commit.call_args.kwargs["operations"]] == [MANIFEST, "README.md"]
    assert hub.files == released(second) and hub.tags["v1.1.0"] == hub.head
