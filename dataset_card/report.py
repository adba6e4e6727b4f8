"""The card's report section: eco-advise's report (``advisor.report``) of the tables being built, its
figures drawn into the build's ``figures/report/`` and its Markdown embedded in the card one heading
level down. `eco-dataset report` and `eco-advise report` write the same report for a finished
build, so the card and a standalone report never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from advisor import data
from advisor import report as advisor_report
from advisor.analysis import analyse

from . import figures
from .versions import Version

FOLDER = f"{figures.FOLDER}/report"  # below the build; beside the card's own figures, never among them
TRIAL_COLUMNS = data.TRIAL_COLUMNS  # what ``write`` reads of the trials


def source(repo_id: str, version: Version) -> str:
    """What the report names as its dataset: the spec eco-advise reads a release by, or the build's
    label (never a local path, which would make two builds of the same files differ)."""
    return f"{repo_id}@{version.tag}" if version.is_release else f"{repo_id}, build {version.text}"


def write(tables: Mapping[str, pa.Table], staging: Path, source: str) -> str:
    """Draw the report's figures into ``staging``/FOLDER and return its Markdown for the card.

    ``tables``: the build's measurements (with their fp16 ratios), trials and legacy tables, each in
    its final order, so that the report's sums, and so its bytes, depend only on the files built."""
    found = analyse(data.from_tables(source, tables))
    _, markdown = advisor_report.render(found, staging / FOLDER, links=FOLDER, depth=1)
    return markdown
