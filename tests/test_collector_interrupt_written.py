"""An interrupt (Ctrl-C, SIGTERM) that arrives once the submission file is whole in place: the run is
complete, so eco-collect says where the file is and that nothing is left to resume (no resume hint),
drops the checkpoint (a --resume would write the same measurements a second time, under a new id),
and still exits as interrupted (130 for Ctrl-C, 143 for SIGTERM)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import synthetic
from click.testing import CliRunner
from test_collector_interrupt import sigterm_caught  # noqa: F401 - the fixture

from collector import cli, submission
from collector.checkpoint import Checkpoint
from collector.collect import commit
from collector.errors import InterruptedAfterWrite

RUN = ["run", "--model", "Qwen/Qwen2.5-3B-Instruct", "--weights", "random"]


pytestmark = pytest.mark.usefixtures("sigterm_caught")  # a SIGTERM the run does not handle fails the test


def _sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    signal.sigtimedwait([], 0.05)  # the handler runs before this returns


def _checkpoint(tmp_path: Path) -> Checkpoint:
    checkpoint = Checkpoint(tmp_path / ".eco-collect" / "checkpoint-0123456789abcdef.jsonl", "0123456789abcdef")
    checkpoint.start({"model": "m", "started_at": "2026-11-23T00:00:00Z"})
    return checkpoint


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: Any, where: str) -> tuple[Any, Path, Path]:
    """eco-collect run whose collect() writes a real file through commit(), ``interrupt`` arriving at
    ``where``: after the link, after the checkpoint is dropped, or once collect has returned."""
    doc = synthetic.submission(0, n_measurements=1)
    out = tmp_path / "submissions"
    checkpoint = _checkpoint(tmp_path)
    target = out / doc["contributor"]["handle"] / f"{doc['submission_id']}.json"

    if where == "link":
        link = os.link

        def linked(*args: Any) -> None:
            link(*args)
            interrupt()

        monkeypatch.setattr(os, "link", linked)
    if where == "remove":
        unlink = Checkpoint.remove

        def removed(self: Checkpoint) -> None:
            unlink(self)
            monkeypatch.setattr(Checkpoint, "remove", unlink)  # once
            interrupt()

        monkeypatch.setattr(Checkpoint, "remove", removed)

    def collect(request: Any, _events: Any) -> tuple[Path, dict[str, Any]]:
        return commit(doc, request.out_dir, request.state_dir, checkpoint), doc

    def summary_table(_doc: Any) -> str:
        if where == "returned":  # collect() has returned: the summary is being printed
            interrupt()
        return ""

    monkeypatch.setattr("collector.collect.collect", collect)
    monkeypatch.setattr("collector.render.summary_table", summary_table)
    result = CliRunner().invoke(cli.main, [*RUN, "--out-dir", str(out)])
    return result, target, checkpoint.path


def _ctrl_c() -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["link", "remove", "returned"])
def test_a_sigterm_once_the_file_is_written_says_so_and_exits_143(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    result, target, checkpoint = _run(tmp_path, monkeypatch, _sigterm, where)
    assert result.exit_code == 143, (result.output, result.exception)
    last = result.output.splitlines()[-1]
    assert "--resume" not in last
    assert (
        last
        == f"eco-collect: terminated (SIGTERM) after the submission was written: {target} is complete, nothing to resume"
    )
    assert target.is_file() and submission.validate_document(__import__("json").loads(target.read_text())) == []
    assert not checkpoint.exists()  # a --resume would write the same measurements again under a new id
    assert [p.name for p in target.parent.iterdir()] == [target.name]


@pytest.mark.parametrize("where", ["link", "remove"])
def test_ctrl_c_once_the_file_is_written_says_so_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    result, target, checkpoint = _run(tmp_path, monkeypatch, _ctrl_c, where)
    assert result.exit_code == 130, (result.output, result.exception)
    assert result.output.splitlines()[-1] == (
        f"eco-collect: interrupted after the submission was written: {target} is complete, nothing to resume"
    )
    assert not checkpoint.exists()


def test_an_interrupt_before_the_file_is_in_place_keeps_the_checkpoint_and_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = os.fsync, []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) > 1:  # the first: the checkpoint recording the file about to be written
            raise KeyboardInterrupt
        real(fd)

    doc = synthetic.submission(0, n_measurements=1)
    checkpoint = _checkpoint(tmp_path)
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(KeyboardInterrupt) as caught:
        commit(doc, tmp_path / "submissions", tmp_path / ".eco-collect", checkpoint)
    assert not isinstance(caught.value, InterruptedAfterWrite)
    assert checkpoint.path.exists()
    assert list((tmp_path / "submissions" / doc["contributor"]["handle"]).iterdir()) == []


def test_an_interrupt_after_the_rename_onto_the_reserved_name_keeps_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the file system has no hard links the file is renamed onto a reserved name; an interrupt
    just after that rename removed the finished file as if it were the empty reservation."""
    import errno

    def no_links(*_: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    replace = os.replace

    def replaced(*args: Any) -> None:
        replace(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(os, "replace", replaced)
    doc = synthetic.submission(0, n_measurements=1)
    checkpoint = _checkpoint(tmp_path)
    with pytest.raises(InterruptedAfterWrite) as caught:
        commit(doc, tmp_path / "submissions", tmp_path / ".eco-collect", checkpoint)
    assert caught.value.path.is_file() and caught.value.path.read_text(encoding="utf-8") == submission.dumps(doc)
    assert not checkpoint.path.exists()
