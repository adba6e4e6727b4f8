"""Property tests for the parsers of input the tools did not write, that had none: each returns a value
or raises the project's own error (shown in one line by ecocompute.cli.describe), never another
exception, and soon. Larger runs (5,000-20,000 examples) hunt offline; these keep the suite fast."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import hostinfo
from collector.checkpoint import Checkpoint
from collector.errors import CheckpointError
from dataset_card import versions as dataset_versions
from dataset_card.build import BuildError, changelog_entries
from dataset_card.outdir import BUILD
from ecocompute import hubenv, reference
from ecocompute.cli import describe
from validator import history, jsonpos, loading, reporters

_FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_JSONISH = st.text(alphabet='{}[]":,0123456789.eE-+ \n\\uatfnrls/~\u2028\x00é', max_size=50)
_TEXT = st.text(max_size=50) | _JSONISH
_BYTES = st.binary(max_size=50) | _JSONISH.map(str.encode)


def _soon(started: float) -> None:
    assert time.perf_counter() - started < 2.0


def _one_line(exc: Exception) -> None:
    assert "\n" not in describe(exc) and describe(exc).strip()


@_FAST
@given(
    text=_TEXT,
    pointers=st.lists(st.text(max_size=6) | st.sampled_from(["", "/", "/a", "/0", "/a/0", "/~1", "/~"]), max_size=4),
)
def test_json_positions_of_any_text_are_lines_or_left_out(text: str, pointers: list[str]) -> None:
    started = time.perf_counter()
    found = jsonpos.lines_of(text, pointers)
    _soon(started)
    assert set(found) <= set(pointers) and all(
        type(v) is int and 1 <= v <= text.count("\n") + 1 for v in found.values()
    )


_PROC_FILES = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat")


@_FAST
@given(cpuinfo=_TEXT, meminfo=_TEXT, stat=_TEXT, os_release=_TEXT)
def test_any_proc_text_reads_as_a_value_or_unknown(
    cpuinfo: str, meminfo: str, stat: str, os_release: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's or an emulator's /proc may print anything: IndexError, ValueError ended the run before."""
    files = {
        "/proc/cpuinfo": "model name" + cpuinfo,
        "/proc/meminfo": f"MemTotal:{meminfo}\nMemAvailable:{meminfo}",
        "/proc/stat": "cpu " + stat,
        "/etc/os-release": os_release,
    }
    monkeypatch.setattr(hostinfo, "_read", files.get)
    assert isinstance(hostinfo.cpu_model(), str) and isinstance(hostinfo.os_name(), str)
    assert hostinfo.ram_total_gib() >= 0 and hostinfo.ram_available_bytes() >= 0
    times = hostinfo.cpu_times()
    assert times is None or 0 <= times.steal <= times.total < float("inf")


@pytest.mark.parametrize("line", ["cpu  1 2 x 4", "cpu  1 2 3 4 5 6 7 nan", "cpu  1 2 3 4 5 6 7 inf"])
def test_cpu_times_not_counts_are_unknown(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostinfo, "_read", {"/proc/stat": line}.get)
    assert hostinfo.cpu_times() is None  # a NaN steal could not be written in the submission (allow_nan=False)


_ENV = st.none() | st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30
)


@_FAST
@given(download=_ENV, etag=_ENV, token=_ENV, endpoint=_ENV)
def test_hub_variables_are_refused_in_one_line_or_parse(
    download: str | None, etag: str | None, token: str | None, endpoint: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlsplit

    given_ = {"HF_HUB_DOWNLOAD_TIMEOUT": download, "HF_HUB_ETAG_TIMEOUT": etag, "HF_TOKEN": token}
    for name, value in {**given_, "HF_ENDPOINT": endpoint, "HUGGING_FACE_HUB_TOKEN": None}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    try:
        hubenv.check()
    except hubenv.HubEnvironmentError as exc:
        _one_line(exc)
        return
    for value in (download, etag):  # what huggingface_hub then parses, it parses
        if value is not None:
            int(value)
    if endpoint:
        assert urlsplit(endpoint).port is None or urlsplit(endpoint).port >= 0
    if token:  # what huggingface_hub then sends (cleaned as it cleans it), an HTTP header carries
        token.replace("\r", "").replace("\n", "").strip().encode("ascii")


@_FAST
@given(raw=st.none() | _BYTES, path=st.sampled_from(sorted(history.ROW_KEYS)))
def test_a_branchs_table_of_any_bytes_has_rows_or_none(raw: bytes | None, path: str) -> None:
    assert isinstance(history._keyed_rows(raw, path), dict) and isinstance(history._accepted_rows(raw), list)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reference")
    for name in reference._TABLES:
        shutil.copy(ROOT / "ecocompute" / "reference" / name, folder / name)
    return folder


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(reference._TABLES), start=st.floats(0, 1), cut=st.integers(0, 30), insert=_BYTES)
def test_a_damaged_reference_table_loads_or_is_one_reference_error(
    tables: Path, name: str, start: float, cut: int, insert: bytes
) -> None:
    original = (ROOT / "ecocompute" / "reference" / name).read_bytes()
    at = int(start * len(original))
    _load_damaged(tables, name, original[:at] + insert + original[at + cut :])


def _load_damaged(tables: Path, name: str, damaged: bytes) -> None:
    """The tables, ``name`` replaced by ``damaged``, load or fail as one ReferenceError line, soon; then
    ``name`` is put back for the next example."""
    (tables / name).write_bytes(damaged)
    started = time.perf_counter()
    try:
        reference.load(tables)
    except reference.ReferenceError as exc:
        _one_line(exc)
    finally:
        shutil.copy(ROOT / "ecocompute" / "reference" / name, tables / name)
    _soon(started)


_LEAF = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
_VALUE = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(reference._TABLES), row=st.integers(0, 5), key=st.text(max_size=10), value=_VALUE)
def test_a_reference_row_holding_any_value_loads_or_is_one_reference_error(
    tables: Path, name: str, row: int, key: str, value: Any
) -> None:
    doc = json.loads((ROOT / "ecocompute" / "reference" / name).read_bytes())
    rows = next(v for v in doc.values() if isinstance(v, list))
    if rows:
        picked = rows[row % len(rows)]
        picked[key if key or not picked else next(iter(picked))] = value
    _load_damaged(tables, name, json.dumps(doc).encode())


_HEADER = json.dumps({"run_key": "k"})


@_FAST
@given(lines=st.lists(_TEXT | st.just(_HEADER), max_size=4), end=st.sampled_from(["\n", "\r\n", "\u2028", "\x0c"]))
def test_a_checkpoint_of_any_lines_resumes_or_is_one_checkpoint_error(
    tmp_path: Path, lines: list[str], end: str
) -> None:
    path = tmp_path / "run.checkpoint.jsonl"
    path.write_bytes(end.join(lines).encode("utf-8", "surrogatepass"))
    try:
        header, _entries = Checkpoint(path, "k").load()
    except CheckpointError as exc:
        _one_line(exc)
    else:
        assert header is None or header["run_key"] == "k"


@_FAST
@given(
    text=st.text(max_size=60) | st.text(alphabet="#\n\r Unreleased[]-\u2028\ufeff\u0085", max_size=60),
    version=st.none() | st.sampled_from(["1.4.0", "1.4.0-rc.1"]),
)
def test_a_changelog_of_any_text_is_entries_or_one_build_error(tmp_path: Path, text: str, version: str | None) -> None:
    path = tmp_path / "DATA_CHANGELOG.md"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        entries = changelog_entries(path, version=version)
    except BuildError as exc:
        _one_line(exc)
    else:
        assert all(not line.startswith("# ") for line in entries.splitlines())  # nested under the card's heading


@_FAST
@given(tags=st.lists(st.text(max_size=20) | st.from_regex(r"v[0-9]{1,25}\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True)))
def test_release_tags_among_any_tags(tags: list[str]) -> None:
    assert all(len(core) == 3 for core in dataset_versions.released(tags))


_REPORT = {"accepted": True, "files": ["x"], "rejected_files": [], "counts": {}, "findings": []}


@_FAST
@given(
    raw=_BYTES,
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]),
    value=st.text(max_size=4),
)
def test_any_bytes_are_a_report_of_ours_or_not(raw: bytes, encoding: str, value: str) -> None:
    assert reporters.is_json_report(raw) in (True, False)
    written = json.dumps({**_REPORT, "files": [value]}, indent=2, sort_keys=True) + "\n"  # as render_json writes
    assert reporters.is_json_report(written.encode(encoding)) == (encoding == "utf-8")


def test_a_report_holding_a_lone_surrogates_bytes_is_not_ours() -> None:
    """json.loads(bytes) reads UTF-8 with surrogatepass; bytes.decode then failed: a UnicodeDecodeError
    traceback from eco-validate --output over such a file."""
    written = json.dumps({**_REPORT, "files": ["X"]}, indent=2, sort_keys=True) + "\n"
    assert not reporters.is_json_report(written.encode().replace(b'"X"', b'"\xed\xa0\x80"'))


@_FAST
@given(data=_BYTES)
def test_a_marker_of_any_bytes_lists_files_or_says_why_not(data: bytes) -> None:
    try:
        assert isinstance(BUILD.parse(data), set)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)


@_FAST
@given(raw=_BYTES | st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_a_submission_of_any_bytes_loads_with_findings(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "sub.json"
    path.write_bytes(raw)
    started = time.perf_counter()
    loaded = loading.load(path)
    _soon(started)
    assert isinstance(loaded.findings, list)
