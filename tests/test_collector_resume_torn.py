"""A run killed (SIGKILL, power loss) while it appended to its checkpoint leaves a torn last line: --resume
cuts it off and says so before it appends, instead of gluing its next record to it: that line was
skipped as torn in turn (the measurement lost), or refused as corrupt once another record followed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from fakes import Board, FakeTime, fake_cuda_build
from test_collector_checkpoint import GPU, NOW, _lines, _write
from test_collector_checkpoint import _request as _checkpoint_request
from test_collector_e2e import _hooks, _request, timed, tiny_config  # noqa: F401 - fixtures

from collector import resume
from collector.checkpoint import Checkpoint
from collector.collect import collect
from collector.errors import CheckpointError
from collector.session import Events


@pytest.fixture(autouse=True)
def _cuda_build(monkeypatch: pytest.MonkeyPatch, cpu_protocol: None) -> None:
    fake_cuda_build(monkeypatch)


class Notes(Events):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def _interrupt_at(batch: int) -> Any:
    def interrupting(engine: Any) -> None:
        if engine.decoding.batch_size == batch:
            raise KeyboardInterrupt

    return interrupting


def _interrupted(tmp_path: Path, config: Path, at_batch: int) -> tuple[Board, Any, Path]:
    """A sequential fp32 run of batches 1, 2 and 3 interrupted (Ctrl-C) at batch ``at_batch``: its board,
    request and checkpoint."""
    board = Board(FakeTime())
    request = _request(tmp_path, config, precisions=("fp32",), batch_sizes=(1, 2, 3), schedule="sequential")
    with pytest.raises(KeyboardInterrupt):
        collect(request, hooks=_hooks(board, workload=timed(board, on_request=_interrupt_at(at_batch))))
    (path,) = request.state_dir.glob("checkpoint-*.jsonl")
    return board, request, path


def test_a_resume_cuts_off_a_torn_last_line_before_appending_and_says_so(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
) -> None:
    board, request, path = _interrupted(tmp_path, tiny_config, at_batch=2)
    whole = path.read_bytes()
    path.write_bytes(whole + whole.splitlines()[-1][:50])  # killed while appending the next record
    resumed, notes = dataclasses.replace(request, resume=True), Notes()
    with pytest.raises(KeyboardInterrupt):  # batch 2 is measured and appended, then the run stops again
        collect(resumed, notes, hooks=_hooks(board, workload=timed(board, on_request=_interrupt_at(3), first_seed=100)))
    _, done = Checkpoint(path, json.loads(whole.splitlines()[0])["run_key"]).load()
    # the old code glued batch 2's record to the torn line: lost (and, another one after it, ":3 is corrupt")
    assert [requested for requested, _ in done] == [("fp32", "auto", 1), ("fp32", "auto", 2)]
    assert f"--resume: cut off the last line of {path} (50 bytes)" in notes.notes[0]
    assert path.read_bytes().startswith(whole) and path.read_bytes().endswith(b"\n")


def test_a_whole_last_record_without_its_newline_is_kept_and_ended(tmp_path: Path) -> None:
    request = _checkpoint_request(tmp_path)
    path = _write(request, "\n".join(_lines(request)).encode())  # killed before the newline of the record
    checkpoint, done, _ = resume.open_checkpoint(request, GPU, NOW)
    assert checkpoint.end_line() is None and len(done) == 1
    assert path.read_bytes().endswith(b"}\n")
    assert checkpoint.end_line() is None and len(resume.open_checkpoint(request, GPU, NOW)[1]) == 1


def _zeroed(whole: bytes, keep: int) -> bytes:
    """``whole`` as a power loss can leave it (ext4, XFS): its size on disk, later blocks never written, read
    as NUL bytes from ``keep`` on, up to a block's end."""
    return whole[:keep] + b"\0" * (-(-len(whole) // 4096) * 4096 - keep)


def test_a_resume_cuts_off_a_zero_filled_tail_a_power_loss_left(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
) -> None:
    """The last record half written, the rest of its block zeros: one torn line, cut off; never appended
    after (the record glued to the zeros was lost on the next load), never a crash."""
    board, request, path = _interrupted(tmp_path, tiny_config, at_batch=3)
    whole = path.read_bytes()
    lines = whole.splitlines(keepends=True)
    assert len(lines) == 3  # the header, batches 1 and 2
    path.write_bytes(_zeroed(whole, len(whole) - len(lines[-1]) // 2))  # batch 2's record half zeros
    resumed, notes = dataclasses.replace(request, resume=True), Notes()
    with pytest.raises(KeyboardInterrupt):  # batch 2 is measured again and appended, then the run stops again
        collect(resumed, notes, hooks=_hooks(board, workload=timed(board, on_request=_interrupt_at(3), first_seed=100)))
    _, done = Checkpoint(path, json.loads(lines[0])["run_key"]).load()
    assert [requested for requested, _ in done] == [("fp32", "auto", 1), ("fp32", "auto", 2)]
    assert notes.notes[0].startswith(f"--resume: cut off the last line of {path} (")
    data = path.read_bytes()
    assert b"\0" not in data and data.startswith(b"".join(lines[:2])) and data.endswith(b"\n")


def test_zeros_after_a_whole_record_are_cut_off_and_the_record_kept(tmp_path: Path) -> None:
    request = _checkpoint_request(tmp_path)
    whole = ("\n".join(_lines(request)) + "\n").encode()
    path = _write(request, _zeroed(whole, len(whole)))
    checkpoint, done, _ = resume.open_checkpoint(request, GPU, NOW)
    assert len(done) == 1 and checkpoint.end_line() is not None
    assert path.read_bytes() == whole


def test_zeros_before_a_whole_record_or_a_checkpoint_of_zeros_is_refused_in_one_line(tmp_path: Path) -> None:
    """Blocks written out of order: a zeroed one before a written one is no torn tail, but a corrupt line;
    a checkpoint all zeros (its header never reached the disk) holds nothing to resume. Refused, untouched."""
    request = _checkpoint_request(tmp_path)
    header, record = (line.encode() for line in _lines(request))
    middle = header + b"\n" + b"\0" * 4096 + b"\n" + record + b"\n"
    path = _write(request, middle)
    with pytest.raises(CheckpointError, match=r":2 is corrupt \(Expecting value\); delete it to start over$"):
        resume.open_checkpoint(request, GPU, NOW)
    assert path.read_bytes() == middle
    path.write_bytes(b"\0" * 4096)
    with pytest.raises(CheckpointError, match=r"holds no whole first line \(.* zero-filled.*delete it and run without"):
        resume.open_checkpoint(request, GPU, NOW)
    assert path.read_bytes() == b"\0" * 4096
