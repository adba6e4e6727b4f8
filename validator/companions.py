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
development build of transformers (main read 5.0.0.dev0 before the huggingface_hub pin moved), nor a
spelling that provenance.unpinned_version names. A bound is compared as transformers compares it
(transformers/utils/versions.py: ``operator.lt`` on ``packaging.version.parse``, not a PEP 440 specifier):
huggingface_hub 1.0.0rc2 is below 1.0, so 4.x imports beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

from packaging.version import Version

from ecocompute.domain import Submission

from .findings import Finding, make
from .versions import _exact

HUB_CEILING_OF_TRANSFORMERS = {4: Version("1.0")}  # huggingface_hub below this (its pre-releases too)
HUB_FLOOR_MAJOR_OF_TRANSFORMERS = {5: 1}  # huggingface_hub of this major or later
TOKENIZERS_FLOOR_OF_TRANSFORMERS = {5: Version("0.22")}
_WHERE = "/environment/software"


def check(sub: Submission, file: str) -> list[Finding]:
    software = sub.environment.software
    transformers = _exact(software.get("transformers"))
    if transformers is None or transformers.is_prerelease or transformers.is_devrelease:
        return []
    major, out = transformers.major, []
    hub = _exact(software.get("huggingface_hub"))
    ceiling, floor_major = HUB_CEILING_OF_TRANSFORMERS.get(major), HUB_FLOOR_MAJOR_OF_TRANSFORMERS.get(major)
    wanted = None
    if hub is not None and ceiling is not None and hub >= ceiling:
        wanted = f"below {ceiling}"
    elif hub is not None and floor_major is not None and hub.major < floor_major:
        wanted = f"{floor_major}.0 or later"
    if wanted:
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
