"""`eco-dataset`: build the Hub dataset locally, write its report, and publish a versioned release."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ecocompute import hubenv
from ecocompute.cli import Group, printable, traceback_option, warn

from .outdir import LOCAL_BUILD

PATH = click.Path(path_type=Path)

_COMMON = [
    click.option("--submissions", type=PATH, default=Path("submissions"), show_default=True),
    click.option("--legacy", "legacy_dir", type=PATH, default=Path("legacy"), show_default=True),
    click.option(
        "--changelog",
        type=PATH,
        default=Path("DATA_CHANGELOG.md"),
        show_default=True,
        help="The data's changelog, shown in the card: a UTF-8 file of at most 1 MiB (the default may be missing).",
    ),
]


def _run_build(submissions: Path, legacy_dir: Path, changelog: Path, out: Path, **kwargs: Any) -> Any:
    """``build.build`` with the common options; --changelog must exist when given, not when left at its
    default (a build outside a checkout)."""
    from .build import build

    given = click.get_current_context().get_parameter_source("changelog") is not ParameterSource.DEFAULT
    return build(submissions, legacy_dir, out, changelog=changelog, changelog_required=given, **kwargs)


def _repo(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A usage error (exit 2) at parse time, before any build, for a --repo the Hub would refuse. First
    (build and publish parse --repo before anything else) a malformed huggingface_hub variable is one
    line: importing the build imports datasets and with it huggingface_hub, which fails on it. The token is
    publish's to check: a build sends none."""
    hubenv.check(token=False)
    from .build import BuildError, check_repo_id

    if value is None:
        return None
    try:
        return check_repo_id(value)
    except BuildError as exc:
        raise click.BadParameter(printable(str(exc).removeprefix(f"--repo {printable(value, limit=120)} "))) from None


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_COMMON):
        fn = option(fn)
    return fn


@click.group(cls=Group, name="eco-dataset", context_settings={"help_option_names": ["-h", "--help"]})
@traceback_option
def main(traceback: bool) -> None:
    """Build, report on and publish the ecocompute/llm-energy dataset."""


@main.command()
@common
@click.option(
    "--out",
    type=PATH,
    default=Path(LOCAL_BUILD),
    show_default=True,
    help="New or empty folder, or an earlier build (replaced); any other folder is refused, and so is an earlier "
    "build holding a file added or edited since it was built.",
)
@click.option(
    "--version",
    default=None,
    help="Semantic version shown in the card: X.Y.Z for a release, X.Y.Z-rc.1 for a pre-release. "
    "Default: 0.0.0-dev+<digest of the submitted files>, a local build.",
)
@click.option("--repo", "repo_id", default="ecocompute/llm-energy", show_default=True, callback=_repo)
def build(submissions: Path, legacy_dir: Path, changelog: Path, out: Path, version: str | None, repo_id: str) -> None:
    """Validate submissions/ and write Parquet configs plus the dataset card to OUT."""
    result = _run_build(submissions, legacy_dir, changelog, out, version=version, repo_id=repo_id)
    for line in result.warnings:
        warn(line)
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    empty = (
        "; it holds no measurements (is --submissions the repository's submissions/ folder?)"
        if result.counts["measurements"] == 0
        else ""
    )
    click.echo(
        printable(
            f"built {result.out_dir} version {result.version} ({counts}); "
            f"load it with datasets.load_dataset({str(result.out_dir)!r}){empty}"  # Python, whatever the path holds
        )
    )


@main.command()
@click.option(
    "--dataset",
    default=LOCAL_BUILD,
    show_default=True,
    help="The folder eco-dataset build wrote, or a release on the Hub as owner/name@vX.Y.Z.",
)
@click.option(
    "--out",
    type=PATH,
    default=Path("build/report"),
    show_default=True,
    help="New or empty folder, or an earlier report (replaced); any other folder is refused, and so is an earlier "
    "report holding a file added or edited since it was written.",
)
@click.option(
    "--include-gate-failed",
    is_flag=True,
    help="Let rows whose trials failed the quality gates feed the estimates too (they are labelled).",
)
def report(dataset: str, out: Path, include_gate_failed: bool) -> None:
    """Write the report the dataset card embeds to OUT: REPORT.md and figures/ (energy per token over
    fp16 against parameters with the crossovers, energy per sequence against batch size, throughput
    against power; legacy rows beside, labelled). It is eco-advise's report."""
    from advisor.report import write_report

    result = write_report(dataset, out, include_gate_failed=include_gate_failed)
    for line in result.warnings:
        warn(line)
    click.echo(result.line)


@main.command()
@common
@click.option(
    "--repo", "repo_id", required=True, callback=_repo, help="Hub dataset repository, e.g. ecocompute/llm-energy."
)
@click.option("--version", required=True, help="X.Y.Z, or next-minor (new rows) / next-major (schema change).")
@click.option("--dry-run", is_flag=True, help="Build and show the commit (files, parent, tag); write nothing.")
@click.option(
    "--allow-fewer-rows",
    is_flag=True,
    help="Publish even if a submitted config holds fewer rows than the latest release's, or the build lacks one "
    "of its submissions or holds another file for one (never an empty build).",
)
def publish(
    submissions: Path,
    legacy_dir: Path,
    changelog: Path,
    repo_id: str,
    version: str,
    dry_run: bool,
    allow_fewer_rows: bool,
) -> None:
    """Build, then publish as one commit tagged vVERSION (token from HF_TOKEN or the login cache);
    the dataset repository is created when it does not exist."""
    hubenv.check()  # the token too: publish sends it (a character no header carries ended it in a traceback)
    from huggingface_hub import HfApi

    from . import publish as hub

    api = HfApi()  # huggingface_hub reads HF_TOKEN as it documents (trimmed; empty: the login cache)
    version = hub.resolve_version(api, repo_id, version)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "llm-energy"
        _run_build(submissions, legacy_dir, changelog, out, version=version, repo_id=repo_id)
        if dry_run:
            for line in hub.dry_run(api, repo_id, out, version, allow_fewer_rows=allow_fewer_rows).lines():
                click.echo(printable(line))
            return
        result = hub.publish(api, repo_id, out, version, allow_fewer_rows=allow_fewer_rows)
    if result.committed:
        click.echo(f"published {repo_id}@{result.tag} (commit {result.commit})")
    else:
        click.echo(
            f"published {repo_id}@{result.tag} by tagging commit {result.commit}, main's head, which already "
            "held exactly this build (no new commit)"
        )
