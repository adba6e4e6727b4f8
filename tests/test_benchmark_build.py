"""benchmarks/build_dataset.py reuses synthetic files only when this generator wrote them with these
sizes and this checkout accepts them; anything else stops it with one line, and nothing is removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import script_module

bench = script_module("benchmarks/build_dataset.py")


def _files(subs: Path) -> list[Path]:
    return sorted((subs / "synthetic-bot").glob("*.json"))


def _stops(subs: Path, *sizes: int) -> str:
    with pytest.raises(SystemExit) as stop:
        bench.prepare(subs, *sizes)
    message = str(stop.value.code)
    assert message.startswith("error: ") and "\n" not in message
    return message


def test_files_are_generated_once_then_reused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subs = tmp_path / "subs"
    bench.prepare(subs, 2, 1, 7)
    assert "generated 2 submissions" in capsys.readouterr().out and len(_files(subs)) == 2
    before = [p.stat().st_mtime_ns for p in _files(subs)]
    bench.prepare(subs, 2, 1, 7)
    assert "generated" not in capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in _files(subs)] == before


@pytest.mark.parametrize("sizes", [(3, 1, 7), (2, 2, 7), (2, 1, 9)])
def test_files_of_other_sizes_stop_the_run_and_are_kept(tmp_path: Path, sizes: tuple[int, int, int]) -> None:
    subs = tmp_path / "subs"
    bench.prepare(subs, 2, 1, 7)
    assert "another generator or size" in _stops(subs, *sizes)
    assert len(_files(subs)) == 2


def test_an_unstamped_or_interrupted_folder_is_not_reused(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    bench.prepare(subs, 2, 1, 7)
    (subs / "synthetic-bot" / bench.STAMP).unlink()  # an older generator, or a run cut before its end
    assert "no stamp" in _stops(subs, 2, 1, 7)
    assert len(_files(subs)) == 2


def test_a_stamped_folder_this_checkout_refuses_is_not_reused(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    bench.prepare(subs, 2, 1, 7)
    first = _files(subs)[0]
    doc = json.loads(first.read_text())
    doc["schema_version"] = "1.2.0"  # what a generator of an older schema wrote
    first.write_text(json.dumps(doc))
    assert "schema.outdated_version" in _stops(subs, 2, 1, 7)
    assert first.exists()


def test_odd_stamps_and_paths_give_one_line(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    bench.prepare(subs, 1, 1, 7)
    (subs / "synthetic-bot" / bench.STAMP).write_bytes(b"\xff\xfe line one\nline two")
    assert "UnicodeDecodeError" in _stops(subs, 1, 1, 7)
    (subs / "synthetic-bot" / bench.STAMP).write_text("line one\nline two\n" * 100)
    assert "line one line two" in _stops(subs, 1, 1, 7)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert "cannot use" in _stops(a_file, 1, 1, 7) and a_file.read_text() == ""
    dangling = tmp_path / "dangling"
    dangling.mkdir()
    (dangling / "synthetic-bot").symlink_to(tmp_path / "nowhere")
    assert "no stamp" in _stops(dangling, 1, 1, 7)
    assert not (tmp_path / "nowhere").exists()
