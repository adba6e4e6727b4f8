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


def capped(findings: list[Finding], *more: list[Finding]) -> list[Finding]:
    """At most MAX_SHOWN_PER_CODE findings of each code in each file, then one saying how many more there are.

    A note an earlier cap wrote counts the findings it stands for, and gives way to the one note of the whole:
    a file's own findings, capped where they were found, and the run over files' (``run.report_for``) show
    one cap and one note per code together, not a cap each (review35 L3). ``more``: further sources of findings
    (the run over files'), which share each cap fairly with ``findings`` and each other (``_shares``): a file
    with MAX_SHOWN_PER_CODE findings of a code of its own hid every one of that code found against other files
    (review37)."""
    sources = [findings, *more]
    totals: Counter[tuple[str, str]] = Counter()  # findings of each file and code, hidden ones included
    listed: list[Counter[tuple[str, str]]] = []  # each source's findings themselves, notes left out
    for source in sources:
        listed.append(Counter())
        for f in source:
            hidden = _hidden(f)
            totals[f.file, f.code] += 1 if hidden is None else hidden
            listed[-1][f.file, f.code] += hidden is None
    if max(totals.values(), default=0) <= MAX_SHOWN_PER_CODE:
        return [f for source in sources for f in source]
    share = {  # the codes of a file capped (or noted) here, and how many of each source's findings each shows
        key: _shares([n[key] for n in listed])
        for key, total in totals.items()
        if total > min(MAX_SHOWN_PER_CODE, sum(n[key] for n in listed))
    }
    kept: list[Finding] = []
    noted: set[tuple[str, str]] = set()
    for s, source in enumerate(sources):
        shown: Counter[tuple[str, str]] = Counter()
        for f in source:
            key = (f.file, f.code)
            if _hidden(f) is None and (key not in share or shown[key] < share[key][s]):
                shown[key] += 1
                kept.append(f)
            elif key not in noted:  # the first finding not shown, or an earlier note: the one note goes there
                noted.add(key)
                kept.append(make(f.code, f.file, "", f"{totals[key] - sum(share[key])}{_MORE}"))
    return kept


def _shares(counts: list[int]) -> list[int]:
    """How many of each source's ``counts`` findings one cap shows: MAX_SHOWN_PER_CODE dealt one at a time to
    each source that has more, in turn (5 and 50 show 5 and 15; 30 and 50, 10 each; 30 alone, 20)."""
    shares = [0] * len(counts)
    left = min(MAX_SHOWN_PER_CODE, sum(counts))
    while left:
        for s, n in enumerate(counts):
            if left and shares[s] < n:
                shares[s] += 1
                left -= 1
    return shares
