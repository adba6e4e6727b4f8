"""Packages that transformers refuses to import beside: a file naming both was not measured as stated.

``import transformers`` checks the installed huggingface_hub and tokenizers against its own pins
(transformers/dependency_versions_check.py: ``require_version_core`` raises ImportError), and eco-collect
imports transformers, so it never ran beside a pair outside them. Only what holds for a whole major:
- every transformers 4.x pins huggingface-hub below 1.0 ('huggingface-hub>=0.34.0,<1.0' in 4.56 and 4.57;
  pip: "transformers 4.56.1 requires huggingface-hub<1.0,>=0.34.0, but you have huggingface-hub 1.0.0",
  pytorch/executorch#15398);
- transformers 5 requires huggingface-hub 1.0 or later (huggingface/transformers#42033, merged before
  5.0.0rc0: '>=1.0.0,<2.0'; later 5.x raised the floor: '>=1.31.0,<2.0') and tokenizers 0.22 or later
  (5.x: 'tokenizers>=0.22.0,<=0.23.0', later '>=0.23.1,<0.24.0').
Upper bounds of 5.x are not judged (a later 5.x may allow huggingface_hub 2), nor a pre-release or a
development build (main read 5.0.0.dev0 before the huggingface_hub pin moved), nor a spelling that
provenance.unpinned_version names.
"""

from __future__ import annotations

from collections.abc import Mapping

from packaging.version import Version

from ecocompute.domain import Submission

from .findings import Finding, make
from .versions import _exact

HUB_MAJOR_OF_TRANSFORMERS = {4: range(0, 1), 5: range(1, 10**9)}  # huggingface_hub majors each imports beside
TOKENIZERS_FLOOR_OF_TRANSFORMERS = {5: Version("0.22")}
_WHERE = "/environment/software"


def check(sub: Submission, file: str) -> list[Finding]:
    software = sub.environment.software
    transformers = _exact(software.get("transformers"))
    if transformers is None or transformers.is_prerelease or transformers.is_devrelease:
        return []
    major, out = transformers.major, []
    hub = _exact(software.get("huggingface_hub"))
    majors = HUB_MAJOR_OF_TRANSFORMERS.get(major)
    if hub is not None and majors is not None and hub.major not in majors:
        wanted = "below 1.0" if majors.stop == 1 else f"{majors.start}.0 or later"
        out.append(_finding(file, "huggingface_hub", software, f"transformers {major}.x pins huggingface-hub {wanted}"))
    tokenizers = _exact(software.get("tokenizers"))
    floor = TOKENIZERS_FLOOR_OF_TRANSFORMERS.get(major)
    if tokenizers is not None and floor is not None and tokenizers.release[:2] < floor.release:
        out.append(
            _finding(file, "tokenizers", software, f"transformers {major}.x requires tokenizers {floor} or later")
        )
    return out


def _finding(file: str, key: str, software: Mapping[str, str], why: str) -> Finding:
    return make(
        "provenance.software_versions",
        file,
        f"{_WHERE}/{key}",
        f"{key} {software.get(key)!r} beside transformers {software.get('transformers')!r}: {why}, and "
        "'import transformers' refuses any other (its dependency_versions_check), so eco-collect did not run",
    )
