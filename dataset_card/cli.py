"""`eco-dataset`: build the Hub dataset locally, and publish a versioned release."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ecocompute.cli import Group, traceback_option

PATH = click.Path(path_type=Path)

_COMMON = [
    click.option("--submissions", type=PATH, default=Path("submissions"), show_default=True),
    click.option("--legacy", "legacy_dir", type=PATH, default=Path("legacy"), show_default=True),
    click.option("--changelog", type=PATH, default=Path("CHANGELOG.md"), show_default=True),
]


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_COMMON):
        fn = option(fn)
    return fn


@click.group(cls=Group, name="eco-dataset", context_settings={"help_option_names": ["-h", "--help"]})
@traceback_option
def main(traceback: bool) -> None:
    """Build and publish the ecocompute/llm-energy dataset."""


@main.command()
@common
@click.option("--out", type=PATH, default=Path("build/llm-energy"), show_default=True)
@click.option("--version", default="0.0.0-dev", show_default=True, help="Version shown in the card.")
@click.option("--repo", "repo_id", default="ecocompute/llm-energy", show_default=True)
def build(submissions: Path, legacy_dir: Path, changelog: Path, out: Path, version: str, repo_id: str) -> None:
    """Validate submissions/ and write Parquet configs plus the dataset card to OUT."""
    from .build import build as run_build

    result = run_build(submissions, legacy_dir, out, version=version, repo_id=repo_id, changelog=changelog)
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    click.echo(f"built {result.out_dir} ({counts}); load it with datasets.load_dataset('{result.out_dir}')")


@main.command()
@common
@click.option("--repo", "repo_id", required=True, help="Hub dataset repository, e.g. ecocompute/llm-energy.")
@click.option("--version", required=True, help="X.Y.Z, or next-minor (new rows) / next-major (schema change).")
def publish(submissions: Path, legacy_dir: Path, changelog: Path, repo_id: str, version: str) -> None:
    """Build, then publish as one commit tagged vVERSION (token from HF_TOKEN or the login cache)."""
    from huggingface_hub import HfApi

    from .build import build as run_build
    from .publish import publish as run_publish
    from .publish import resolve_version

    api = HfApi(token=os.environ.get("HF_TOKEN"))
    version = resolve_version(api, repo_id, version)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "llm-energy"
        run_build(submissions, legacy_dir, out, version=version, repo_id=repo_id, changelog=changelog)
        result = run_publish(api, repo_id, out, version)
    click.echo(f"published {repo_id}@{result.tag} (commit {result.commit})")
