"""`eco-advise`: which precision, engine and batch size spend the least energy for a model on a GPU,
from the dataset's measured rows, with the rows quoted; and the report of figures behind it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ecocompute import catalogue
from ecocompute.cli import FiniteFloatRange, Group, traceback_option, warn

from .advise import DEFAULT_MAX_PARAMS_RATIO, AdviceError, gpu_query, parse_params

RECOMMEND = "recommend"
_DATASET = click.option(
    "--dataset",
    required=True,
    help="A folder built by eco-dataset build, or a Hub repository as owner/name@revision.",
)
_GATE_FAILED = click.option(
    "--include-gate-failed",
    is_flag=True,
    help="Let rows whose trials failed the quality gates feed the estimates too (they are labelled).",
)


class _DefaultRecommend(Group):
    """`eco-advise --dataset ... --gpu ...` means `eco-advise recommend ...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = [a for a in args if a != "--traceback"]
        if rest and rest[0] not in self.commands and rest[0] not in ("-h", "--help"):
            at = args.index(rest[0])
            args = [*args[:at], RECOMMEND, *args[at:]]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultRecommend, name="eco-advise", context_settings={"help_option_names": ["-h", "--help"]})
@traceback_option
def main(traceback: bool) -> None:
    """Answer "which precision, engine and batch size spend the least energy for a model of N
    parameters on this GPU, and what does it cost?" from measured rows, quoting them.

    Without a subcommand, the options are those of `recommend`."""


def _params(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_params(value)
    except AdviceError as exc:
        raise click.BadParameter(str(exc)) from exc


def _gpu(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--gpu judged before the dataset loads (a Hub download can take minutes), for what no dataset can
    resolve: an empty name. A name matching nothing in the GPU table is no such thing: the legacy config
    holds boards the table lacks (NVIDIA A800 80GB), and a release built with a later table holds boards
    added since (eco-validate judges a board by the table of its own checkout). The rest is judged as soon
    as the dataset's GPU names are read, before its trials and the analysis (``recommend``)."""
    gpu_query(value)
    return value


@main.command(RECOMMEND)
@_DATASET
@click.option(
    "--gpu",
    required=True,
    callback=_gpu,
    help="GPU model as NVML names it, or an unambiguous part: 'H100', 'RTX 4090' (a name the dataset and the GPU "
    "table do not know, or one matching several GPUs, is a usage error).",
)
@click.option("--params", "params", required=True, callback=_params, help="Parameter count: 7e9, 7B, 494M.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Only this batch size (default: any measured).")
@click.option("--engine", type=click.Choice(list(catalogue.ENGINES)), help="Only this engine (default: any).")
@click.option(
    "--max-params-ratio",
    type=FiniteFloatRange(min=1.0, min_open=True, max=100.0),
    default=DEFAULT_MAX_PARAMS_RATIO,
    show_default=True,
    help="A measured model is a close match when its size is within this factor of --params.",
)
@_GATE_FAILED
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def recommend(dataset: str, fmt: str, include_gate_failed: bool, gpu: str, **query: Any) -> None:
    """Recommend precision, engine and batch size, quoting the measured rows behind it.

    A close match is a row on the same GPU model, with --engine and --batch-size when given, of a
    model within --max-params-ratio of --params; without one there is no recommendation, and nothing
    is extrapolated."""
    from . import advise, analysis, data, render

    def gpus(source: str, names: set[str]) -> None:  # judged once the dataset's GPU names are read (exit 2)
        advise.check_gpu(gpu, names, source)

    found = analysis.analyse(data.load(dataset, gpus=gpus), include_gate_failed=include_gate_failed)
    advice = advise.recommend(found, advise.Query(gpu, **query))
    click.echo(render.json_text(advice) if fmt == "json" else render.render_text(advice), nl=fmt == "json")


@main.command()
@_DATASET
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for REPORT.md and figures/: new, empty or an earlier report (replaced); any other folder is "
    "refused, and so is an earlier report holding a file added or edited since it was written.",
)
@_GATE_FAILED
def report(dataset: str, out: Path, include_gate_failed: bool) -> None:
    """Write figures and a Markdown summary of ratios, crossovers and batch sizes to OUT."""
    from .report import write_report

    result = write_report(dataset, out, include_gate_failed=include_gate_failed)
    for line in result.warnings:
        warn(line)
    click.echo(result.line)
