"""A release only adds: its build's rows per submitted config, as the card's front matter states them,
against the latest release's card, and every submission the latest release published kept (kept.py).
submissions/ is append-only, so fewer rows, or a submission gone or changed, is a wrong --submissions
folder, and a tag cannot be taken back (publish.py refuses the release)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RevisionNotFoundError
from huggingface_hub.repocard import REGEX_YAML_BLOCK

from advisor.reading import DatasetError
from ecocompute import smallfile
from ecocompute.cli import printable

from . import kept, versions
from .hubfiles import PublishError

SUBMITTED = ("measurements", "trials", "submissions")  # built from submissions/, which is append-only
MAX_CARD_BYTES = 8 << 20  # a card is tens of kilobytes; only its front matter is read
MAX_FRONT_MATTER_CHARS = 64 << 10  # a built card's front matter is 9 KB: four configs' features and counts
MAX_CARD_CONFIGS = 64  # configs, and splits of one config, in a card's dataset_info (a built card: 4, and 1 each)


def _front_matter(readme: Path) -> Any:
    """The card's YAML front matter as huggingface_hub's metadata_load reads it, found within its first
    MAX_FRONT_MATTER_CHARS characters (None beyond): PyYAML's safe loader is pure Python, about
    30 KB a second, so the 8 MiB a card may have took minutes. Its C loader is not used: it crashes
    the process on deep nesting."""
    # Read by smallfile, judged before it is opened: a FIFO would block the read, a huge file fill the memory.
    text = smallfile.read_text(readme, MAX_CARD_BYTES).removeprefix("\ufeff")
    match = REGEX_YAML_BLOCK.search(text[:MAX_FRONT_MATTER_CHARS])
    return yaml.safe_load(match.group(2)) if match else None


def card_counts(readme: Path) -> dict[str, int] | None:
    """Rows per config as a card's front matter states them (``dataset_info``); None where it does not,
    or lists more configs or splits than a card of ours could (YAML aliases repeat one list at no cost:
    a few kilobytes stood for a billion splits to add up)."""
    try:
        meta = _front_matter(readme)
    except (smallfile.SmallFileError, OSError, ValueError, yaml.YAMLError, RecursionError):  # nesting: PyYAML recurses
        return None
    info = meta.get("dataset_info") if isinstance(meta, dict) else None
    if not isinstance(info, list) or len(info) > MAX_CARD_CONFIGS:
        return None
    counts = {}
    for config in info:
        if not isinstance(config, dict):
            continue
        splits = config.get("splits")
        if isinstance(splits, list) and len(splits) > MAX_CARD_CONFIGS:
            return None
        numbers = [s.get("num_examples") for s in splits if isinstance(s, dict)] if isinstance(splits, list) else []
        if isinstance(config.get("config_name"), str) and numbers and all(type(n) is int for n in numbers):
            counts[config["config_name"]] = sum(numbers)
    return counts or None


def of_build(build_dir: Path, local: dict[str, Path]) -> dict[str, int]:
    """Rows per config as the build's own card states them: a build that states none, or holds no
    measurement, is refused."""
    counts = card_counts(local["README.md"])
    if counts is None or any(name not in counts for name in SUBMITTED):
        raise PublishError(
            f"{printable(str(build_dir))} is not a built dataset (its card states no row counts); run eco-dataset build"
        )
    if counts["measurements"] == 0:
        raise PublishError(
            f"the build holds no measurements ({counts['submissions']} submission(s)): nothing published; "
            "check --submissions (is it the repository's submissions/ folder?)"
        )
    return counts


def _latest_counts(api: Any, repo_id: str, tags: set[str]) -> tuple[str, dict[str, int] | None] | None:
    """The latest release's tag and the rows its card states (None: it states none), or None when there
    is no release."""
    released = versions.released(tags)
    if not released:
        return None
    tag = "v" + ".".join(map(str, max(released)))
    try:
        card = api.hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=tag)
    except LocalEntryNotFoundError:  # an EntryNotFoundError too, but the Hub was not reached: not a missing card
        raise
    except (EntryNotFoundError, RevisionNotFoundError):
        return tag, None
    return tag, card_counts(Path(card))


def check_rows(local: dict[str, int], latest: tuple[str, dict[str, int] | None] | None, allow_fewer: bool) -> str:
    """Refuse a release with fewer rows in a submitted config than the latest release's card states,
    unless ``allow_fewer``; the comparison in words."""
    shown = ", ".join(f"{name} {local[name]}" for name in SUBMITTED)
    if latest is None:
        return f"{shown} (no earlier release)"
    tag, before = latest
    if before is None:  # said in the plan and the result line: a card from before counts, or edited on the Hub
        return f"{shown} (the rows of {tag} are unknown: its card states none in a form this tool reads)"
    fewer = [f"{name} {before[name]} -> {local[name]}" for name in SUBMITTED if local[name] < before.get(name, 0)]
    if fewer and not allow_fewer:
        raise PublishError(
            f"the build holds fewer rows than {tag} ({', '.join(fewer)}); submissions/ is append-only, so "
            "--submissions is probably the wrong folder: nothing published (--allow-fewer-rows publishes it anyway)"
        )
    return f"{shown} ({tag}: " + ", ".join(f"{name} {before.get(name, 0)}" for name in SUBMITTED) + ")"


def check_release(
    api: Any, repo_id: str, tags: set[str], build_dir: Path, counts: dict[str, int], allow_fewer: bool
) -> str:
    """The build against the latest release: its rows (check_rows), then, unless ``allow_fewer``, its
    submissions one by one (kept.py); the comparison in words."""
    latest = _latest_counts(api, repo_id, tags)
    rows = check_rows(counts, latest, allow_fewer)
    if latest is None or allow_fewer:
        return rows
    try:
        build = kept.submissions(build_dir)
    except DatasetError as exc:
        raise PublishError(f"{exc}; run eco-dataset build") from None
    try:
        return rows + kept.check(build, kept.released(api, repo_id, latest[0]), latest[0])
    except kept.KeptError as exc:
        raise PublishError(str(exc)) from None
