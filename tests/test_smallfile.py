"""ecocompute.smallfile: the one check every tool makes before reading a small file it was given."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecocompute import smallfile
from ecocompute.smallfile import SmallFileError

posix = pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(os, "O_NOFOLLOW"), reason="POSIX only")


@contextlib.contextmanager
def never_blocks(seconds: float = 2.0) -> Iterator[None]:
    """Fail instead of hanging if the code under test opens a FIFO and waits for a writer: the alarm
    interrupts the blocked open (EINTR) and its handler fails the test (not an OSError, which the
    code under test would turn into an 'unreadable' error)."""

    def expired(signum: int, frame: object) -> None:
        pytest.fail("blocked: a FIFO was opened and waited on")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _open_descriptors() -> int | None:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None


def _reported_size(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Make every stat (before the open and of what was opened) report ``size``: the file grew since."""
    real_stat, real_lstat, real_fstat = Path.stat, Path.lstat, os.fstat

    def small(info: os.stat_result) -> os.stat_result:
        return os.stat_result((*info[:6], size, *info[7:]))

    monkeypatch.setattr(Path, "stat", lambda self, **kw: small(real_stat(self, **kw)))
    monkeypatch.setattr(Path, "lstat", lambda self: small(real_lstat(self)))
    monkeypatch.setattr(os, "fstat", lambda fd: small(real_fstat(fd)))


def test_a_small_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes("café\n".encode())
    assert smallfile.read_bytes(path, 6) == "café\n".encode()  # exactly the limit
    assert smallfile.read_text(path, 100) == "café\n"
    assert smallfile.check(path, 6).st_size == 6
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert smallfile.read_bytes(empty, 0) == b"" and smallfile.read_text(empty, 10) == ""


def test_a_missing_path_says_so_with_the_systems_words(tmp_path: Path) -> None:
    for call in (smallfile.check, smallfile.read_bytes, smallfile.read_text):
        with pytest.raises(SmallFileError) as caught:
            call(tmp_path / "nothing", 10)
        assert caught.value.reason == "missing" and caught.value.errno == errno.ENOENT
        assert caught.value.strerror == os.strerror(errno.ENOENT)
        assert caught.value.path == tmp_path / "nothing"


def test_a_path_that_cannot_be_reached_is_unreadable(tmp_path: Path) -> None:
    """A file used as a folder: the stat fails with ENOTDIR, which is not 'missing'."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(SmallFileError) as caught:
        smallfile.read_bytes(tmp_path / "file" / "inner", 10)
    assert caught.value.reason == "unreadable" and caught.value.errno == errno.ENOTDIR
    assert f"cannot be read ({os.strerror(errno.ENOTDIR)})" in str(caught.value)


def test_a_folder_is_not_a_regular_file(tmp_path: Path) -> None:
    for call in (smallfile.check, smallfile.read_bytes):
        with pytest.raises(SmallFileError) as caught:
            call(tmp_path, 10)
        assert caught.value.reason == "not_regular" and caught.value.mode is not None
        assert stat.S_ISDIR(caught.value.mode) and not caught.value.opened


@posix
def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    descriptors = _open_descriptors()
    with never_blocks():
        for call in (smallfile.check, smallfile.read_bytes, smallfile.read_text):
            with pytest.raises(SmallFileError) as caught:
                call(fifo, 10)
            assert caught.value.reason == "not_regular" and stat.S_ISFIFO(caught.value.mode or 0)
    assert _open_descriptors() == descriptors


@posix
@pytest.mark.parametrize("follow_symlinks", [True, False])
def test_a_fifo_swapped_in_after_the_stat_is_opened_without_waiting_and_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, follow_symlinks: bool
) -> None:
    """The stat saw a regular file; by the open it is a FIFO: opened without waiting for a writer,
    judged by what was opened, closed."""
    decoy = tmp_path / "regular"
    decoy.write_text("{}")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    real_stat, real_lstat = Path.stat, Path.lstat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: real_stat(decoy if self == fifo else self, **kw))
    monkeypatch.setattr(Path, "lstat", lambda self: real_lstat(decoy if self == fifo else self))
    descriptors = _open_descriptors()
    with never_blocks(), pytest.raises(SmallFileError) as caught:
        smallfile.read_bytes(fifo, 10, follow_symlinks=follow_symlinks)
    assert caught.value.reason == "not_regular" and caught.value.opened
    assert _open_descriptors() == descriptors


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_that_never_ends_is_refused_before_it_is_read() -> None:
    with pytest.raises(SmallFileError) as caught:
        smallfile.read_bytes(Path("/dev/zero"), 10)
    assert caught.value.reason == "not_regular" and stat.S_ISCHR(caught.value.mode or 0)


@posix
def test_a_link_is_followed_or_refused_as_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "target"
    target.write_text("secret")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert smallfile.read_text(link, 10) == "secret"  # followed: a Hub snapshot's files are links
    with pytest.raises(SmallFileError) as caught:
        smallfile.read_bytes(link, 10, follow_symlinks=False)
    assert caught.value.reason == "not_regular" and stat.S_ISLNK(caught.value.mode or 0)
    with pytest.raises(SmallFileError) as caught:
        smallfile.check(link, follow_symlinks=False)
    assert caught.value.reason == "not_regular"
    # Swapped in after the lstat: the open refuses to follow it (ELOOP) rather than reading the target.
    real_lstat = Path.lstat
    monkeypatch.setattr(Path, "lstat", lambda self: real_lstat(target if self == link else self))
    with pytest.raises(SmallFileError) as caught:
        smallfile.read_bytes(link, 10, follow_symlinks=False)
    assert caught.value.reason == "unreadable" and caught.value.errno == errno.ELOOP


def test_a_file_over_the_limit_is_refused_from_its_size_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "weights.safetensors"
    with big.open("wb") as fh:
        fh.truncate(2 << 30)  # sparse: costs no disk, and would cost 2 GiB of memory if read
    monkeypatch.setattr(os, "open", lambda *a, **k: pytest.fail("opened"))
    for call in (smallfile.check, smallfile.read_bytes):
        with pytest.raises(SmallFileError) as caught:
            call(big, 1 << 20)
        assert caught.value.reason == "too_large" and not caught.value.grew
        assert (caught.value.size, caught.value.limit) == (2 << 30, 1 << 20)
    assert smallfile.check(big).st_size == 2 << 30  # no limit: any size


@pytest.mark.parametrize("grows_to", [50, 100, 101, 10_000])
def test_a_file_that_grew_after_the_stat_is_read_whole_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grows_to: int
) -> None:
    """One byte past the size the stat gave shows it grew: it is read on to the limit (never cut at
    the size seen), or refused as too large, never read past the limit."""
    path = tmp_path / "growing"
    data = bytes(range(256)) * (grows_to // 256 + 1)
    path.write_bytes(data[:grows_to])
    _reported_size(monkeypatch, 10)
    if grows_to <= 100:
        assert smallfile.read_bytes(path, 100) == data[:grows_to]
        return
    read: list[int] = []
    real_fdopen = os.fdopen

    def counted(fd: int, mode: str) -> object:
        fh = real_fdopen(fd, mode)
        real = fh.read
        fh.read = lambda n: read.append(len(chunk := real(n))) or chunk  # type: ignore[method-assign]
        return fh

    monkeypatch.setattr(os, "fdopen", counted)
    with pytest.raises(SmallFileError) as caught:
        smallfile.read_bytes(path, 100)
    assert caught.value.reason == "too_large" and caught.value.grew and caught.value.size is None
    assert sum(read) == 101  # the limit and one byte, not the 10,000 there
    assert "grew while read" in str(caught.value)


def test_text_that_is_not_utf8_names_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(SmallFileError) as caught:
        smallfile.read_text(path, 100)
    assert caught.value.reason == "not_utf8" and caught.value.offset == 3
    assert str(caught.value) == f"{path} is not UTF-8 text (byte 3)"
    assert smallfile.read_bytes(path, 100) == "café".encode("latin-1")  # bytes: the caller decodes
    with pytest.raises(SmallFileError) as caught:
        smallfile.decode(path, b"ok\xff")
    assert caught.value.offset == 2


# -- callers whose behaviour the shared check changed (each failed on the code before it) ----------


def test_a_changelog_that_grew_past_the_cap_while_read_is_refused_not_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was cut at the cap, silently (or mid-character, then called 'not UTF-8')."""
    from dataset_card import build, changelog

    monkeypatch.setattr(changelog, "MAX_CHANGELOG_BYTES", 100)
    changelog = tmp_path / "DATA_CHANGELOG.md"
    changelog.write_text("## 1.0\n" + "- entry\n" * 50, encoding="utf-8")
    _reported_size(monkeypatch, 10)
    with pytest.raises(build.BuildError) as caught:
        build.changelog_entries(changelog)
    assert str(caught.value) == f"changelog {changelog} is more than the 100 a card shows (--changelog)"


def test_a_checkpoint_that_grew_past_the_cap_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first MAX_BYTES + 1 bytes were parsed as if they were the whole file."""
    from collector import checkpoint
    from collector.errors import CheckpointError

    monkeypatch.setattr(checkpoint, "MAX_BYTES", 100)
    path = tmp_path / "run.checkpoint"
    path.write_text('{"run_key": "k"}\n' * 20, encoding="utf-8")
    _reported_size(monkeypatch, 10)
    with pytest.raises(CheckpointError, match=r"grew past 100 bytes while read, more than a run writes; delete it"):
        checkpoint.Checkpoint(path, "k").load()


@posix
def test_a_reference_table_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    """The tables of the checkout a pull request changes were opened whatever they were."""
    from ecocompute import reference

    os.mkfifo(tmp_path / "gpus.json")
    with never_blocks(), pytest.raises(reference.ReferenceError) as caught:
        reference.load(tmp_path)
    assert str(caught.value) == f"cannot read the reference table {tmp_path / 'gpus.json'}: not a regular file"


@posix
def test_a_release_card_that_is_a_fifo_states_no_counts_and_never_blocks(tmp_path: Path) -> None:
    """Only its size was judged before huggingface_hub's metadata_load opened it."""
    from dataset_card.rowcounts import card_counts

    os.mkfifo(tmp_path / "README.md")
    with never_blocks():
        assert card_counts(tmp_path / "README.md") is None


@posix
def test_an_output_marker_swapped_for_a_link_after_the_stat_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker was read through a link swapped in after its lstat (read_bytes follows links)."""
    from ecocompute.marked import Marked

    marked = Marked(".marker.json", "test-1", "a test output", "pytest")
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"format": "test-1", "files": ["a"]}', encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / marked.name).write_text('{"format": "test-1", "files": ["b"]}', encoding="utf-8")
    assert marked.listed(out) == {"b"}
    (out / marked.name).unlink()
    (out / marked.name).symlink_to(elsewhere)
    real_lstat = Path.lstat
    monkeypatch.setattr(Path, "lstat", lambda self: real_lstat(elsewhere if self == out / marked.name else self))
    assert marked.listed(out) is None
