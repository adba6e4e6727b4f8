"""Checkpoint of completed configurations, so Ctrl-C or a crash loses no finished measurement.

One JSON document per line: a header naming the run, then one finished configuration per line (the
configuration as requested, and its measurement). Lines are flushed and fsync'ed as they are written;
a torn last line (crash mid-write) is ignored, and cut off before a resumed run appends. Just before the
submission file is written, a line names it and the SHA-256 of its text (``committing``), and once it
is in place a line says so (``written``): killed before the checkpoint's removal, the run leaves both,
and ``--resume`` finds the file whole instead of writing it again, or, the file moved or edited since,
refuses to write the same measurements a second time. A file eco-validate refuses leaves a line naming the
copy kept for inspection (``refused``): a --resume builds the same file from the same measurements, so it
goes on only where eco-validate now accepts that copy (collector.resume). A new run creates its checkpoint as
a new file (O_EXCL): another eco-collect that started the same run in the same instant is refused, not
overwritten.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs

from ecocompute import smallfile
from ecocompute.cli import describe, printable
from validator.contract import load_schema

from .errors import CheckpointError, unwritable
from .locks import open_flags

MAX_BYTES = 1 << 30


def _no_constant(name: str) -> Any:
    """json.loads takes NaN and Infinity; the writer never writes them (allow_nan=False)."""
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    """json.loads reads 1e400 as infinity, which the submission cannot hold (allow_nan=False)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is beyond the numbers a JSON file may hold")
    return value


@functools.lru_cache(maxsize=1)
def _measurement_rule() -> jsonschema_rs.Draft202012Validator:
    """The submission schema's rule for one measurement, as the file eco-collect writes must keep it."""
    schema = load_schema()
    return jsonschema_rs.Draft202012Validator(
        {"$defs": schema["$defs"], "$ref": "#/$defs/measurement"}, validate_formats=True
    )


def _schema_problem(measurement: dict[str, Any]) -> str | None:
    """The first way ``measurement`` breaks the schema, said in one line; None when it keeps it."""
    try:
        error = next(iter(_measurement_rule().iter_errors(measurement)), None)
    except UnicodeEncodeError:  # json.loads takes a lone surrogate escape ("\\ud800"); the engine cannot
        return "a string of its measurement holds a lone surrogate, which no file may hold"
    except ValueError as exc:  # the engine's own depth limit ("Recursion limit reached"), within json's
        return printable(f"its measurement cannot be checked against the submission schema ({exc})", limit=300)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.instance_path)
    return printable(f"its measurement breaks the submission schema at /{where}: {error.message}", limit=300)


@dataclass(frozen=True)
class Refusal:
    """A submission eco-validate refused, built from this checkpoint: the copy kept for inspection (None where
    it could not be kept), the SHA-256 of its text, and eco-validate's first error at the time."""

    path: str | None
    sha256: str
    first: str


class Checkpoint:
    def __init__(self, path: Path, run_key: str) -> None:
        self.path = path
        self.run_key = run_key
        self.commits: list[tuple[str, str]] = []  # (absolute path, sha256) of files written from it, by load
        self.written_to: list[str] = []  # absolute paths of those files once in place, by load
        self.refusals: list[Refusal] = []  # files built from it that eco-validate refused, by load
        self.finished = 0  # configurations it holds, as load read them and add added them
        self._size = 0  # bytes ``load`` read
        self._whole: int | None = None  # bytes before a torn last line ``load`` skipped; None: there was none
        self.created = False  # by ``start``: the file is this run's own

    def load(self) -> tuple[dict[str, Any] | None, list[tuple[tuple[str, str, int], dict[str, Any]]]]:
        """(header, [((precision, engine, batch) as requested, measurement)]); (None, []) without one.

        The file is ours, but a crash, a full disk or a hand edit can leave anything there: every shape
        it could take is one CheckpointError, never a traceback or a resumed run that fails later."""
        if not self.path.exists():
            return None, []
        text = self._text()
        lines = text.splitlines()
        self._size, self._whole = len(text.encode("utf-8")), None
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line, parse_constant=_no_constant, parse_float=_finite))
            except (json.JSONDecodeError, ValueError, RecursionError) as exc:  # json recurses on nesting
                if number == len(lines) and isinstance(exc, json.JSONDecodeError):
                    # torn final line from an interrupted write: cut off before anything is appended
                    self._whole = self._size - len(text.splitlines(keepends=True)[-1].encode("utf-8"))
                    break
                why = {json.JSONDecodeError: getattr(exc, "msg", ""), RecursionError: "nested too deep"}.get(
                    type(exc), str(exc)
                )
                raise self._corrupt(number, why) from None
        if not records:  # at most one line, torn: a kill or a power loss as the run started
            raise CheckpointError(
                f"{self.path} holds no whole first line (it is empty, cut short or zero-filled: the run that made it "
                "was killed, or the power lost, as it started), so nothing was measured in it; delete it and run "
                "without --resume"
            )
        if not isinstance(records[0], dict) or records[0].get("run_key") != self.run_key:
            raise CheckpointError(
                f"{self.path} belongs to a different run (other model, precisions, batch sizes or protocol); "
                "delete it or run without --resume"
            )
        entries = []
        self.commits, self.written_to, self.refusals = [], [], []
        for number, record in enumerate(records[1:], 2):
            if isinstance(record, dict) and "committing" in record:
                self.commits.append(self._commit(number, record["committing"]))
                continue
            if isinstance(record, dict) and "refused" in record:
                self.refusals.append(self._refusal(number, record["refused"]))
                continue
            if isinstance(record, dict) and "written" in record:
                if not isinstance(record["written"], str):
                    raise self._corrupt(number, "not a submission file's path")
                self.written_to.append(record["written"])
                continue
            requested = record.get("requested") if isinstance(record, dict) else None
            measurement = record.get("measurement") if isinstance(record, dict) else None
            if not (
                isinstance(requested, list)
                and len(requested) == 3
                and isinstance(requested[0], str)
                and isinstance(requested[1], str)
                and type(requested[2]) is int
                and isinstance(measurement, dict)
            ):
                raise self._corrupt(
                    number, "not a finished configuration: [precision, engine, batch] and a measurement"
                )
            # A hand edit that keeps the shape but not the schema would resume, measure the rest for
            # hours, and only then be refused (or end in a traceback on a string where a time was).
            problem = _schema_problem(measurement)
            if problem:
                raise self._corrupt(number, problem)
            entries.append(((requested[0], requested[1], requested[2]), measurement))
        self.finished = len(entries)
        return records[0], entries

    def _commit(self, number: int, record: Any) -> tuple[str, str]:
        if not (
            isinstance(record, dict)
            and isinstance(record.get("path"), str)
            and isinstance(record.get("sha256"), str)
            and len(record["sha256"]) == 64
        ):
            raise self._corrupt(number, "not a submission file's path and SHA-256")
        return record["path"], record["sha256"]

    def _refusal(self, number: int, record: Any) -> Refusal:
        if not (
            isinstance(record, dict)
            and (record.get("path") is None or isinstance(record.get("path"), str))
            and isinstance(record.get("sha256"), str)
            and len(record["sha256"]) == 64
            and isinstance(record.get("first"), str)
        ):
            raise self._corrupt(number, "not a refused file's path, SHA-256 and first error")
        return Refusal(record["path"], record["sha256"], record["first"])

    def written(self) -> Path | None:
        """The submission file a run wrote from this checkpoint (as ``load`` read it), when it is still
        there, a regular file holding exactly the text it was written with; else None."""
        for path, digest in self.commits:
            try:  # bounded, never a FIFO (it would block) nor a link, even one swapped in after the stat
                data = smallfile.read_bytes(Path(path), MAX_BYTES, follow_symlinks=False)
            except (smallfile.SmallFileError, ValueError):  # ValueError: a path holding NUL (a hand edit)
                continue
            if hashlib.sha256(data).hexdigest() == digest:
                return Path(path)
        return None

    def _text(self) -> str:
        # A regular file only (a FIFO would block the read), bounded: a run of the schema's 1,000
        # configurations of 2,000 trials each stays far below it.
        try:
            return smallfile.read_text(self.path, MAX_BYTES)
        except smallfile.SmallFileError as exc:
            if exc.reason == "not_regular":
                raise CheckpointError(f"{self.path} is not a regular file; delete it to start over") from None
            if exc.reason == "too_large":
                size = f"grew past {MAX_BYTES:,} bytes while read" if exc.grew else f"holds {exc.size:,} bytes"
                raise CheckpointError(f"{self.path} {size}, more than a run writes; delete it") from None
            if exc.reason == "not_utf8":
                raise CheckpointError(
                    f"{self.path} is corrupt (not UTF-8 at byte {exc.offset}); delete it to start over"
                ) from None
            raise CheckpointError(f"{self.path} cannot be read ({exc.strerror}); delete it to start over") from None

    def _corrupt(self, number: int, why: str) -> CheckpointError:
        return CheckpointError(f"{self.path}:{number} is corrupt ({why}); delete it to start over")

    def start(self, header: dict[str, Any]) -> None:
        """Create the checkpoint, a new file (never over one: another eco-collect starting the same run in
        the same instant is refused, not overwritten), and write its header. ``created`` once it is ours."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, open_flags("O_WRONLY", "O_CREAT", "O_EXCL", "O_NOFOLLOW", "O_CLOEXEC"), 0o644)
        except FileExistsError as exc:
            if exc.filename is not None and os.path.abspath(exc.filename) != os.path.abspath(self.path):
                raise unwritable("the checkpoint", self.path.parent, exc) from exc  # a file where a folder goes
            if self.path.is_symlink():  # a link (dangling: no checkpoint was found) is no other run's start
                raise CheckpointError(
                    f"{printable(str(self.path))} is a symbolic link, where this run's checkpoint goes: eco-collect "
                    "follows no link in its state folder; remove the link and run again"
                ) from None
            raise CheckpointError(
                f"{printable(str(self.path))} appeared as this run started: another eco-collect is starting the same "
                "run (same model, settings and GPU); measure it in one run at a time, or delete that file if no "
                "other run is going"
            ) from None
        except OSError as exc:
            raise unwritable("the checkpoint", self.path.parent, exc) from exc
        self.created = True
        os.close(fd)
        self._append({"run_key": self.run_key, **header})

    def add(self, requested: tuple[str, str, int], measurement: dict[str, Any]) -> None:
        """Record a finished configuration. A full disk (or a state folder made read-only) ends the run in one
        line that says what is kept and how to go on: it read "No space left on device", nothing more."""
        try:
            self._append({"requested": list(requested), "measurement": measurement})
            self.finished += 1
        except OSError as exc:
            raise CheckpointError(
                f"cannot add a finished configuration to the checkpoint {printable(str(self.path))} ({describe(exc)}): "
                "the configurations it held before are kept; free disk space there (or make it writable) and rerun "
                "the same command with --resume"
            ) from exc

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def committing(self, path: Path, text: str) -> None:
        """Record, before it is written, the submission file that will hold this checkpoint's measurements."""
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._append({"committing": {"path": os.path.abspath(path), "sha256": digest}})

    def wrote(self, path: Path) -> None:
        """Record that the submission file ``committing`` named is in place, whole: a --resume that no
        longer finds it as written (moved, edited, another --out-dir) still knows it was written."""
        self._append({"written": os.path.abspath(path)})

    def refused(self, kept: Path | None, text: str, first: str) -> None:
        """Record that eco-validate refused the file built from this checkpoint (``text``), kept for inspection
        at ``kept`` (None: it could not be kept), with ``first``, its first error."""
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        path = None if kept is None else os.path.abspath(kept)
        self._append({"refused": {"path": path, "sha256": digest, "first": first}})

    def end_line(self) -> str | None:
        """Before a resumed run appends: cut off the torn last line ``load`` skipped (a write cut short by a
        kill or a power loss), or add the newline a whole last line lacks. A record appended after either
        would be glued to it, one corrupt line the next --resume refuses. A note when a line was cut off."""
        try:
            fd = os.open(self.path, open_flags("O_RDWR", "O_CLOEXEC"))  # as _append opens it
        except OSError as exc:  # a read-only state folder or checkpoint: nothing could be appended
            raise unwritable("to the checkpoint", self.path.parent, exc) from exc
        try:
            if os.fstat(fd).st_size != self._size:
                raise CheckpointError(f"{self.path} changed while it was read (another eco-collect?); run again")
            if self._whole is not None:
                os.ftruncate(fd, self._whole)
                os.fsync(fd)
                cut, self._size, self._whole = self._size - self._whole, self._whole, None
                return (
                    f"--resume: cut off the last line of {printable(str(self.path))} ({cut:,} bytes), a record "
                    "the interrupted run did not finish writing: what it held is measured again"
                )
            if self._size:
                os.lseek(fd, -1, os.SEEK_END)
                if os.read(fd, 1) != b"\n":
                    self._size += os.write(fd, b"\n")  # after a whole record: it is kept
                    os.fsync(fd)
            return None
        finally:
            os.close(fd)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
