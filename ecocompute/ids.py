"""Identifiers and hashes: canonical measurement hashes (stable row ids) and commit SHAs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

try:
    import orjson
except ImportError:  # the hashes are the same without it, only slower
    orjson = None  # type: ignore[assignment]

_HEX40 = re.compile(r"[0-9a-f]{40}")
# Where orjson's bytes may differ from canonical_json's: numbers below 1e-4 in magnitude (Python
# writes 1e-05 and 7.5e-05, orjson 0.00001 and 1e-5); a number starts the text or follows ':', ',' or '['.
_SMALL_NUMBER = re.compile(rb"(?:^|[:,\[])-?0\.0000")
# A measurement writes a few "-" (model ids, dates); past this many the scan is left to one C search.
_DASHES_LOOKED_AT = 32


def is_commit_sha(value: str) -> bool:
    """A full 40-hex git commit SHA (lower case), as the Hub reports revisions."""
    return _HEX40.fullmatch(value) is not None


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _negative_exponent(out: bytes) -> bool:
    """Whether ``b"e-"`` occurs in ``out``: its few "-" found by memchr, each looked behind. 10x cheaper
    than ``b"e-" in out``, whose search steps byte by byte through JSON full of "e" (0.03 ms a file)."""
    at = out.find(b"-", 1)  # one at the start has nothing behind it
    for _ in range(_DASHES_LOOKED_AT):
        if at == -1:
            return False
        if out[at - 1] == 0x65:  # "e"
            return True
        at = out.find(b"-", at + 1)
    return at != -1 and out.find(b"e-", at - 1) != -1  # a text full of "-": the rest in one C search


def canonical_bytes(value: Any, *, finite: bool = False) -> bytes:
    """``canonical_json(value)`` as UTF-8, the same bytes, 3x faster for a measurement.

    orjson writes the same compact, key-sorted JSON except for numbers below 1e-4, integers beyond
    64 bits and lone surrogates (it refuses those two), and NaN/Infinity (it writes null where
    canonical_json raises). Its output is used only when none of these can be in it: no small
    number, and it parses back to a value equal to the input (a NaN would come back as None);
    otherwise the slow path decides, raising where it always did. ``finite``: the caller knows no
    float of ``value`` is NaN or infinite (orjson read it from text, which refuses both), so the
    round trip, two thirds of the cost, is skipped."""
    if orjson is not None:
        try:
            out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            out = None
        if (
            out is not None
            and not _negative_exponent(out)
            # rfind: its scan keys on the rarer ".", where ``in`` keys on "0" (7 us a file against 18)
            and not (out.rfind(b".0000") != -1 and _SMALL_NUMBER.search(out))
            and (finite or orjson.loads(out) == value)
        ):
            return out
    return canonical_json(value).encode("utf-8")


def measurement_hash(gpu_uuid_sha256: str, measurement: Mapping[str, Any], *, finite: bool = False) -> str:
    """sha256 over the GPU identity and the whole measurement as written (trials included)."""
    payload = canonical_bytes({"gpu_uuid_sha256": gpu_uuid_sha256, "measurement": measurement}, finite=finite)
    return hashlib.sha256(payload).hexdigest()


def measurement_hashes(doc: Mapping[str, Any], *, finite: bool = False) -> list[str]:
    """One hash per measurement of a raw document, in order (``finite``: see canonical_bytes)."""
    gpu = doc["environment"]["gpu"]["uuid_sha256"]
    return [measurement_hash(gpu, m, finite=finite) for m in doc["measurements"]]
