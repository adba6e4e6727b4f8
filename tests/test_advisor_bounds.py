"""eco-advise reads a dataset folder within bounds fixed before any data is read (advisor.reading):
a column type a build never writes, a column named twice, too many row groups, too large a footer,
or text that would fill memory once each row holds its copy, over one budget for all the files, is
one DatasetError; running out of memory anyway is one line too (attack s17b #1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from advisor import data, reading
from advisor.cli import main

NAME = "train-00000-of-00001.parquet"


@pytest.fixture
def copy(tmp_path: Path, advisor_build: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(advisor_build, out)
    return out


def _legacy(folder: Path) -> pa.Table:
    return pq.read_table(folder / "legacy" / NAME)


def _with(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, pa.field(name, values.type), values)


def _spent(folder: Path) -> int:
    """What a clean load of ``folder`` charges to its budget."""
    budget = reading.Budget()
    for config, columns in (
        ("measurements", data.MEASUREMENT_COLUMNS),
        ("trials", data.TRIAL_COLUMNS),
        ("legacy", data.LEGACY_COLUMNS),
    ):
        reading.local_table(folder, config, columns, budget, as_rows=config != "trials")
    return budget.spent


@pytest.mark.parametrize(
    "kind",
    [pa.binary(), pa.large_binary(), pa.string_view(), pa.binary_view(), pa.list_(pa.string()), "struct"],
    ids=["binary", "large_binary", "string_view", "binary_view", "list", "struct"],
)
def test_a_column_type_a_build_never_writes_is_refused_from_the_schema(copy: Path, kind: object) -> None:
    """A binary column was cast to text uncounted: 600 rows of one 5-MiB value took 8.6 GB."""
    table = _legacy(copy)
    docs = table.column("source_document").to_pylist()
    if kind == "struct":
        values = pa.array([{"text": d} for d in docs])
    elif pa.types.is_list(kind):
        values = pa.array([[d] for d in docs], kind)
    else:
        values = pa.array([d.encode() if "binary" in str(kind) else d for d in docs], kind)
    pq.write_table(_with(table, "source_document", values), copy / "legacy" / NAME)
    with pytest.raises(
        data.DatasetError, match=r"config legacy, column source_document is .*where eco-dataset build writes string"
    ):
        data.load(copy)


def test_a_column_named_twice_is_one_line(copy: Path) -> None:
    table = pq.read_table(copy / "measurements" / NAME)
    pq.write_table(table.append_column("gpu_name", table.column("gpu_name")), copy / "measurements" / NAME)
    result = CliRunner().invoke(main, ["--dataset", str(copy), "--gpu", "H100", "--params", "7B"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().endswith("has 2 columns named gpu_name: a build writes each once")
    assert len(result.output.strip().splitlines()) == 1


def test_too_many_row_groups_are_refused_from_the_metadata(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """200,000 one-row groups aborted the process inside Arrow."""
    pq.write_table(_legacy(copy), copy / "legacy" / NAME, row_group_size=10)  # 11 groups of the 101 rows
    monkeypatch.setattr(reading, "MAX_ROW_GROUPS", 10)
    with pytest.raises(data.DatasetError, match="has 11 row groups, more than the 10 this tool reads"):
        data.load(copy)
    monkeypatch.setattr(reading, "MAX_ROW_GROUPS", 11)
    assert len(data.load(copy).legacy) == _legacy(copy).num_rows


def test_a_footer_too_large_is_not_parsed(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    footer = int.from_bytes((copy / "measurements" / NAME).read_bytes()[-8:-4], "little")
    monkeypatch.setattr(reading, "MAX_FOOTER_BYTES", footer - 1)
    monkeypatch.setattr(pq, "read_metadata", None)  # never reached: the length alone refuses it
    with pytest.raises(data.DatasetError, match=f"has {footer} bytes of metadata"):
        data.load(copy)


@pytest.mark.parametrize("dictionary", [False, True], ids=["string", "arrow-dictionary"])
def test_one_budget_spans_every_file_of_every_config(
    copy: Path, monkeypatch: pytest.MonkeyPatch, dictionary: bool
) -> None:
    """Two files of repeated long text, each within the cap alone, are refused together (380 rows of
    5 MiB per file passed a per-file cap: 4 files took 12 GB); an Arrow dictionary column counts too."""
    table = _legacy(copy)
    clean = _spent(copy)
    long = "x" * 2_000
    (copy / "legacy" / NAME).unlink()
    for k in range(2):
        part = _with(table, "legacy_id", pa.array([f"f{k}-{i}" for i in range(table.num_rows)]))
        values = pa.array([long] * table.num_rows)
        if dictionary:
            values = values.dictionary_encode()
        pq.write_table(_with(part, "hf_path", values), copy / "legacy" / f"train-{k:05d}.parquet")
    one_file = _spent(copy) - clean  # both files' text beyond the clean dataset's, charged once each
    assert one_file > 2 * 2 * len(long) * table.num_rows  # each row's copy, twice: Arrow's and Python's
    monkeypatch.setattr(reading, "MAX_READ_BYTES", clean + one_file * 3 // 4)
    with pytest.raises(data.DatasetError, match=r"train-00001.parquet would take more than \d+ MiB to read"):
        data.load(copy)
    (copy / "legacy" / "train-00001.parquet").unlink()
    assert len(data.load(copy).legacy) == table.num_rows  # the first file alone fits


def test_running_out_of_memory_is_one_line(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*args: object, **kwargs: object) -> pa.Table:
        raise MemoryError

    monkeypatch.setattr(pq, "read_table", exhausted)
    monkeypatch.setattr(reading.parallel, "_data_bytes", lambda: None)  # no capped first read: this machine is full
    result = CliRunner().invoke(main, ["report", "--dataset", str(copy), "--out", str(copy.parent / "r")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("eco-advise: error: ") and "ran out of memory reading the dataset" in result.output
    assert not (copy.parent / "r").exists()


def _varint(n: int, length: int = 0) -> bytes:
    """Thrift's compact varint of ``n``, padded with continuation bytes to ``length`` (readers accept them)."""
    out = bytearray()
    while True:
        out.append(n & 0x7F)
        n >>= 7
        if not n:
            break
        out[-1] |= 0x80
    while len(out) < length:
        out[-1] |= 0x80
        out.append(0)
    return bytes(out)


def _understated(folder: Path, mib: int, groups: int) -> None:
    """Rewrite legacy/ as ``groups`` row groups of one row holding ``mib`` MiB of text (kilobytes once
    compressed), each column chunk's footer claiming 4 kB decompressed: the page headers, which Arrow
    trusts, still say ``mib`` MiB (how a 241-kB file hid 4 GB, 5.1 GB of memory in 9.8 s)."""
    path = folder / "legacy" / NAME
    table = _with(_legacy(folder).slice(0, 1), "hf_path", pa.array(["a" * (mib << 20)]))
    with pq.ParquetWriter(path, table.schema, compression="zstd", use_dictionary=False) as writer:
        for _ in range(groups):
            writer.write_table(table)
    meta = pq.read_metadata(path)
    column = meta.schema.to_arrow_schema().get_field_index("hf_path")
    data_ = bytearray(path.read_bytes())
    start = len(data_) - 8 - int.from_bytes(data_[-8:-4], "little")
    footer = bytes(data_[start:-8])
    for size in {meta.row_group(g).column(column).total_uncompressed_size for g in range(groups)}:
        old = _varint(2 * size)  # an i64 is zigzag-encoded
        assert footer.count(old) == groups
        footer = footer.replace(old, _varint(2 * 4096, len(old)))
    data_[start:-8] = footer
    path.write_bytes(bytes(data_))
    assert pq.read_metadata(path).row_group(0).column(column).total_uncompressed_size == 4096


def test_a_footer_that_understates_its_pages_is_refused_within_the_cap(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capped first read runs out before this process reads anything (on Linux)."""
    _understated(copy, mib=32, groups=4)
    monkeypatch.setattr(reading, "READ_SLACK_BYTES", 24 << 20)
    if not reading.parallel.capped():
        pytest.skip("no memory cap on this platform")
    result = CliRunner().invoke(main, ["--dataset", str(copy), "--gpu", "H100", "--params", "7B"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "legacy/train-00000-of-00001.parquet holds more than its metadata declares" in result.output
    assert "it is not a file eco-dataset build wrote" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_what_a_file_really_takes_is_charged_to_the_budget(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within the cap, the size measured once read is charged where the metadata said less: 128 MiB
    declared as 16 kB do not pass a budget with 64 MiB to spare, and this process never reads them
    (the capped child did; before, they were read here and refused after)."""
    clean = _spent(copy)
    _understated(copy, mib=32, groups=4)
    monkeypatch.setattr(reading, "MAX_READ_BYTES", clean + (64 << 20))
    read_here: list[int] = []  # the child's appends stay in the child
    real = pq.read_table

    def spy(*args: object, **kwargs: object) -> pa.Table:
        table = real(*args, **kwargs)
        read_here.append(table.nbytes)
        return table

    monkeypatch.setattr(reading.pq, "read_table", spy)
    with pytest.raises(data.DatasetError, match=r"legacy/train-00000-of-00001.parquet would take more than"):
        data.load(copy)
    if reading.parallel.capped():
        assert max(read_here) < 32 << 20


def test_a_builds_files_take_less_than_their_charge(advisor_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first read's cap stands on this: what a build's files take once read is within what the
    metadata charged (so nothing more is charged either)."""
    monkeypatch.setattr(reading.pa, "set_memory_pool", lambda _pool: None)  # _read_size runs here: keep ours
    budget = reading.Budget()
    for config, columns in (
        ("measurements", data.MEASUREMENT_COLUMNS),
        ("trials", data.TRIAL_COLUMNS),
        ("legacy", data.LEGACY_COLUMNS),
    ):
        file = advisor_build / config / NAME
        meta = pq.read_metadata(file)
        charged = reading.Budget()
        reading._bounded_read(file, meta, columns, charged, as_rows=config != "trials")
        schema = meta.schema.to_arrow_schema()
        text = [c for c in columns if reading._is_text(schema.field(c).type)]
        with pa.memory_map(str(file)) as source:
            measured = reading._read_size(source, columns, text)
        assert measured <= charged.spent, config
        budget.spent += charged.spent
    assert budget.spent < reading.MAX_READ_BYTES


def test_the_capped_read_starts_no_thread_per_core(advisor_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each thread's stack counts against the cap (8 MiB, one per core in Arrow's pool: 2 GiB on a
    256-core host, beyond READ_SLACK_BYTES), so the capped first read decodes on one thread."""
    asked: list[dict[str, object]] = []
    real = pq.read_table

    def spy(*args: object, **kwargs: object) -> pa.Table:
        asked.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(reading.pq, "read_table", spy)
    monkeypatch.setattr(reading.pa, "set_memory_pool", lambda _pool: None)  # this process keeps its own
    with pa.memory_map(str(advisor_build / "trials" / NAME)) as source:
        assert reading._read_size(source, data.TRIAL_COLUMNS, ["measurement_id", "role"]) > 0
    assert asked and all(kw.get("use_threads") is False for kw in asked)


def test_where_nothing_can_be_capped_each_file_is_read_once(
    advisor_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off Linux (or in a daemon process) a first read would run here, unbounded like the second: it is
    left out, and this process's allocator is never switched."""
    monkeypatch.setattr(reading.parallel, "_data_bytes", lambda: None)
    calls = 0
    real = pq.read_table

    def counted(*args: object, **kwargs: object) -> pa.Table:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(reading.pq, "read_table", counted)
    before = pa.default_memory_pool().backend_name
    assert len(data.load(advisor_build).measurements) > 0
    assert calls == 3  # measurements, trials, legacy: one read each
    assert pa.default_memory_pool().backend_name == before
