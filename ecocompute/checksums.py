"""One line of a sha256sum file (legacy/SHA256SUMS), as eco-dataset build checks the files it lists and
eco-validate keeps them from changing."""

from __future__ import annotations

import re

# sha256sum's format: the digest, a space, then " " (text mode) or "*" (binary), then the file's name
_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


def sum_line(line: str) -> tuple[str, str] | None:
    """(sha256, file name) of a sha256sum line; None where the line is not one."""
    match = _LINE.fullmatch(line)
    return (match[1], match[2]) if match else None
