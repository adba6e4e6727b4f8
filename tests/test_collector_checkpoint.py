"""--resume reads the checkpoint a crashed or interrupted run left: a crash, a full disk or a hand edit
can leave any shape there, and each is one line (CheckpointError), never a traceback, and never a
resumed run that fails after measuring the rest."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from collector import resume
from collector.errors import CheckpointError
from collector.request import RunRequest
from ecocompute.cli import is_known

FIXTURE = sorted((Path(__file__).parent / "fixtures" / "submissions" / "valid").glob("*.json"))[0]
GPU = "ab" * 32
NOW = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)


def _request(tmp_path: Path) -> RunRequest:
    return RunRequest(
        model_id="Qwen/Qwen2.5-0.5B-Instruct",
        precisions=("fp16",),
        batch_sizes=(1, 8),
        weights="random",
        state_dir=tmp_path / ".eco-collect",
        resume=True,
    )


def _lines(request: RunRequest) -> list[str]:
    """A checkpoint as eco-collect writes it: a header, then one finished configuration."""
    measurement = json.loads(FIXTURE.read_text(encoding="utf-8"))["measurements"][0]
    header = {
        "run_key": resume.run_key(request, GPU),
        "model": request.model_id,
        "started_at": "2026-11-24T02:00:00Z",
    }
    entry = {"requested": ["fp16", "auto", 1], "measurement": measurement}
    return [json.dumps(header, sort_keys=True), json.dumps(entry, sort_keys=True)]


def _write(request: RunRequest, lines: list[str] | bytes) -> Path:
    path = request.state_dir / f"checkpoint-{resume.run_key(request, GPU)}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
    return path


def test_a_whole_checkpoint_resumes_with_its_finished_configuration(tmp_path: Path) -> None:
    request = _request(tmp_path)
    _write(request, _lines(request))
    _, done, first = resume.open_checkpoint(request, GPU, NOW)
    assert list(done) == [("fp16", "auto", 1)] and first == datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
    torn = _lines(request)
    _write(request, [*torn, torn[1][:40]])  # a line torn by a crash mid-write: the last one is ignored
    assert len(resume.open_checkpoint(request, GPU, NOW)[1]) == 1


def _header(edit: Callable[[dict], None]) -> Callable[[list[str]], list[str] | bytes]:
    def damage(lines: list[str]) -> list[str]:
        header = json.loads(lines[0])
        edit(header)
        return [json.dumps(header), *lines[1:]]

    return damage


def _entry(edit: Callable[[dict], object]) -> Callable[[list[str]], list[str] | bytes]:
    def damage(lines: list[str]) -> list[str]:
        entry = json.loads(lines[1])
        edit(entry)
        return [lines[0], json.dumps(entry), *lines[2:]]

    return damage


DAMAGE: dict[str, tuple[Callable[[list[str]], list[str] | bytes], str]] = {
    "header not an object": (lambda lines: ["[1]", *lines[1:]], "belongs to a different run"),
    "header without started_at": (_header(lambda h: h.pop("started_at")), r":1 is corrupt \(started_at 'None'"),
    "started_at not a time": (_header(lambda h: h.update(started_at="yesterday")), "is not a UTC time"),
    "started_at without a zone": (_header(lambda h: h.update(started_at="2026-11-22T00:00:00")), "not a UTC time"),
    "requested too short": (_entry(lambda e: e.update(requested=["fp16"])), ":2 is corrupt .*not a finished"),
    "batch not an integer": (_entry(lambda e: e.update(requested=["fp16", "auto", "1"])), ":2 is corrupt"),
    "entry not an object": (lambda lines: [lines[0], "[]", "{}"], ":2 is corrupt .*not a finished"),
    "measurement empty": (_entry(lambda e: e.update(measurement={})), ":2 is corrupt .*breaks the submission schema"),
    # a hand edit that keeps the shape: resumed, it failed only after the rest was measured (attack d2 #6)
    "a number past a float": (
        lambda lines: [lines[0], lines[1].replace('"energy_j": ', '"energy_j": 1e400, "x": ', 1)],
        r":2 is corrupt \(1e400 is beyond the numbers a JSON file may hold\)",
    ),
    "a trial's energy a string": (
        _entry(lambda e: e["measurement"]["trials"][0].update(energy_j="2023")),
        r":2 is corrupt \(its measurement breaks the submission schema at /trials/0/energy_j: .*not of type",
    ),
    "a configuration the run does not request": (
        _entry(lambda e: e.update(requested=["fp16", "auto", 4])),
        r":2 is corrupt \(its configuration \['fp16', 'auto', 4\] is not one this run requests",
    ),
    "a measurement of another batch size": (
        _entry(lambda e: e.update(requested=["fp16", "auto", 8])),
        r":2 is corrupt \(its configuration \['fp16', 'auto', 8\] .*its measurement is of another",
    ),
    "started_at in year 1": (
        _header(lambda h: h.update(started_at="0001-01-01T00:00:00Z")),
        r":1 is corrupt \(started_at '0001-01-01T00:00:00Z' is longer ago than a session may last",
    ),
    "started_at in year 9999": (
        _header(lambda h: h.update(started_at="9999-12-31T00:00:00Z")),
        r":1 is corrupt \(started_at '9999-12-31T00:00:00Z' is after this run's start",
    ),
    "NaN in a trial": (
        lambda lines: [lines[0], lines[1].replace('"energy_j": ', '"energy_j": NaN, "x": ', 1), lines[1]],
        r":2 is corrupt \(NaN is not a JSON number\)",
    ),
    "not UTF-8": (lambda lines: (lines[0] + "\n\xff\xfe\n" + lines[1] + "\n").encode("latin-1"), "not UTF-8 at byte"),
    "empty": (lambda lines: b"", "holds no whole first line .* empty"),
    "nested too deep": (lambda lines: [lines[0], "[" * 100_000 + "]" * 100_000, lines[1]], ":2 is corrupt .*nested"),
    # json.loads takes both; the schema engine raised them (UnicodeEncodeError, ValueError): a traceback
    "a lone surrogate in the measurement": (
        _entry(lambda e: e["measurement"].update(precision="\ud800")),
        r":2 is corrupt \(a string of its measurement holds a lone surrogate",
    ),
    "a refusal without its SHA-256": (
        lambda lines: [*lines, json.dumps({"refused": {"path": None, "sha256": "ab", "first": "x"}})],
        r":3 is corrupt \(not a refused file's path, SHA-256 and first error\)",
    ),
    "a refusal whose path is a number": (
        lambda lines: [*lines, json.dumps({"refused": {"path": 3, "sha256": "ab" * 32, "first": "x"}})],
        r":3 is corrupt \(not a refused file's path",
    ),
    "nested within json's depth, past the schema engine's": (
        lambda lines: [
            lines[0],
            lines[1].replace('"energy_j": ', '"x": ' + "[" * 300 + "]" * 300 + ', "energy_j": ', 1),
        ],
        r":2 is corrupt \(its measurement cannot be checked against the submission schema \(Recursion limit",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_checkpoint_is_one_line(tmp_path: Path, case: str) -> None:
    request = _request(tmp_path)
    damage, message = DAMAGE[case]
    _write(request, damage(_lines(request)))
    with pytest.raises(CheckpointError, match=message) as caught:
        resume.open_checkpoint(request, GPU, NOW)
    assert is_known(caught.value) and "delete it" in str(caught.value)


def test_a_checkpoint_that_is_not_a_regular_file_is_not_read(tmp_path: Path) -> None:
    request = _request(tmp_path)
    path = _write(request, b"")
    path.unlink()
    os.mkfifo(path)  # read_text() would block until a writer came
    with pytest.raises(CheckpointError, match="is not a regular file"):
        resume.open_checkpoint(request, GPU, NOW)


def test_a_document_above_eco_validates_size_cap_is_kept_aside_not_written(tmp_path: Path) -> None:
    """check_document judges a document, not a file: eco-validate's 5-MiB cap (file.too_large) applied
    to files only, so eco-collect wrote a 6-MB file the pull request then refused."""
    from synthetic import submission

    from collector.errors import CollectError
    from collector.submission import validate_document, write
    from validator.loading import MAX_BYTES

    doc = submission(seed=3, n_measurements=8)
    assert validate_document(doc) == []
    one = len(json.dumps(doc["measurements"][0]))
    doc["measurements"] = doc["measurements"] * (MAX_BYTES // (one * len(doc["measurements"])) + 1)
    (error,) = validate_document(doc)
    assert error.startswith("file.too_large: ") and "several files are fine" in error
    with pytest.raises(CollectError, match=r"kept for inspection at .*rejected\.json, not written to"):
        write(doc, tmp_path / "submissions", tmp_path / ".eco-collect")
    assert not (tmp_path / "submissions").exists()
    (kept,) = (tmp_path / ".eco-collect").glob("*.rejected.json")
    assert json.loads(kept.read_text(encoding="utf-8")) == doc  # nothing measured is lost


def test_a_full_disk_as_a_configuration_is_added_says_what_is_kept_and_how_to_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second configuration's record meets a full disk half-way: the run ended in "eco-collect: error: No
    space left on device", naming neither the checkpoint nor --resume (collrev39 F3). --resume then cuts
    off the torn record and keeps the first."""
    import errno

    request = _request(tmp_path)
    path = _write(request, _lines(request))
    checkpoint = resume.checkpoint_of(request, GPU)
    measurement = json.loads(_lines(request)[1])["measurement"]

    def disk_fills(_record: dict) -> None:
        with path.open("a", encoding="utf-8") as fh:
            fh.write('{"measurement": {"batch')  # what fitted
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint, "_append", disk_fills)
    with pytest.raises(CheckpointError) as failed:
        checkpoint.add(("fp16", "auto", 8), {**measurement, "batch_size": 8})
    assert str(failed.value) == (
        f"cannot add a finished configuration to the checkpoint {path} ({os.strerror(errno.ENOSPC)}): the "
        "configurations it held before are kept; free disk space there (or make it writable) and rerun the same "
        "command with --resume"
    )
    resumed, done, _ = resume.open_checkpoint(request, GPU, NOW)
    assert list(done) == [("fp16", "auto", 1)] and "cut off the last line" in str(resumed.end_line())


def test_a_refused_file_no_longer_kept_as_it_was_is_built_again_and_the_log_says_why(tmp_path: Path) -> None:
    """The copy eco-validate refused is judged again on --resume; one moved, edited or never kept (a full disk)
    cannot be: the file is built again from the measurements (and judged again), and a note says so."""
    request = _request(tmp_path)
    kept = tmp_path / "kept.rejected.json"
    kept.write_text("{}", encoding="utf-8")
    refusals = [
        {"path": str(kept), "sha256": "00" * 32, "first": "reference.unknown_gpu /environment/gpu/name: ..."},
        {"path": None, "sha256": "00" * 32, "first": "stats.mismatch /measurements/0: ..."},
    ]
    for refusal, where in zip(refusals, (f"is no longer at {kept} as it was kept", "could not be kept"), strict=True):
        _write(request, [*_lines(request), json.dumps({"refused": refusal})])
        notes: list[str] = []
        _, done, _ = resume.open_checkpoint(request, GPU, NOW, note=notes.append)
        assert list(done) == [("fp16", "auto", 1)]
        assert notes == [
            f"--resume: eco-validate refused the file this run built before ({refusal['first']}); that file {where}, "
            "so it is built again from the same measurements and judged again"
        ]
