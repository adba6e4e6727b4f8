"""eco-dataset publish refuses a build holding a file edited since the build wrote it: the release would
publish the build's marker, which records each file's sha256, beside other bytes (review35 F1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_hub import PARQUET, autospec_api, make_build

from dataset_card.publish import PublishError, dry_run, publish


@pytest.mark.parametrize("edit", ["README.md", PARQUET])
def test_a_file_edited_since_the_build_is_not_published(tmp_path: Path, edit: str) -> None:
    build = make_build(tmp_path)
    with (build / edit).open("ab") as f:
        f.write(b"\n<!-- a note -->\n")
    api = autospec_api([], ["h1"])
    with pytest.raises(PublishError, match=rf"holds {edit}, which no longer holds the bytes eco-dataset build wrote"):
        dry_run(api, "o/r", build, "1.0.0")
    with pytest.raises(PublishError, match="nothing published"):
        publish(api, "o/r", build, "1.0.0")
    api.create_commit.assert_not_called()


def test_a_file_deleted_since_the_build_is_still_the_missing_file_it_was(tmp_path: Path) -> None:
    build = make_build(tmp_path)
    (build / PARQUET).unlink()
    with pytest.raises(PublishError, match=r"\(missing\)"):
        dry_run(autospec_api([], ["h1"]), "o/r", build, "1.0.0")
