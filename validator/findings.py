"""Findings: what a check reports; the catalogue of stable codes lives in ``codes.py``.

Every check appends findings; nothing here prints or decides an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codes import CATALOGUE, Code, Severity

__all__ = ["CATALOGUE", "Code", "Finding", "Severity", "make"]


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    file: str
    pointer: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "file": self.file,
            "pointer": self.pointer,
            "line": self.line,
            "message": self.message,
            "fix": CATALOGUE[self.code].fix,
        }


def make(code: str, file: str, pointer: str, message: str, line: int | None = None) -> Finding:
    """Build a finding whose severity comes from the catalogue (KeyError on an unknown code)."""
    return Finding(code, CATALOGUE[code].severity, file, pointer, message, line)
