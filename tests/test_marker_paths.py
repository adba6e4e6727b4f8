"""A marker lists the files as the tool wrote them: relative POSIX paths inside its folder, each named
once. One naming a file outside (``../x``, ``/x``) or one file under many names (``./x``, ``.//x``) is no
marker: the edit check hashed each name, so a 1 MB marker had one 100 MB file read ten thousand times
before any work (review35 F2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecocompute.marked import BUILD


def _marker(folder: Path, names: list[str]) -> None:
    written = {n: {"size": 1, "sha256": "0" * 64} for n in names}
    doc = {"format": BUILD.format, "files": names, "written": written}
    (folder / BUILD.name).write_text(json.dumps(doc))


@pytest.mark.parametrize("name", ["./x", "a//x", "a/./x", "../x", "a/../x", "/etc/x", "a/", "", "."])
def test_a_marker_naming_a_path_no_build_writes_is_no_marker(tmp_path: Path, name: str) -> None:
    _marker(tmp_path, ["x", name])
    assert BUILD.read(tmp_path) is None
    with pytest.raises(ValueError, match="not a path inside the folder"):
        BUILD.document((tmp_path / BUILD.name).read_bytes())


def test_the_paths_a_build_writes_are_a_marker(tmp_path: Path) -> None:
    names = ["README.md", "measurements/train-00000-of-00001.parquet", "figures/report/a b..png", ".hidden"]
    _marker(tmp_path, names)
    marker = BUILD.read(tmp_path)
    assert marker is not None and marker.files == frozenset(names)
