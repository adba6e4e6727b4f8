"""Two runs into one --out at once (dsattack39): the second run's swap waits for the first's."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from dataset_card import outdir
from ecocompute import folders


def _write(text: str):
    return lambda staging: (staging / "README.md").write_text(text)


def test_a_run_swapping_while_another_sets_the_old_build_aside_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six builds at once into one --out: some failed 'Directory not empty: .b.old-...', each leaving a whole
    earlier build aside for good. One run had set the old build aside; the other found --out free in that
    instant and renamed its own in; the first could then neither rename its build in nor put the old one back."""
    out = tmp_path / "b"
    outdir.replace(out, _write("first"))
    other: list[threading.Thread] = []
    errors: list[BaseException] = []
    rename = Path.rename

    def second_run() -> None:
        try:
            outdir.replace(out, _write("second"))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def racing_rename(self: Path, target: Path) -> Path:
        moved = rename(self, target)
        if self == out and ".b.old-" in Path(target).name and not other:  # the first run set the old build aside
            other.append(threading.Thread(target=second_run))
            other[0].start()
            other[0].join(0.5)  # finishes here unless it waits for this run's swap
        return moved

    monkeypatch.setattr(Path, "rename", racing_rename)
    outdir.replace(out, _write("third"))
    other[0].join(10)
    assert not errors
    assert (out / "README.md").read_text() == "second"  # the run that swapped last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    assert outdir.BUILD.foreign(out) == []


@pytest.mark.skipif(os.name != "posix", reason="flock: POSIX file systems")
def test_a_swap_lock_held_too_long_fails_in_one_line_and_keeps_the_old_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped (SIGSTOP) or hung while it holds the folder's lock made every other run into that folder wait
    at its swap for ever; it now waits SWAP_WAIT_S, then fails naming the folder, the old build kept."""
    import fcntl

    out = tmp_path / "b"
    outdir.replace(out, _write("first"))
    monkeypatch.setattr(folders, "SWAP_WAIT_S", 0.2)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # as another run swapping into a folder beside it
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(folders.FolderError, match=r"another run has held the lock on .* for 0\.2 s"):
            outdir.replace(out, _write("second"))
    finally:
        os.close(fd)
    assert (out / "README.md").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    outdir.replace(out, _write("third"))  # the lock released: runs swap again
    assert (out / "README.md").read_text() == "third"
