"""Render a validation report as text, JSON or GitHub annotations plus a step summary.

Every string a contributor controls (file names, values quoted in messages) reaches a terminal, a CI
log or a web page: text and GitHub output escape control, ANSI and bidi characters (``printable``),
workflow commands escape their delimiters, the step summary escapes Markdown and HTML, and JSON
escapes everything outside ASCII. No output can forge a line, a verdict or a link.
"""

from __future__ import annotations

import itertools
import json
import string
from collections import Counter, defaultdict

from ecocompute.cli import printable

from .findings import CATALOGUE, Finding
from .run import Report

STEP_SUMMARY_MAX_BYTES = 512 * 1024  # half GitHub's 1-MiB limit per step: other steps may write too
_SUMMARY_TAIL_BYTES = 100  # the line saying how many findings are left out
GITHUB_ANNOTATION_CAP = 50


def _key(f: Finding) -> tuple[str, int, str, str]:
    return (f.file, f.line or 0, f.pointer, f.code)


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=_key)


def _fair(findings: list[Finding]) -> list[Finding]:
    """``findings`` in the order a bounded output picks them: errors before warnings, then by turns, each file its
    next finding, and within a file each code its next (the first of each code, then the second of each, ...).
    Every file's first findings of every code then come before the tenth of any: sorted by file alone, one
    file's hundreds filled the 50 annotations and the step summary, and every later file showed none."""
    codes: dict[tuple[bool, str], dict[str, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    for f in _sorted(findings):
        codes[f.severity.value != "error", f.file][f.code].append(f)
    keyed = []
    for (warning, file), by_code in codes.items():
        turns = itertools.zip_longest(*by_code.values())  # each code's first, then each code's second, ...
        for k, f in enumerate(f for turn in turns for f in turn if f is not None):
            keyed.append(((warning, k, file), f))
    return [f for _, f in sorted(keyed, key=lambda kf: kf[0])]


def _verdict(report: Report) -> str:
    n_files = len(report.files)
    rejected = len(report.rejected_files() & set(report.files))
    n_err, n_warn = len(report.errors), len(report.findings) - len(report.errors)
    state = "REJECTED" if report.errors else "ACCEPTED"
    return f"{state}: {n_files} file(s) checked, {rejected} rejected; {n_err} error(s), {n_warn} warning(s)"


def render_text(report: Report) -> str:
    lines = []
    for f in _sorted(report.findings):
        where = f"{printable(f.file)}:{f.line}" if f.line else printable(f.file)
        pointer = f" [{printable(f.pointer)}]" if f.pointer else ""
        lines.append(f"{where}: {f.severity.value} {f.code}{pointer}: {printable(f.message)}")
        lines.append(f"    fix: {CATALOGUE[f.code].fix}")
    lines.append(_verdict(report))
    return "\n".join(lines) + "\n"


JSON_REPORT_KEYS = frozenset({"accepted", "files", "rejected_files", "counts", "findings"})
# How every JSON report begins (keys sorted, indented): a file that does not is not read further.
JSON_REPORT_START = b'{\n  "accepted": '
# The largest file eco-validate --output reads to recognise as its own report: a report of 12,500
# files holds about 5 MB (findings are capped per code and file); anything larger is left alone.
MAX_JSON_REPORT_BYTES = 64 << 20


def is_json_report(text: bytes) -> bool:
    """Whether ``text`` is, byte for byte, a JSON report render_json writes: its keys, and the same
    bytes once its content is written again (an edited or merely similar file is not one)."""
    try:  # decoded first: json.loads of bytes takes UTF-16 and a lone surrogate's bytes, which decode() refuses
        decoded = text.decode("utf-8")
        payload = json.loads(decoded)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested beyond the parser
        return False
    if not isinstance(payload, dict) or payload.keys() != JSON_REPORT_KEYS:
        return False
    return _dumped(payload) == decoded


def _dumped(payload: dict[str, object]) -> str:
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def render_json(report: Report) -> str:
    payload = {
        "accepted": not report.errors,
        "files": report.files,
        "rejected_files": sorted(report.rejected_files()),
        "counts": dict(sorted(Counter(f.code for f in report.findings).items())),
        "findings": [f.as_dict() for f in _sorted(report.findings)],
    }
    return _dumped(payload)


def _escape_data(value: str) -> str:
    return printable(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report) -> str:
    """Workflow commands (one per finding, the first GITHUB_ANNOTATION_CAP in ``_fair``'s order, shown sorted)
    and the plain verdict."""
    lines = []
    findings = report.findings
    shown = _fair(findings)[:GITHUB_ANNOTATION_CAP]
    for f in _sorted(shown):
        level = "error" if f.severity.value == "error" else "warning"
        props = f"file={_escape_property(f.file)}"
        if f.line:
            props += f",line={f.line}"
        props += f",title={_escape_property(f.code)}"
        lines.append(f"::{level} {props}::{_escape_data(f.message + ' (fix: ' + CATALOGUE[f.code].fix + ')')}")
    if len(findings) > GITHUB_ANNOTATION_CAP:
        firsts = {(f.file, f.code) for f in shown} == {(f.file, f.code) for f in findings}
        which = "each file's first of each code are" if firsts else "errors first, each file's and code's first"
        lines.append(
            f"::warning::{len(findings) - GITHUB_ANNOTATION_CAP} more findings not annotated ({which}); see the JSON "
            "report"
        )
    lines.append(_verdict(report))
    return "\n".join(lines) + "\n"


_MARKDOWN = frozenset(string.punctuation) - {"&", "<", ">"}


def _md_cell(value: str) -> str:
    """Literal text in a Markdown table cell: no link, emphasis, HTML, code span or column break."""
    out = []
    for ch in printable(value):
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch in _MARKDOWN:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def render_step_summary(report: Report) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY, within STEP_SUMMARY_MAX_BYTES: GitHub drops a step's summary
    above 1 MiB, so rows are taken in ``_fair``'s order until the next would pass the budget, shown sorted, and a
    line says how many are left out (the JSON report holds them all)."""
    out = ["## Submission validation", "", f"**{_verdict(report)}**", ""]
    findings = report.findings
    if findings:
        out += ["| file | line | severity | code | message |", "|---|---|---|---|---|"]
    size = sum(len(line.encode()) + 1 for line in out) + _SUMMARY_TAIL_BYTES
    rows = []
    for f in _fair(findings):  # each file's first of each code, then the next: ``_fair``
        row = f"| {_md_cell(f.file)} | {f.line or ''} | {f.severity.value} | `{f.code}` | {_md_cell(f.message)} |"
        size += len(row.encode()) + 1
        if size > STEP_SUMMARY_MAX_BYTES:
            break
        rows.append((f, row))
    out += [row for _, row in sorted(rows, key=lambda fr: _key(fr[0]))]
    if len(rows) < len(findings):
        out += ["", f"{len(findings) - len(rows)} more finding(s) not shown here; see the JSON report."]
    return "\n".join(out) + "\n"
