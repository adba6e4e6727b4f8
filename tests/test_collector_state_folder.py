"""The state folder (.eco-collect beside --out-dir: checkpoints, random weights) and the files eco-collect
creates there: a folder it cannot write in is one line saying what, where and how to fix it (exit 1), and
a checkpoint another run created in the same instant is refused, never overwritten."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes import Board, FakeTime, fake_cuda_build, timed
from test_collector_checkpoint import GPU, NOW
from test_collector_checkpoint import _request as _checkpoint_request
from test_collector_e2e import _hooks, _request, tiny_config  # noqa: F401 - the fixture

from collector import cli, resume, session
from collector import collect as collect_module
from collector.checkpoint import Checkpoint
from collector.errors import CheckpointError, CollectError


@pytest.fixture(autouse=True)
def _cuda_build(monkeypatch: pytest.MonkeyPatch, cpu_protocol: None) -> None:
    fake_cuda_build(monkeypatch)


def _read_only(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    """``paths`` made read-only (chmod). Root writes through that (the tests may run as root), so then
    what the kernel would answer another user is raised: EACCES for creating anything in a read-only
    folder or opening a read-only file for writing."""
    for path in paths:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)  # writable_again restores it
    if os.geteuid() != 0:
        return
    real_open, real_mkdir = os.open, os.mkdir
    folders = [p for p in paths if p.is_dir()]

    def denied(path: Any) -> bool:
        path = Path(os.path.abspath(path))
        return path in paths or path.parent in folders

    def opened(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        writes = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writes and denied(path) and (os.path.exists(path) or flags & os.O_CREAT):
            if os.path.exists(path) and Path(os.path.abspath(path)) not in paths and not flags & os.O_EXCL:
                return real_open(path, flags, *args, **kwargs)  # a writable file in a read-only folder
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    def made(path: Any, *args: Any, **kwargs: Any) -> None:
        if denied(path) and not os.path.exists(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", opened)
    monkeypatch.setattr(os, "mkdir", made)


@pytest.fixture
def writable_again() -> Any:
    made: list[Path] = []
    yield made
    for path in made:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _cli(monkeypatch: pytest.MonkeyPatch, request: Any, *args: str) -> Any:
    """eco-collect run through the command line, its collect() on ``request`` and the fake board."""
    real = collect_module.collect
    monkeypatch.setattr(
        collect_module,
        "collect",
        lambda r, events: real(dataclasses.replace(request, resume=r.resume), events, _hooks()),
    )
    return CliRunner().invoke(cli.main, ["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct", *args])


@pytest.mark.parametrize("where", ["state folder", "models folder", "checkpoint on --resume"])
def test_a_state_folder_this_user_cannot_write_in_is_one_line_saying_how_to_fix_it(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    writable_again: list[Path],
    where: str,
) -> None:
    """The old code ended in 'Permission denied: <a file>' (for the models folder, a private save folder
    the user never sees), without saying which folder is eco-collect's or what to do."""
    request = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,))
    state = request.state_dir
    state.mkdir(parents=True)
    if where == "state folder":
        locked, what = [state], "the checkpoint"
    elif where == "models folder":
        (state / "models").mkdir()
        locked, what = [state / "models"], "the random checkpoint"
    else:  # an interrupted run left its checkpoint, made read-only with its folder since

        def interrupting(_engine: Any) -> None:
            raise KeyboardInterrupt

        board = Board(FakeTime())
        with pytest.raises(KeyboardInterrupt):
            collect_module.collect(request, hooks=_hooks(board, workload=timed(board, on_request=interrupting)))
        (checkpoint,) = state.glob("checkpoint-*.jsonl")
        locked, what = [state, checkpoint], "to the checkpoint"
    writable_again.extend(locked)
    _read_only(monkeypatch, *locked)
    before = sorted(p.name for p in state.rglob("*"))
    result = _cli(monkeypatch, request, *(["--resume"] if where.endswith("--resume") else []))
    assert result.exit_code == 1, result.output
    line = f"eco-collect: error: cannot write {what} in {locked[0] if where != 'models folder' else state / 'models'}"
    (error,) = [x for x in result.output.splitlines() if x.startswith("eco-collect: error:")]
    assert error.startswith(line) and "(Permission denied: " in error, result.output
    assert error.endswith(
        "eco-collect keeps its checkpoints and random weights in its state folder, .eco-collect beside --out-dir; "
        "make that folder writable for this user, or give an --out-dir inside a folder you can write in"
    )
    assert "Traceback" not in result.output
    after = sorted(p.name for p in state.rglob("*"))
    assert after == before or where == "models folder"  # there, only a lock file could not be made either


def test_a_checkpoint_another_run_creates_in_the_same_instant_is_refused_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two identical runs started together both found no checkpoint, and the second's write_text emptied
    the first's (its header, or a record already appended)."""
    request = dataclasses.replace(_checkpoint_request(tmp_path), resume=False)
    theirs = json.dumps({"run_key": resume.run_key(request, GPU), "started_at": "2026-11-24T02:59:59Z"}) + "\n"
    start = Checkpoint.start

    def raced(self: Checkpoint, header: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(theirs, encoding="utf-8")  # the other run, after this one found no checkpoint
        start(self, header)

    monkeypatch.setattr(Checkpoint, "start", raced)
    with pytest.raises(CheckpointError, match=r"appeared as this run started: another eco-collect is starting"):
        resume.open_checkpoint(request, GPU, NOW, [])
    (path,) = request.state_dir.glob("checkpoint-*.jsonl")
    assert path.read_text(encoding="utf-8") == theirs


def test_a_dangling_link_where_the_checkpoint_goes_is_named_as_a_link(tmp_path: Path) -> None:
    """No checkpoint is found through a dangling link, and O_EXCL refuses to create one over it: that is no
    other run starting (review 27); the link is left as it is."""
    request = dataclasses.replace(_checkpoint_request(tmp_path), resume=False)
    target = request.state_dir / f"checkpoint-{resume.run_key(request, GPU)}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(tmp_path / "gone.jsonl")
    with pytest.raises(CheckpointError, match=r"is a symbolic link, where this run's checkpoint goes"):
        resume.open_checkpoint(request, GPU, NOW, [])
    assert target.is_symlink() and not (tmp_path / "gone.jsonl").exists()


def test_an_interrupt_as_another_run_creates_the_checkpoint_leaves_that_runs_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nothing_kept removes on Ctrl-C the checkpoint this run created, never one it did not."""
    request = dataclasses.replace(_checkpoint_request(tmp_path), resume=False)

    def interrupted(self: Checkpoint, _header: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("{}\n", encoding="utf-8")  # the other run's, made just before
        raise KeyboardInterrupt  # Ctrl-C, before this run's own create

    monkeypatch.setattr(Checkpoint, "start", interrupted)
    with pytest.raises(KeyboardInterrupt), session.nothing_kept(request) as made:
        resume.open_checkpoint(request, GPU, NOW, made)
    assert [p.read_text() for p in request.state_dir.glob("checkpoint-*.jsonl")] == ["{}\n"]


def test_a_state_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    request = dataclasses.replace(_checkpoint_request(tmp_path), resume=False)
    request.state_dir.write_text("not a folder")
    with pytest.raises(CollectError, match=r"^cannot write the checkpoint in .*\.eco-collect \(File exists") as raised:
        resume.open_checkpoint(request, GPU, NOW, [])
    assert type(raised.value) is CollectError  # not a subclass (CheckpointError) either
