"""The researcher's published numbers, imported as they are into the separate ``legacy`` config.

Nothing is corrected: his per-trial A800 CSV and his transcribed aggregate tables keep their
values, energy basis and gaps, and every row says it did not pass our validator.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ecocompute import smallfile, stats
from ecocompute.checksums import sum_line
from ecocompute.cli import EcoError, printable
from ecocompute.names import L

RAW = "a800_mistral7b_pure_int8_batch_size_raw_20260215_131345.csv"
RAW_META = "a800_mistral7b_pure_int8_batch_size_metadata_20260215_131345.json"
AGGREGATES = "published_aggregates.csv"
VALIDATION = "not validated: legacy data has no model revisions, no exact library versions and no idle baseline per configuration; it cannot pass eco-validate"
MISSING = {
    RAW: "model revision; transformers/bitsandbytes/accelerate/driver versions; idle power; warm-up trials",
    "COMPLETE_DATASET_MEMO.md": "model revisions; exact library versions; raw trials (aggregates only)",
    "a800_metadata.json": "model revision ('latest'); torch/transformers/bitsandbytes versions ('2.x', '4.x', '0.x'); raw trials",
    "pure_int8_metadata.json": "model revision ('latest'); raw trials",
}


class LegacyError(EcoError):
    """A file of the --legacy folder that is missing or malformed: the build stops before any work."""


# The legacy files are a few kilobytes; one far larger is not the project's (and would not be read whole).
_MAX_BYTES = 4 << 20
_FIX = "nothing built: --legacy must be the project's legacy/ folder as committed (git checkout -- legacy/)"
# The columns the import reads (the raw CSV has more, kept in the file but not imported).
_RAW_COLUMNS = (
    "batch_size",
    "total_time_s",
    "total_energy_j",
    "throughput_tok_s",
    "avg_power_w",
    "energy_per_1k_tokens_j",
)
_AGGREGATE_TEXT = ("source", "gpu", "model", "hf_path", "precision", "energy_basis")
_AGGREGATE_INTS = ("batch_size", "output_tokens", "n_runs")
_AGGREGATE_NUMBERS = (
    "params_b",
    "throughput_tok_s",
    "throughput_std",
    "power_w",
    "power_std",
    "energy_j_per_1k_tok",
    "energy_std",
)
_INT64 = range(-(2**63), 2**63)  # the dataset's integer columns are int64
_JSON_KINDS = {
    dict: "a JSON object",
    list: "a JSON array",
    str: "a JSON string",
    bool: "true or false",
    type(None): "null",
}


def _fail(path: Path, what: str) -> NoReturn:
    raise LegacyError(f"legacy file {printable(str(path))}: {what}; {_FIX}")


def _bytes(path: Path) -> bytes:
    """The file's bytes, refusing what is not a small regular file before opening it (a FIFO would block)."""
    try:
        return smallfile.read_bytes(path, _MAX_BYTES)
    except smallfile.SmallFileError as exc:
        _fail(path, _unread(exc))


def _unread(exc: smallfile.SmallFileError) -> str:
    """Why a legacy file was not read, as ``_fail`` words it."""
    if exc.reason == "missing":
        return "is missing"
    if exc.reason == "not_regular":
        return "is not a regular file"
    if exc.reason == "too_large":
        size = "more than" if exc.grew else f"{exc.size} bytes, more than"  # None: it grew while read
        return f"is {size} the {_MAX_BYTES} any legacy file may have"
    if exc.reason == "not_utf8":
        return f"is not UTF-8 text (byte {exc.offset})"
    return f"cannot be read ({exc.strerror})"


def _text(path: Path, data: bytes) -> str:
    try:
        return smallfile.decode(path, data)
    except smallfile.SmallFileError as exc:
        _fail(path, _unread(exc))


def _json(path: Path, kind: type) -> Any:
    try:
        doc = json.loads(_text(path, _bytes(path)))
    except RecursionError:
        _fail(path, "is nested too deeply to be read")
    except ValueError as exc:
        _fail(path, f"is not valid JSON ({exc})")
    if not isinstance(doc, kind):
        _fail(path, f"holds {_JSON_KINDS.get(type(doc), 'a number')}, not {_JSON_KINDS[kind]}")
    return doc


def _string(path: Path, where: str, doc: dict[str, Any], key: str) -> str:
    """``doc[key]`` as text for a string column: a lone surrogate (a JSON escape) could not be written."""
    if key not in doc:
        _fail(path, f"{where} has no {key!r}")
    value = doc[key]
    if not isinstance(value, str):
        _fail(path, f"{where} {key!r} is {_shown(value)}, not text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        _fail(path, f"{where} {key!r} holds a lone surrogate")
    return value


def _integer(path: Path, where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, f"{where} is {_shown(value)}, not an integer")
    if value not in _INT64:
        _fail(path, f"{where} is {_shown(value)}, beyond a 64-bit integer")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _csv(path: Path, columns: tuple[str, ...]) -> tuple[str, list[tuple[str, dict[str, str]]]]:
    """(sha256 of the bytes read, [("line N", row)]) of a CSV with at least ``columns``, every row complete."""
    data = _bytes(path)
    reader = csv.DictReader(io.StringIO(_text(path, data), newline=""))
    rows = []
    try:
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            _fail(path, f"has no column {', '.join(missing)} in its header line")
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row:
                _fail(path, f"{where} has more cells than the header")
            if any(row[c] is None for c in header):
                _fail(path, f"{where} has fewer cells than the header")
            rows.append((where, row))
    except csv.Error as exc:
        _fail(path, f"line {reader.line_num}: {exc}")
    if not rows:
        _fail(path, "has a header but no rows")
    return hashlib.sha256(data).hexdigest(), rows


def _cell(path: Path, where: str, row: dict[str, str], column: str, kind: type, *, optional: bool = False) -> Any:
    """One cell as an int or a finite float; an empty cell is None where the source may leave a gap."""
    value = row[column]
    if optional and value == "":
        return None
    try:
        parsed = kind(value)
    except ValueError:
        _fail(path, f"{where}, column {column}: {_shown(value)} is not {'an integer' if kind is int else 'a number'}")
    if kind is int:
        return _integer(path, f"{where}, column {column}", parsed)
    if not math.isfinite(parsed):
        _fail(path, f"{where}, column {column}: {_shown(value)} is not a finite number")
    if abs(parsed) > stats.MAGNITUDE_MAX:
        _fail(path, f"{where}, column {column}: {_shown(value)} is beyond {stats.MAGNITUDE_MAX:g} in size")
    return parsed


def raw_trial_rows(folder: Path) -> list[dict[str, Any]]:
    meta_path = folder / RAW_META
    meta = _json(meta_path, dict)
    gpu, model = (_string(meta_path, "the object", meta, k) for k in ("gpu", "model"))
    for key in ("output_length", "n_runs_per_batch"):
        if key not in meta:
            _fail(meta_path, f"the object has no {key!r}")
    output_tokens = _integer(meta_path, "'output_length'", meta["output_length"])
    n_runs = _integer(meta_path, "'n_runs_per_batch'", meta["n_runs_per_batch"])
    path = folder / RAW
    digest, lines = _csv(path, _RAW_COLUMNS)
    rows, counters = [], {}
    for where, r in lines:
        batch = _cell(path, where, r, "batch_size", int)
        duration_s, energy_j, throughput, power_w, energy_1k = (
            _cell(path, where, r, c, float) for c in _RAW_COLUMNS[1:]
        )
        index = counters[batch] = counters.get(batch, -1) + 1
        rows.append(
            {
                L.legacy_id: f"a800-batch-sweep-bs{batch:03d}-t{index:02d}",
                L.row_kind: "trial",
                L.source_document: RAW,
                L.source_file: f"legacy/{RAW}",
                L.source_sha256: digest,
                L.gpu: gpu,
                L.model: model.split("/")[-1],
                L.hf_path: model,
                L.params_b: None,
                L.precision: "int8-pure",
                L.batch_size: batch,
                L.output_tokens: output_tokens,
                L.n_runs: n_runs,
                L.trial_index: index,
                L.duration_s: duration_s,
                L.energy_j: energy_j,
                L.throughput_tok_s: throughput,
                L.throughput_std: None,
                L.power_w: power_w,
                L.power_std: None,
                L.energy_per_1k_tokens_j: energy_1k,
                L.energy_std: None,
                L.energy_basis: "gross",
                L.power_source: "NVML power polling (10 Hz per the author's documents)",
                L.missing_provenance: MISSING[RAW],
                L.validation: VALIDATION,
            }
        )
    return rows


def aggregate_rows(folder: Path) -> list[dict[str, Any]]:
    path = folder / AGGREGATES
    digest, lines = _csv(path, _AGGREGATE_TEXT + _AGGREGATE_INTS + _AGGREGATE_NUMBERS)
    rows = []
    for i, (where, r) in enumerate(lines):
        ints = {c: _cell(path, where, r, c, int) for c in _AGGREGATE_INTS}
        numbers = {c: _cell(path, where, r, c, float, optional=True) for c in _AGGREGATE_NUMBERS}
        rows.append(
            {
                L.legacy_id: f"published-aggregate-{i:03d}",
                L.row_kind: "aggregate",
                L.source_document: r["source"],
                L.source_file: f"legacy/{AGGREGATES}",
                L.source_sha256: digest,
                L.gpu: r["gpu"],
                L.model: r["model"],
                L.hf_path: r["hf_path"],
                L.params_b: numbers["params_b"],
                L.precision: r["precision"],
                L.batch_size: ints["batch_size"],
                L.output_tokens: ints["output_tokens"],
                L.n_runs: ints["n_runs"],
                L.trial_index: None,
                L.duration_s: None,
                L.energy_j: None,
                L.throughput_tok_s: numbers["throughput_tok_s"],
                L.throughput_std: numbers["throughput_std"],
                L.power_w: numbers["power_w"],
                L.power_std: numbers["power_std"],
                L.energy_per_1k_tokens_j: numbers["energy_j_per_1k_tok"],
                L.energy_std: numbers["energy_std"],
                L.energy_basis: r["energy_basis"],
                L.power_source: "NVML power polling (10 Hz per the author's documents)",
                L.missing_provenance: MISSING.get(r["source"], "model revisions; exact versions; raw trials"),
                L.validation: VALIDATION,
            }
        )
    return rows


def sweep_cv(trials: list[dict[str, Any]]) -> list[tuple[int, float, int]]:
    """(batch size, throughput CV %, trials) of the raw A800 sweep: checked against his "CV < 2 %"."""
    by_batch: dict[int, list[float]] = {}
    for r in trials:
        by_batch.setdefault(r[L.batch_size], []).append(r[L.throughput_tok_s])
    return [(b, stats.cv_pct(v), len(v)) for b, v in sorted(by_batch.items())]


def discrepancies(folder: Path) -> list[dict[str, str]]:
    """Where the researcher's documents disagree with themselves (cited, see legacy/DISCREPANCIES.json)."""
    path = folder / "DISCREPANCIES.json"
    entries = _json(path, list)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            _fail(path, f"entry {i} is {_shown(entry)}, not an object")
        for key in ("topic", "a", "b"):
            _string(path, f"entry {i}", entry, key)
    return entries


# Who the legacy numbers belong to, as the seed documents say (shared/seeds 000, 001 and 003): the
# forum post's BibTeX entry, the author's two repositories and the Zenodo archive they cite.
AUTHOR = "Hongping Zhang"
REPOSITORIES = (
    "https://github.com/hongping-zh/ecocompute-ai",
    "https://github.com/hongping-zh/ecocompute-dynamic-eval",
)
REPOSITORY_LICENCE = "the README of ecocompute-dynamic-eval states 'MIT License - See LICENSE'"
BIBTEX = """@misc{zhang2026llmenergy,
  author = {Zhang, Hongping},
  title  = {LLM Energy Benchmark: Real GPU Power Measurements for Quantized Inference},
  year   = {2026},
  doi    = {10.5281/zenodo.18900289},
  url    = {https://doi.org/10.5281/zenodo.18900289}
}"""


@dataclass(frozen=True)
class Source:
    document: str
    rows: int
    licence: str  # what the copy we hold states, or that it states nothing
    citation: str


def _plain(name: str) -> bool:
    """A plain name of a file in the legacy folder itself (a name read from a file is looked up only so)."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def _stated(folder: Path, document: str) -> tuple[str, str]:
    """(licence, citation) as the source file itself states them, where we hold it as JSON."""
    name = RAW_META if document == RAW else document
    path = folder / name
    # a document is named by the aggregates' source column: only a plain name in legacy/ is looked up
    if not _plain(name) or path.suffix != ".json" or not path.is_file():
        return "not stated in what we hold (the document is not in legacy/)", ""
    meta = _json(path, dict)
    licence, citation = (
        _string(path, "the object", meta, key) if isinstance(meta.get(key), str) else ""
        for key in ("license", "citation")
    )
    return (f"{licence} (stated in {path.name})" if licence else f"not stated in {path.name}"), citation


def sources(folder: Path, documents: list[str]) -> list[Source]:
    """One entry per source document of the legacy rows (``documents``: each row's source_document)."""
    counts = Counter(documents)
    return [Source(d, counts[d], *_stated(folder, d)) for d in sorted(counts)]


@dataclass(frozen=True)
class Legacy:
    """Everything the build takes from the legacy folder, read and checked before any other work."""

    rows: list[dict[str, Any]]
    sweep_cv: list[tuple[int, float, int]]
    discrepancies: list[dict[str, str]]
    sources: list[Source]


def load(folder: Path) -> Legacy:
    """Read every legacy file once; a missing or malformed one raises LegacyError naming it, and so does one
    whose bytes are not those its SHA256SUMS lists."""
    trials = raw_trial_rows(folder)
    table = trials + aggregate_rows(folder)
    held = Legacy(
        table, sweep_cv(trials), discrepancies(folder), sources(folder, [r[L.source_document] for r in table])
    )
    verify_sums(folder)  # after the reading, so a broken file is named for what is broken in it
    return held


SUMS = "SHA256SUMS"


def verify_sums(folder: Path) -> None:
    """Every file the folder's SHA256SUMS lists holds the bytes listed: the build imports the researcher's numbers
    unchecked, so an edited one (a published figure changed by hand) is refused, not published. A folder without
    SHA256SUMS (one's own, not the project's) is not checked."""
    path = folder / SUMS
    if not path.exists() and not path.is_symlink():
        return
    digests: dict[str, str] = {}  # each file read and hashed once, however many lines name it (4 MiB each at most)
    for n, line in enumerate(_text(path, _bytes(path)).splitlines(), 1):
        if not line.strip():
            continue
        listed = sum_line(line)
        digest_listed, name = listed if listed else ("", "")
        if listed is None or not _plain(name):
            _fail(path, f"line {n} is not a sha256sum line of a file in this folder ('<sha256>  <name>')")
        if name not in digests:
            digests[name] = hashlib.sha256(_bytes(folder / name)).hexdigest()
        digest = digests[name]
        if digest != digest_listed:
            _fail(
                folder / name,
                f"holds other bytes than {SUMS} lists (sha256 {digest[:16]}..., listed {digest_listed[:16]}...): "
                "legacy/ holds the researcher's files verbatim",
            )
