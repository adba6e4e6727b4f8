"""Findings: what a check reports; the catalogue of stable codes is ``codes.py``'s and
``measured_codes.py``'s, joined here.

Every check appends findings; nothing here prints or decides an exit code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .codes import DOCUMENT_CODES, Code, Severity
from .measured_codes import MEASURED_CODES

__all__ = ["CATALOGUE", "MAX_SHOWN_PER_CODE", "Code", "Finding", "Severity", "capped", "make"]

CATALOGUE: dict[str, Code] = {c.code: c for c in (*DOCUMENT_CODES, *MEASURED_CODES)}
# The findings of one code shown for one file (or one repository check: accepted.json's rows, legacy/'s files);
# then one line says how many more. The first ones say what is wrong; thousands say nothing more.
MAX_SHOWN_PER_CODE = 20


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


def capped(findings: list[Finding]) -> list[Finding]:
    """At most MAX_SHOWN_PER_CODE findings of each code, then one saying how many more there are."""
    counts = Counter(f.code for f in findings)
    if max(counts.values(), default=0) <= MAX_SHOWN_PER_CODE:
        return findings
    kept: list[Finding] = []
    shown: Counter[str] = Counter()
    for f in findings:
        shown[f.code] += 1
        if shown[f.code] <= MAX_SHOWN_PER_CODE:
            kept.append(f)
        elif shown[f.code] == MAX_SHOWN_PER_CODE + 1:
            more = counts[f.code] - MAX_SHOWN_PER_CODE
            kept.append(make(f.code, f.file, "", f"{more} more finding(s) of this code in this file not shown"))
    return kept
