"""A release deletes on the Hub only what an earlier release wrote there: each publishes its build's
marker (publish.MANIFEST, the files the build wrote), the next reads it at main's head and deletes only
paths it lists that the new build lacks. A LICENSE, an image or notes a maintainer added on the Hub are
kept and listed under "keep"; a repository published before the manifest loses only files where a build
writes. Against ``fake_hub.Hub``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_hub import GITATTRIBUTES, PARQUET, Hub, http_error, make_build, released

from dataset_card import outdir
from dataset_card.publish import MANIFEST, Published, PublishError, dry_run, in_layout, publish

BY_HAND = {  # what maintainers add on the Hub: eco-dataset never wrote these paths
    "LICENSE": b"CC-BY-4.0\n",
    "images/banner.png": b"\x89PNG banner",
    "figures/made-by-hand.png": b"\x89PNG by hand",  # beside the build's figures: still not written by it
    "measurements/NOTES.md": b"how these were measured\n",
}


def _build(tmp_path: Path, name: str, extra: dict[str, bytes] | None = None) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return make_build(folder, extra)


def test_a_release_deletes_only_what_an_earlier_release_wrote(tmp_path: Path) -> None:
    """v1.0.0 wrote two figures the next build no longer draws; a maintainer then added a licence and
    images on the Hub. v1.1.0 deletes the two figures and keeps the maintainer's files; every file
    but .gitattributes was deleted before."""
    first = _build(tmp_path, "first", {"figures/old.png": b"\x89PNG old", "figures/report/gone.png": b"\x89PNG gone"})
    hub = Hub({".gitattributes": GITATTRIBUTES})
    publish(hub.api, "o/r", first, "1.0.0")
    assert hub.files == released(first)  # the build's marker is published: it lists what the release wrote
    assert json.loads(hub.files[MANIFEST])["files"] == sorted(set(released(first)) - {".gitattributes", MANIFEST})
    hub.move({**hub.files, **BY_HAND})

    second = _build(tmp_path, "second")
    plan = dry_run(hub.api, "o/r", second, "1.1.0")
    assert plan.deleted == ["figures/old.png", "figures/report/gone.png"]
    assert plan.kept == sorted([".gitattributes", *BY_HAND])
    lines = plan.lines()
    assert (
        lines[4]
        == "  delete (2): figures/old.png, figures/report/gone.png (written by an earlier release, not in this build)"
    )
    assert lines[5] == (
        "  keep (5): .gitattributes, LICENSE, figures/made-by-hand.png, images/banner.png, measurements/NOTES.md "
        "(not written by an earlier release: never deleted)"
    )
    assert not any("main holds no" in line for line in lines)

    publish(hub.api, "o/r", second, "1.1.0")
    assert hub.files == {**released(second), **BY_HAND}
    assert hub.files[MANIFEST] == (second / MANIFEST).read_bytes()  # the build's own marker, byte for byte


def test_a_repository_published_before_the_manifest_loses_only_files_where_a_build_writes(tmp_path: Path) -> None:
    """No manifest on main: a release deletes only config Parquet files and figures the build lacks;
    everything else is kept, and the plan says why. Its release publishes the manifest, which the
    next one reads."""
    stale = ["figures/energy.png", "figures/report/ratio-a100.png", "trials/train-00000-of-00002.parquet"]
    foreign = ["LICENSE", "data/extra.csv", "figures/sub/deep.png", "measurements/NOTES.md", "old/stale.parquet"]
    before = {".gitattributes": GITATTRIBUTES, "README.md": b"a card of 2025", PARQUET: b"PAR1 of 2025"}
    hub = Hub(before | {p: b"x" for p in stale + foreign})
    build = _build(tmp_path, "build")
    plan = dry_run(hub.api, "o/r", build, "1.0.0")
    assert plan.deleted == stale and plan.kept == [".gitattributes", *foreign] and not plan.manifest
    lines = plan.lines()
    assert lines[5] == f"  keep (6): .gitattributes, {', '.join(foreign)} (not where a build writes: never deleted)"
    assert lines[6] == (
        "  main holds no .eco-dataset-build (the files an earlier release wrote: releases before it listed none), "
        "so only files where a build writes may be deleted: config Parquet files, PNGs in figures/ and figures/report/"
    )
    publish(hub.api, "o/r", build, "1.0.0")
    assert hub.files == {**released(build), **{p: b"x" for p in foreign}}
    plan = dry_run(hub.api, "o/r", _build(tmp_path, "next", {"trials/x.parquet": b"PAR1"}), "1.1.0")
    assert plan.manifest and plan.deleted == [] and plan.kept == [".gitattributes", *foreign]


def test_where_a_build_writes() -> None:
    from dataset_card import hubfiles as module
    from dataset_card import report

    assert module._REPORT_FIGURES == report.FOLDER
    for path in (
        "measurements/train-00000-of-00001.parquet",
        "legacy/x.parquet",
        "figures/a.png",
        "figures/report/b.png",
    ):
        assert in_layout(path), path
    for path in (
        "README.md",
        "LICENSE",
        "other/x.parquet",
        "measurements/a/x.parquet",
        "figures/x.svg",
        "figures/a/b.png",
    ):
        assert not in_layout(path), path


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        (b"not json", r"is not one \(Expecting value: line 1 column 1 \(char 0\)\)"),
        (b"\xff\xfe\x00", r"is not one \(.*codec can't decode"),
        (b'["README.md"]', r"is not one \(not a JSON object\)"),
        (
            b'{"format": "other/1", "files": []}',
            r"is not one \(its format is 'other/1', not 'ecocompute-llm-energy-build/1'\)",
        ),
        (
            json.dumps({"format": outdir.FORMAT, "files": "README.md"}).encode(),
            r'is not one \(its "files" is not a list',
        ),
        (json.dumps({"format": outdir.FORMAT, "files": [1]}).encode(), r'is not one \(its "files" is not a list'),
        (b"[" * 100_000, r"is not one \(JSON nested too deeply\)"),
        (b" " * (1 << 20) + b"{}", r"is 1048578 bytes, more than the 1048576 one may have"),
    ],
)
def test_a_manifest_on_main_that_is_not_one_is_refused(tmp_path: Path, manifest: bytes, why: str) -> None:
    """Without a readable manifest a release cannot tell what eco-dataset wrote: nothing is published,
    and the error says which file and how to mend it."""
    hub = Hub({".gitattributes": GITATTRIBUTES, MANIFEST: manifest, "LICENSE": b"CC-BY-4.0\n"})
    build = _build(tmp_path, "build")
    said = (
        rf"^\.eco-dataset-build on o/r's main \(0{{40}}\), the list of the files an earlier release wrote, {why}.*; "
        r"nothing published: restore it from the latest release's tag, or delete it on the Hub \(a release then "
        r"deletes only files where a build writes\)$"
    )
    for attempt in (dry_run, publish):
        with pytest.raises(PublishError, match=said):
            attempt(hub.api, "o/r", build, "1.0.0")
    assert hub.commits == 0 and "LICENSE" in hub.files
    if len(manifest) > 1 << 20:  # refused by the size main's listing gives: never downloaded
        assert all(c.args[1] != MANIFEST for c in hub.api.hf_hub_download.call_args_list)


def test_a_manifest_edited_on_the_hub_is_what_decides(tmp_path: Path) -> None:
    """The manifest at main's head decides, whoever edited it last, except for the Hub's own file."""
    listed = json.dumps({"format": outdir.FORMAT, "files": [".gitattributes", "LICENSE", "figures/a.png"]})
    files = {"LICENSE": b"x", "figures/a.png": b"x", "figures/b.png": b"x"}
    hub = Hub({".gitattributes": GITATTRIBUTES, MANIFEST: listed.encode(), **files})
    publish(hub.api, "o/r", _build(tmp_path, "build"), "1.0.0")
    assert {".gitattributes", "figures/b.png"} <= set(hub.files) and not {"LICENSE", "figures/a.png"} & set(hub.files)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda b: (b / "LICENSE").write_text("mine"), r"\(LICENSE \(not listed\)\)"),
        (lambda b: (b / PARQUET).unlink(), rf"\({PARQUET} \(missing\)\)"),
    ],
)
def test_a_build_folder_whose_marker_does_not_list_its_files_is_refused(tmp_path: Path, change, said: str) -> None:
    """The marker is published as the list of what the release wrote: a folder holding other files
    would make the next release delete a file eco-dataset did not write, or keep a stale one."""
    build = _build(tmp_path, "build")
    change(build)
    hub = Hub({".gitattributes": GITATTRIBUTES})
    for attempt in (dry_run, publish):
        with pytest.raises(PublishError, match=rf"holds other files than its \.eco-dataset-build marker lists {said}"):
            attempt(hub.api, "o/r", build, "1.0.0")
    (build / MANIFEST).write_text("{}")
    with pytest.raises(PublishError, match=r"is not a built dataset \(no valid \.eco-dataset-build marker\)"):
        publish(hub.api, "o/r", build, "1.0.0")
    assert hub.commits == 0


def test_a_rerun_after_a_tag_failure_keeps_a_file_added_meanwhile_and_tags_the_head(tmp_path: Path) -> None:
    """The commit landed, the tag failed, and a maintainer added a licence before the re-run: the
    re-run keeps it, and since a commit would change nothing else, tags main's head."""
    build = _build(tmp_path, "build")
    hub = Hub({".gitattributes": GITATTRIBUTES})
    hub.tag_failures.append(http_error(502))
    with pytest.raises(PublishError, match="landed"):
        publish(hub.api, "o/r", build, "1.0.0")
    hub.move({**hub.files, "LICENSE": b"CC-BY-4.0\n"})
    plan = dry_run(hub.api, "o/r", build, "1.0.0")
    assert plan.current and plan.lines()[2] == (
        "  keep (2): .gitattributes, LICENSE (not written by an earlier release: never deleted)"
    )
    assert publish(hub.api, "o/r", build, "1.0.0") == Published("e" * 40, "v1.0.0", committed=False)
    assert hub.files["LICENSE"] == b"CC-BY-4.0\n" and hub.commits == 1
