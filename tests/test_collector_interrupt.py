"""A run ended from outside: SIGTERM (a Slurm time limit, Kubernetes or spot preemption, `timeout`)
ends eco-collect as Ctrl-C does, with the resume hint; a write cut short leaves no file that
eco-validate or the build would read as a submission."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import synthetic
from click.testing import CliRunner
from test_collector_e2e import _hooks, _request, tiny_config  # noqa: F401 - fixtures

from collector import cli, submission
from collector.collect import collect
from ecocompute.hubenv import HubEnvironmentError
from validator.run import discover

RUN = ["run", "--model", "Qwen/Qwen2.5-3B-Instruct", "--weights", "random"]


class Killed(Exception):
    """What the test's own SIGTERM handler raises: the signal reached no handler of the run."""


@pytest.fixture
def sigterm_caught() -> Iterator[None]:
    """A SIGTERM the code under test does not handle raises Killed instead of ending pytest."""

    def killed(*_: Any) -> None:
        raise Killed

    previous = signal.signal(signal.SIGTERM, killed)
    yield
    signal.signal(signal.SIGTERM, previous)


def _sigterm(*_: Any, **__: Any) -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    signal.sigtimedwait([], 0.05)  # the handler runs before this returns (it is not the signal waited for)


@pytest.mark.usefixtures("sigterm_caught")
def test_sigterm_ends_a_run_as_ctrl_c_does_with_the_resume_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("collector.collect.collect", _sigterm)
    result = CliRunner().invoke(cli.main, [*RUN, "--out-dir", str(tmp_path / "submissions")])
    assert result.exit_code == 143, (result.output, result.exception)
    assert result.output.splitlines()[-1] == (
        "eco-collect: terminated (SIGTERM); finished configurations are kept: rerun the same command with --resume"
    )
    with pytest.raises(Killed):  # the handler the process had is back once the run has ended
        _sigterm()


@pytest.mark.usefixtures("sigterm_caught")
def test_a_sigterm_during_the_final_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = synthetic.submission(0, n_measurements=1)
    out = tmp_path / "submissions"
    monkeypatch.setattr(os, "fsync", _sigterm)
    with pytest.raises(cli.Terminated), cli._sigterm_as_interrupt():
        submission.write(doc, out, tmp_path / ".eco-collect")
    assert list((out / doc["contributor"]["handle"]).iterdir()) == []


def test_a_write_killed_outright_leaves_nothing_read_as_a_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL (or a second SIGTERM) runs no cleanup: the temporary file stays, under a name that
    eco-validate and the build do not read (a `.partial-XXXX.json` was rejected as a submission)."""

    def killed(*_: Any) -> None:
        raise SystemExit(137)

    doc = synthetic.submission(0, n_measurements=1)
    out = tmp_path / "submissions"
    monkeypatch.setattr(os, "fsync", killed)
    monkeypatch.setattr(os, "unlink", lambda *_: None)  # no cleanup runs
    with pytest.raises(SystemExit):
        submission.write(doc, out, tmp_path / ".eco-collect")
    (left,) = (out / doc["contributor"]["handle"]).iterdir()
    assert left.name.startswith(f".{doc['submission_id']}.json.") and left.name.endswith(".partial")
    assert discover([out]) == []


def test_a_malformed_hub_variable_is_refused_before_anything_is_measured(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "nan")  # transformers' import of huggingface_hub fails on it
    with pytest.raises(HubEnvironmentError, match="HF_HUB_DOWNLOAD_TIMEOUT='nan' is not a whole number"):
        collect(_request(tmp_path, tiny_config), hooks=_hooks())
    assert not (tmp_path / "repo" / ".eco-collect").exists()


def test_a_sigterm_the_caller_ignores_stays_ignored_during_a_run() -> None:
    """An inherited SIG_IGN is the caller's choice, as Python keeps an ignored SIGINT (review 22)."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with cli._sigterm_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
