"""The end of a run: the submission is put in place on a file system without hard links too, and a
failure to write it says that the measurements are kept and how to get the file."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
import synthetic
from test_collector_e2e import _cuda_build, _hooks, _request, tiny_config  # noqa: F401 - fixtures

from collector import submission
from collector.collect import collect
from collector.errors import CollectError, OutputExistsError


def _links_fail(code: int) -> Any:
    def link(src: Any, dst: Any, *_: Any, **__: Any) -> None:
        raise OSError(code, os.strerror(code), src, None, dst)

    return link


def test_a_file_system_without_hard_links_still_gets_the_file_and_nothing_is_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """link() fails with EPERM on FAT/exFAT and with EOPNOTSUPP on s3fs or SMB: after the whole run the
    file was not written, and the message named the temporary file, deleted by then."""
    monkeypatch.setattr(os, "link", _links_fail(errno.EPERM))
    doc = synthetic.submission(0, n_measurements=1)
    out, state = tmp_path / "submissions", tmp_path / ".eco-collect"
    path = submission.write(doc, out, state)
    assert path.read_text(encoding="utf-8") == submission.dumps(doc)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    path.write_text("theirs", encoding="utf-8")
    with pytest.raises(OutputExistsError):
        submission.write(doc, out, state)
    monkeypatch.setattr(submission.Path, "exists", lambda _: False)  # it appears after the check
    with pytest.raises(OutputExistsError, match="appeared while it was written"):
        submission.write(doc, out, state)
    assert path.read_text(encoding="utf-8") == "theirs" and len(list(path.parent.iterdir())) == 1


def test_a_submission_that_cannot_be_written_keeps_the_run_for_resume(
    tmp_path: Path,
    tiny_config: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one = {"precisions": ("fp32",), "batch_sizes": (1,), "engines": ("generate",), "schedule": "sequential"}
    with monkeypatch.context() as m:
        m.setattr(os, "link", _links_fail(errno.EROFS))  # remounted read-only while measuring
        with pytest.raises(CollectError) as failed:
            collect(_request(tmp_path, tiny_config, **one), hooks=_hooks())
    (checkpoint,) = (tmp_path / "repo" / ".eco-collect").glob("checkpoint-*.jsonl")
    target = tmp_path / "repo" / "submissions" / "tester"
    assert str(failed.value).startswith(f"cannot write the submission (Read-only file system: {target}/")
    assert f"kept in {checkpoint}" in str(failed.value) and "with --resume" in str(failed.value)
    path, doc = collect(_request(tmp_path, tiny_config, resume=True, **one), hooks=_hooks())
    assert path.parent == target and len(doc["measurements"]) == 1 and not checkpoint.exists()


def test_a_refused_file_that_a_full_disk_keeps_from_being_kept_does_not_send_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keep_rejected meeting a full disk reached commit as "cannot write the submission (...): make --out-dir
    writable and rerun with --resume", and a --resume only writes the same refused measurements again
    (collrev39 O2). Said as a refused file, --resume only to have it kept."""
    from collector.collect import commit

    refused = synthetic.submission(0, n_measurements=1)
    refused["measurements"][0]["summary"]["power_w_mean"] *= 2

    def disk_full(*_: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "state" / "x.rejected.json"))

    recorded: list[Any] = []

    class Kept:  # the checkpoint: kept, neither committed nor removed; the refusal recorded, no copy kept
        path = tmp_path / "state" / "checkpoint.jsonl"
        committing = remove = wrote = staticmethod(lambda *_: pytest.fail("the checkpoint was touched"))
        refused = staticmethod(lambda kept, _text, first: recorded.append((kept, first)))

    monkeypatch.setattr(submission, "_create", disk_full)
    with pytest.raises(CollectError) as failed:
        commit(refused, tmp_path / "submissions", tmp_path / "state", Kept())  # type: ignore[arg-type]
    said = str(failed.value)
    assert said.startswith("the collected file does not pass eco-validate (1 error(s), first: ")
    assert f"could not be kept for inspection either ({os.strerror(errno.ENOSPC)}: {tmp_path}" in said
    assert "same refused file" in said and "make --out-dir writable" not in said
    assert not (tmp_path / "submissions").exists()
    assert [kept for kept, _ in recorded] == [None] and recorded[0][1].startswith("stats.mismatch ")
