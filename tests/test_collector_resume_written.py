"""What --resume and the interrupt message say at the two ends of a run: a run killed (SIGKILL, power
loss) between writing its submission and removing its checkpoint leaves both, and --resume then finds
the file whole instead of writing the same measurements again under a new id; an interrupt before a
new run has its checkpoint says there is nothing to resume, not to --resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes import Board, FakeTime, fake_cuda_build
from test_collector_e2e import _hooks, _request, tiny_config  # noqa: F401 - fixtures

from collector import cli, resume
from collector.checkpoint import Checkpoint
from collector.collect import collect
from collector.errors import AlreadyWritten, CheckpointError, InterruptedBeforeCheckpoint

RUN = ["run", "--model", "Qwen/Qwen2.5-3B-Instruct", "--weights", "random"]


class PowerLoss(BaseException):
    """Stands for SIGKILL or a power loss: nothing of the run runs after it."""


@pytest.fixture(autouse=True)
def _cuda_build(monkeypatch: pytest.MonkeyPatch, cpu_protocol: None) -> None:
    fake_cuda_build(monkeypatch)


def _killed_before_the_checkpoint_is_removed(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch, at: str = "remove"
) -> Path:
    """The run killed once its file is whole: before the checkpoint records that (``at`` "wrote") or
    before it is removed ("remove")."""

    def lost(*_: Any) -> None:
        raise PowerLoss

    with monkeypatch.context() as patch:
        patch.setattr(Checkpoint, at, lost)
        with pytest.raises(PowerLoss):
            collect(_request(tmp_path, config, precisions=("fp32",), batch_sizes=(1,)), hooks=_hooks())
    (written,) = (tmp_path / "repo" / "submissions" / "tester").iterdir()
    assert list((tmp_path / "repo" / ".eco-collect").glob("checkpoint-*.jsonl"))  # both are left
    return written


def test_resume_after_a_kill_between_the_write_and_the_checkpoints_removal_writes_nothing_again(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = _killed_before_the_checkpoint_is_removed(tmp_path, tiny_config, monkeypatch)
    board = Board(FakeTime())
    board.time.sleep(3600.0)  # an hour later: the old code wrote a second file, under a new id
    resumed = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,), resume=True)
    with pytest.raises(AlreadyWritten, match=r"nothing to resume: the interrupted run had already written .*json"):
        collect(resumed, hooks=_hooks(board))
    assert list(written.parent.iterdir()) == [written]  # no second file with the same measurements
    assert not list((tmp_path / "repo" / ".eco-collect").glob("checkpoint-*.jsonl"))


def test_resume_writes_the_file_when_the_one_the_checkpoint_names_holds_other_text(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = _killed_before_the_checkpoint_is_removed(tmp_path, tiny_config, monkeypatch, at="wrote")
    doc = json.loads(written.read_text())
    written.write_text(
        json.dumps(doc, indent=1)
    )  # not the text the run wrote, nor recorded as written: not taken for it
    board = Board(FakeTime())
    board.time.sleep(3600.0)  # an hour later: a new submission id
    resumed = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,), resume=True)
    path, again = collect(resumed, hooks=_hooks(board))
    assert path != written and again["measurements"] == doc["measurements"]


@pytest.mark.parametrize("change", ["moved", "edited", "moved to another --out-dir"])
def test_resume_after_the_written_file_moved_or_was_edited_refuses_and_names_it(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """The checkpoint says the file was in place, whole: a --resume that no longer finds it as written
    refuses, naming it, instead of writing the same measurements again under a new id (the old code)."""
    written = _killed_before_the_checkpoint_is_removed(tmp_path, tiny_config, monkeypatch)
    out_dir = tmp_path / "repo" / "submissions"
    if change == "edited":
        written.write_text(json.dumps(json.loads(written.read_text()), indent=1))
    else:  # the state folder stays beside both (.eco-collect): the same checkpoint is found
        out_dir = tmp_path / "repo" / ("submissions" if change == "moved" else "elsewhere")
        (out_dir / "tester" / "kept").mkdir(parents=True)
        written.rename(out_dir / "tester" / "kept" / written.name)
    board = Board(FakeTime())
    board.time.sleep(3600.0)
    resumed = _request(tmp_path, tiny_config, precisions=("fp32",), batch_sizes=(1,), resume=True, out_dir=out_dir)
    with pytest.raises(CheckpointError, match=rf"had already written its submission, {written}, which is no longer"):
        collect(resumed, hooks=_hooks(board))
    assert len(list((tmp_path / "repo").glob("[se]*/tester/**/*.json"))) == 1  # no second file of the same measurements
    assert list((tmp_path / "repo" / ".eco-collect").glob("checkpoint-*.jsonl"))  # kept: the user decides


def test_the_cli_says_a_resume_found_the_file_written_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def collect(request: Any, _events: Any) -> None:
        raise AlreadyWritten(request.out_dir / "h" / "x.json", request.state_dir / "checkpoint-k.jsonl")

    monkeypatch.setattr("collector.collect.collect", collect)
    result = CliRunner().invoke(cli.main, [*RUN, "--out-dir", str(tmp_path / "submissions"), "--resume"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "nothing to resume: the interrupted run had already written" in result.output.splitlines()[-1]


def _interrupted_source(*_: Any, **__: Any) -> None:
    raise KeyboardInterrupt  # Ctrl-C while the revision is resolved on the Hub, say


def test_an_interrupt_before_a_new_runs_checkpoint_says_there_is_nothing_to_resume(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(KeyboardInterrupt) as caught:  # the old code's plain one would end pytest
        collect(_request(tmp_path, tiny_config), hooks=_hooks(source=_interrupted_source))
    assert isinstance(caught.value, InterruptedBeforeCheckpoint)
    assert not list((tmp_path / "repo").rglob("checkpoint-*"))
    monkeypatch.setattr("ecocompute.hubenv.check", _interrupted_source)
    result = CliRunner().invoke(cli.main, [*RUN, "--out-dir", str(tmp_path / "submissions")])
    assert result.exit_code == 130, (result.output, result.exception)
    assert result.output.splitlines()[-1] == (
        "eco-collect: interrupted before anything was measured; nothing to resume: rerun the same command"
    )


def test_an_interrupt_while_the_checkpoint_is_started_leaves_none(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def torn(self: Checkpoint, _record: Any) -> None:
        self.path.write_text('{"run_key": "', encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "_append", torn)
    with pytest.raises(KeyboardInterrupt) as caught:  # the old code's plain one would end pytest
        collect(_request(tmp_path, tiny_config), hooks=_hooks())
    assert isinstance(caught.value, InterruptedBeforeCheckpoint)
    assert not list((tmp_path / "repo").rglob("checkpoint-*"))  # a torn header would have --resume refuse


def test_an_interrupt_right_after_the_checkpoint_is_made_removes_it_as_it_says(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The checkpoint is made last before the run measures, yet a few steps follow it (the corpus check):
    an interrupt there said "nothing to resume" while the checkpoint stayed, and the next run asked for
    a --resume (collfix2's window)."""

    def interrupted(*_: Any) -> None:
        assert list((tmp_path / "repo").rglob("checkpoint-*"))  # made
        raise KeyboardInterrupt

    monkeypatch.setattr(resume, "same_corpus", interrupted)
    with pytest.raises(InterruptedBeforeCheckpoint):
        collect(_request(tmp_path, tiny_config), hooks=_hooks())
    assert not list((tmp_path / "repo").rglob("checkpoint-*"))  # nothing to resume, as the CLI says


def test_a_checkpoint_that_cannot_be_removed_after_an_interrupt_keeps_the_resume_hint(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    def refused(_self: Checkpoint) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(resume, "same_corpus", interrupted)
    monkeypatch.setattr(Checkpoint, "remove", refused)
    with pytest.raises(KeyboardInterrupt) as caught:
        collect(_request(tmp_path, tiny_config), hooks=_hooks())
    assert not isinstance(caught.value, InterruptedBeforeCheckpoint)  # it is there: --resume finds it
    assert list((tmp_path / "repo").rglob("checkpoint-*"))


def test_an_interrupt_of_a_resumed_run_keeps_the_hint(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
) -> None:
    state = tmp_path / "repo" / ".eco-collect"
    request = _request(tmp_path, tiny_config, resume=True)
    with pytest.raises(KeyboardInterrupt) as caught:
        collect(request, hooks=_hooks(source=_interrupted_source))
    assert not isinstance(caught.value, InterruptedBeforeCheckpoint)  # its checkpoint was there before it
    assert not state.exists() or not list(state.glob("checkpoint-*"))
