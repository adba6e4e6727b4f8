"""Checkpoint of completed configurations, so Ctrl-C or a crash loses no finished measurement.

One JSON document per line: a header naming the run, then one finished configuration per line (the
configuration as requested, and its measurement). Lines are flushed and fsync'ed as they are written;
a torn last line (crash mid-write) is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import CheckpointError


class Checkpoint:
    def __init__(self, path: Path, run_key: str) -> None:
        self.path = path
        self.run_key = run_key

    def load(self) -> tuple[dict[str, Any] | None, list[tuple[tuple[str, str, int], dict[str, Any]]]]:
        """(header, [((precision, engine, batch) as requested, measurement)]); (None, []) without one."""
        if not self.path.exists():
            return None, []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if number == len(lines):
                    break  # torn final line from an interrupted write
                raise CheckpointError(f"{self.path}:{number} is corrupt ({exc.msg}); delete it to start over") from exc
        if not records or records[0].get("run_key") != self.run_key:
            raise CheckpointError(
                f"{self.path} belongs to a different run (other model, precisions, batch sizes or protocol); "
                "delete it or run without --resume"
            )
        return records[0], [
            ((r["requested"][0], r["requested"][1], r["requested"][2]), r["measurement"]) for r in records[1:]
        ]

    def start(self, header: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("", encoding="utf-8")
        self._append({"run_key": self.run_key, **header})

    def add(self, requested: tuple[str, str, int], measurement: dict[str, Any]) -> None:
        self._append({"requested": list(requested), "measurement": measurement})

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
