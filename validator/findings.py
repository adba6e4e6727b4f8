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


_MORE = " more finding(s) of this code in this file not shown"  # after the count: a cap's note


def _hidden(f: Finding) -> int | None:
    """How many findings ``f`` stands for when it is a cap's note (``capped`` wrote it), None for a finding."""
    count = f.message.removesuffix(_MORE)
    return int(count) if not f.pointer and count != f.message and count.isdigit() else None


def capped(findings: list[Finding]) -> list[Finding]:
    """At most MAX_SHOWN_PER_CODE findings of each code in each file, then one saying how many more there are.

    A note an earlier cap wrote counts the findings it stands for, and gives way to the one note of the whole:
    a file's own findings, capped where they were found, and the run over files' (``run.report_for``) show
    one cap and one note per code together, not a cap each (review35 L3)."""
    totals: Counter[tuple[str, str]] = Counter()  # findings of each file and code, hidden ones included
    listed: Counter[tuple[str, str]] = Counter()  # the findings themselves, notes left out
    for f in findings:
        hidden = _hidden(f)
        totals[f.file, f.code] += 1 if hidden is None else hidden
        listed[f.file, f.code] += hidden is None
    if max(totals.values(), default=0) <= MAX_SHOWN_PER_CODE:
        return findings
    kept: list[Finding] = []
    shown: Counter[tuple[str, str]] = Counter()
    noted: set[tuple[str, str]] = set()
    for f in findings:
        key = (f.file, f.code)
        if _hidden(f) is None and shown[key] < MAX_SHOWN_PER_CODE:
            shown[key] += 1
            kept.append(f)
        elif key not in noted:  # the first finding not shown, or an earlier note: the one note goes there
            noted.add(key)
            more = totals[key] - min(listed[key], MAX_SHOWN_PER_CODE)
            kept.append(make(f.code, f.file, "", f"{more}{_MORE}"))
    return kept
