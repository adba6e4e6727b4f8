"""A built dataset's local Parquet files, read within bounds fixed from their metadata before any
data is read: a folder given to eco-advise may not come from eco-dataset build, and a few kilobytes
of Parquet can declare gigabytes once read (one long value repeated through a dictionary, a million
one-row groups, a footer of hundreds of megabytes).

One ``Budget`` spans every file of every config of a dataset: the bytes its columns take once read,
counted from the metadata (each column chunk's decompressed size, or its values at 8 bytes each when
they are more, and what reading a chunk costs beyond its values), then, once the text columns are read
as dictionaries, each row's own copy of its text, and the Python objects of configs that become rows.
Only the column types a build writes are read: any other type (binary, views, lists, structs) is
refused from the schema, as are a column named twice, too many row groups and too large a footer.

The metadata may lie: a page header, not the footer, says how large a page is once decompressed (a
66-kB file whose footer claimed 16 kB took 2 GB to read). Each file is therefore read first in a forked
process whose memory is capped at a few times what the metadata declares (ecocompute.parallel's
``within_memory``, Linux), which reports the size the columns really take; that size is charged, and
only then does this process read the file, through the same open file.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ecocompute import parallel, smallfile
from ecocompute.cli import EcoError, OptionError, printable
from ecocompute.columns import CONFIGS


class DatasetError(EcoError):
    """A dataset that cannot be read or does not hold what a build writes."""


class DatasetSpecError(DatasetError, OptionError):
    """A --dataset that names no folder and no Hub repository: a usage error (exit 2)."""


# Rows per config file read: a few hundred bytes of Parquet can declare a hundred million rows of one
# repeated value, gigabytes once read. A dataset of a million measurements holds about 7 million trials.
MAX_ROWS = 20_000_000
MAX_FILES = 1000  # a build writes one file per config; the Hub's own shards stay far below this
# What a whole dataset's columns may take once read, all files of all configs together.
MAX_READ_BYTES = 2 << 30
# A build writes one row group per 256,000 rows (MAX_ROWS in 79); 200,000 one-row groups aborted the
# process in Arrow (std::bad_alloc at 11 GB), 20,000 took 2.3 GB and 9,000 1.1 GB in 7 s.
MAX_ROW_GROUPS = 1_000
# Parsed whole before anything else is known; a build's is a few kilobytes.
MAX_FOOTER_BYTES = 16 << 20
# What reading one column chunk costs beyond its values (buffers, statistics, decoders): 20,000 one-row
# groups of 16 columns took 2.3 GB, about 7 kB a chunk.
CHUNK_OVERHEAD_BYTES = 8 << 10
# A cell of a config turned into Python rows (to_pylist): a dict slot and an object, measured at 95
# bytes a cell for 22 columns of floats and 41-character strings (the text is counted apart).
PY_CELL_BYTES = 64
# The capped first read may take this many times the bytes the metadata declares, plus READ_SLACK_BYTES
# (Arrow's threads, decoders, arenas and the compressed pages): a build's files take 5-65 % of their
# charge once read (tests/test_advisor_bounds.py), a file that hides gigabytes far more.
READ_FACTOR = 3
READ_SLACK_BYTES = 512 << 20
# The capped first read, on one thread, of the most a budget allows (2 GiB of columns) takes tens of
# seconds; a child that has not answered by then is ended (a native pool can wait for ever on a thread
# the cap did not let start).
READ_TIMEOUT_S = 300.0
_VALUE_BYTES = 8  # a fixed-width value once read (int64, float64; a bool or its validity bit is less)
_PARQUET_MAGIC = b"PAR1"


class Budget:
    """Bytes a dataset may still take once read; ``spend`` refuses the file that would pass it."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_READ_BYTES if limit is None else limit
        self.spent = 0

    def spend(self, file: Path, nbytes: int) -> None:
        self.spent += nbytes
        if self.spent > self.limit:
            raise DatasetError(
                f"{printable(str(file))} would take more than {self.limit >> 20} MiB to read (with the files read "
                "before it): it is not a dataset eco-dataset build wrote"
            )


def snapshot_blobs(folder: Path) -> Path | None:
    """The blobs folder of huggingface_hub's cache when ``folder`` is one of its snapshots
    (``<repository>/snapshots/<commit>``, whose files are links to ``<repository>/blobs/<hash>``), None
    otherwise. A Hub revision eco-advise downloads is such a snapshot, and so is one downloaded by
    ``huggingface-cli download`` or ``snapshot_download`` and given as --dataset (offline)."""
    folder = Path(os.path.abspath(folder))
    blobs = folder.parent.parent / "blobs"
    return blobs if folder.parent.name == "snapshots" and blobs.is_dir() else None


def local_table(folder: Path, config: str, columns: tuple[str, ...], budget: Budget, *, as_rows: bool) -> pa.Table:
    """``columns`` of ``folder``/``config``/*.parquet, within ``budget``; ``as_rows``: the caller turns
    the table into Python rows (counted too). A folder is read as it holds, like every input: a link there
    could lead anywhere, and is refused, but for a huggingface_hub snapshot's files, each a link into its
    own cache's blobs (``snapshot_blobs``), followed there and nowhere else."""
    if (folder / config).is_symlink():
        raise DatasetError(_link(folder / config))
    blobs = snapshot_blobs(folder)
    files = sorted((folder / config).glob("*.parquet"))
    if len(files) > MAX_FILES:
        raise DatasetError(
            f"{printable(str(folder / config))} holds {len(files)} Parquet files, more than the {MAX_FILES} this tool "
            "reads: it is not a folder eco-dataset build wrote (one file per config)"
        )
    if not files:
        raise DatasetError(
            f"{printable(str(folder))} has no {config}/*.parquet: it is not a folder written by eco-dataset build"
        )
    tables = []
    for file in files:
        _regular(file, blobs)
        try:
            _footer(file)
            meta = pq.read_metadata(file)
            _check_metadata(file, meta, config, columns)
            tables.append(_bounded_read(file, meta, columns, budget, as_rows=as_rows))
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(
                f"{printable(str(file))} is not a Parquet file eco-dataset build wrote ({printable(str(exc), limit=200)})"
            ) from None
    try:
        return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    except pa.ArrowException as exc:
        raise DatasetError(f"the {config} files of {printable(str(folder))} do not fit together ({exc})") from None


def _link(path: Path) -> str:
    return (
        f"{printable(str(path))} is a symbolic link: links in a dataset folder are never followed (but a "
        "huggingface_hub snapshot's, into its cache's blobs); give a folder that holds the files eco-dataset build "
        "wrote, or the Hub repository as owner/name@revision"
    )


def _regular(file: Path, blobs: Path | None) -> None:
    """A FIFO would block the read for ever, a folder or device fail in Arrow's words; a link is refused
    unless it leads into ``blobs`` (a huggingface_hub snapshot's files are links there)."""
    follow = False
    if file.is_symlink():
        real, into = Path(os.path.realpath(file)), Path(os.path.realpath(blobs)) if blobs is not None else None
        if into is None or into not in real.parents:
            raise DatasetError(_link(file))
        follow = True
    try:
        # Only judged: Arrow opens it, bounded by the footer and the budget. A link swapped in after this
        # would be followed: the folder is the user's own, and what it leads to is read within the same bounds.
        smallfile.check(file, follow_symlinks=follow)
    except smallfile.SmallFileError as exc:
        if exc.reason == "not_regular" and exc.mode is not None and stat.S_ISLNK(exc.mode):
            raise DatasetError(_link(file)) from None
        if exc.reason == "not_regular":
            raise DatasetError(
                f"{printable(str(file))} is not a regular file: it is not one eco-dataset build wrote"
            ) from None
        raise DatasetError(f"cannot read {printable(str(file))}: {exc.strerror}") from None


def _footer(file: Path) -> None:
    """Refuse a footer larger than MAX_FOOTER_BYTES before Arrow parses it (its length is the four
    bytes before the closing magic)."""
    with file.open("rb") as f:
        size = f.seek(0, 2)
        if size < 12:
            raise DatasetError(f"{printable(str(file))} is not a Parquet file eco-dataset build wrote ({size} bytes)")
        f.seek(size - 8)
        tail = f.read(8)
    length = int.from_bytes(tail[:4], "little")
    if tail[4:] == _PARQUET_MAGIC and length > MAX_FOOTER_BYTES:
        raise DatasetError(
            f"{printable(str(file))} has {length} bytes of metadata, more than the {MAX_FOOTER_BYTES} this tool "
            "reads: it is not a file eco-dataset build wrote"
        )


def _is_text(kind: pa.DataType) -> bool:
    """String or large_string, dictionary-encoded or not."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _accepted(kind: pa.DataType, declared: pa.DataType) -> bool:
    """Whether a file's column type is one a build could have written for ``declared``: text as
    (dictionary-encoded) string or large_string, numbers as fixed-width numbers, flags as flags.
    Binary, views, lists and structs are not: their size is not what the text columns' count covers.
    A flag is no number: a bool batch_size cast to int64 as 1 and failed far later, as a ratio "built
    with another reference rule"."""
    if pa.types.is_string(declared):
        return _is_text(kind)
    if pa.types.is_boolean(declared):
        return pa.types.is_boolean(kind)
    return pa.types.is_integer(kind) or pa.types.is_floating(kind)


def _check_metadata(file: Path, meta: pq.FileMetaData, config: str, columns: tuple[str, ...]) -> None:
    shown = printable(str(file))
    if meta.num_rows > MAX_ROWS:
        raise DatasetError(
            f"{shown} declares {meta.num_rows} rows, more than {MAX_ROWS} this tool reads: it is not a file "
            "eco-dataset build wrote"
        )
    if meta.num_row_groups > MAX_ROW_GROUPS:
        raise DatasetError(
            f"{shown} has {meta.num_row_groups} row groups, more than the {MAX_ROW_GROUPS} this tool reads: it is not "
            "a file eco-dataset build wrote"
        )
    schema = meta.schema.to_arrow_schema()
    named = Counter(schema.names)
    twice = next((c for c in columns if named[c] > 1), None)
    if twice is not None:
        raise DatasetError(f"{shown} has {named[twice]} columns named {printable(twice)}: a build writes each once")
    missing = [c for c in columns if c not in named]
    if missing:
        raise DatasetError(
            f"{shown} lacks column(s) {', '.join(missing)}: rebuild it with this version's eco-dataset build"
        )
    for name in columns:
        kind, declared = schema.field(name).type, CONFIGS[config].field(name).type
        if not _accepted(kind, declared):
            raise DatasetError(
                f"{shown}: config {config}, column {name} is {printable(str(kind), limit=80)}, where eco-dataset "
                f"build writes {declared}: it is not a file eco-dataset build wrote"
            )


def _bounded_read(
    file: Path, meta: pq.FileMetaData, columns: tuple[str, ...], budget: Budget, *, as_rows: bool
) -> pa.Table:
    """The columns of ``file``, charged to ``budget`` first from the metadata (pages that decompress
    beyond it), then for text repeated through a dictionary (600 rows of one 5-MiB string fill 3 GB
    once each row holds its copy; text is read as dictionaries, which cost what the metadata says)."""
    leaves = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    wanted = [leaves[c] for c in columns]  # flat columns only (_accepted): one leaf each, named as the column
    declared = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in wanted:
            chunk = group.column(i)
            declared += max(chunk.total_uncompressed_size, chunk.num_values * _VALUE_BYTES) + CHUNK_OVERHEAD_BYTES
    if as_rows:
        declared += meta.num_rows * len(columns) * PY_CELL_BYTES
    budget.spend(file, declared)
    schema = meta.schema.to_arrow_schema()
    text = [c for c in columns if _is_text(schema.field(c).type)]
    with pa.memory_map(str(file)) as source:  # both reads see this one file, even if the path is replaced
        if parallel.capped():  # elsewhere a first read would only read it twice, unbounded both times
            _measure(file, source, columns, text, declared, budget)
        table = pq.read_table(source, columns=list(columns), read_dictionary=text)
    copies = 2 if as_rows else 1  # the cast to plain strings; then each row's Python string
    expanded = 0
    for name in text:
        for chunk in table.column(name).chunks:
            values = chunk.dictionary if isinstance(chunk, pa.DictionaryArray) else chunk
            longest = pc.max(pc.binary_length(values)).as_py() or 0
            expanded += longest * len(chunk) * copies
    budget.spend(file, expanded)
    return table


def _measure(
    file: Path, source: pa.NativeFile, columns: tuple[str, ...], text: list[str], declared: int, budget: Budget
) -> None:
    """Read ``source`` in a capped child and charge what its columns really take beyond ``declared``."""
    limit = declared * READ_FACTOR + READ_SLACK_BYTES
    try:
        measured = parallel.within_memory(limit, _read_size, source, columns, text, timeout_s=READ_TIMEOUT_S)
    except parallel.Stopped as exc:  # SIGTERM to the reading process: no verdict on the file
        raise DatasetError(f"reading {printable(str(file))} was stopped before it finished ({exc})") from None
    except parallel.OutOfMemory as exc:
        raise DatasetError(
            f"{printable(str(file))} holds more than its metadata declares ({declared >> 10} KiB of columns): "
            f"it could not be read within {limit >> 20} MiB and {READ_TIMEOUT_S:g} s "
            f"({printable(str(exc), limit=120)}); it is not a file eco-dataset build wrote"
        ) from None
    budget.spend(file, max(0, measured - declared))  # the truth, where the metadata understated it


def _read_size(source: pa.NativeFile, columns: tuple[str, ...], text: list[str]) -> int:
    """In the capped child: the bytes the columns take once read (the table is dropped there). Arrow's
    own allocator keeps memory it mapped before the fork and reuses it unseen by the cap: the child
    allocates from the system's (malloc), whose every growth the cap counts. One thread: every thread
    Arrow would start counts too (an 8-MiB stack each, one per core: hundreds on a large host)."""
    pa.set_memory_pool(pa.system_memory_pool())  # the child's own: it ends with this call
    table = pq.read_table(source, columns=list(columns), read_dictionary=text, use_threads=False, pre_buffer=False)
    return table.nbytes
