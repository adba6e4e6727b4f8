"""Deterministic Parquet: declared schema, sorted rows, no pandas or time metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .schemas import SORT_KEYS

PARQUET_NAME = "train-00000-of-00001.parquet"


def to_table(name: str, rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows -> Arrow table with the declared schema, sorted by the config's key (stable ids)."""
    columns = {field.name: [r[field.name] for r in rows] for field in schema}
    table = pa.table(columns, schema=schema)
    return table.sort_by([(key, "ascending") for key in SORT_KEYS[name]])


def write(table: pa.Table, out_dir: Path, name: str) -> Path:
    path = out_dir / name / PARQUET_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", compression_level=9, write_statistics=True, row_group_size=256_000)
    return path
