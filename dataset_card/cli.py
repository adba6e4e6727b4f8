"""`eco-dataset`: build the Hub dataset locally, and publish a versioned release."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from validator.cli_support import fail

PATH = click.Path(path_type=Path)


@click.group(name="eco-dataset", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--traceback", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, traceback: bool) -> None:
    """Build and publish the ecocompute/llm-energy dataset."""
    ctx.obj = {"traceback": traceback}


_common = [
    click.option("--submissions", type=PATH, default=Path("submissions"), show_default=True),
    click.option("--legacy", "legacy_dir", type=PATH, default=Path("legacy"), show_default=True),
    click.option("--changelog", type=PATH, default=Path("CHANGELOG.md"), show_default=True),
]


def common(fn):  # type: ignore[no-untyped-def]
    for option in reversed(_common):
        fn = option(fn)
    return fn


@main.command()
@common
@click.option("--out", type=PATH, default=Path("build/llm-energy"), show_default=True)
@click.option("--version", default="0.0.0-dev", show_default=True, help="Version shown in the card.")
@click.option("--repo", "repo_id", default="ecocompute/llm-energy", show_default=True)
@click.pass_context
def build(
    ctx: click.Context, submissions: Path, legacy_dir: Path, changelog: Path, out: Path, version: str, repo_id: str
) -> None:
    """Validate submissions/ and write Parquet configs plus the dataset card to OUT."""
    from .build import BuildError
    from .build import build as run_build

    try:
        result = run_build(submissions, legacy_dir, out, version=version, repo_id=repo_id, changelog=changelog)
    except BuildError as exc:
        fail(ctx, exc)
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    click.echo(f"built {result.out_dir} ({counts}); load it with datasets.load_dataset('{result.out_dir}')")


@main.command()
@common
@click.option("--repo", "repo_id", required=True, help="Hub dataset repository, e.g. ecocompute/llm-energy.")
@click.option("--version", required=True, help="X.Y.Z, or next-minor (new rows) / next-major (schema change).")
@click.pass_context
def publish(
    ctx: click.Context, submissions: Path, legacy_dir: Path, changelog: Path, repo_id: str, version: str
) -> None:
    """Build, then publish as one commit tagged vVERSION (token from HF_TOKEN or the login cache)."""
    from huggingface_hub import HfApi

    from .build import BuildError
    from .build import build as run_build
    from .publish import PublishError, resolve_version
    from .publish import publish as run_publish

    api = HfApi(token=os.environ.get("HF_TOKEN"))
    try:
        version = resolve_version(api, repo_id, version)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "llm-energy"
            run_build(submissions, legacy_dir, out, version=version, repo_id=repo_id, changelog=changelog)
            result = run_publish(api, repo_id, out, version)
    except (BuildError, PublishError) as exc:
        fail(ctx, exc)
    click.echo(f"published {repo_id}@{result.tag} (commit {result.commit})")
