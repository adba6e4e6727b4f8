"""`eco-collect`: thin click layer over doctor and a run."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from ecocompute import catalogue
from ecocompute.catalogue import ENGINE_CHOICES, STATE_DIR, parse_list, parse_precisions
from ecocompute.cli import FiniteFloatRange, Group, printable, traceback_option
from ecocompute.gates import DEFAULT_GATES

from .errors import AlreadyWritten, CollectOptionError, InterruptedAfterWrite, InterruptedBeforeCheckpoint
from .request import (
    OUTPUT_TOKENS_MAX,
    TrialPlan,
    check_batch_sizes,
    check_engines,
    check_gpus,
    check_handle,
    check_model,
    check_revision,
    protocol_maximum,
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so that it ends a run the same way."""


def _corpus_named(value: str | None) -> str | None:
    """--quality '' (an unset shell variable) names no corpus: refused, not read as no --quality."""
    if value is not None and not value.strip():
        raise click.BadParameter(
            f"{printable(repr(value))} names no corpus; give 'wikitext' or a text file, or leave --quality out"
        )
    return value


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within, SIGTERM (a Slurm time limit, Kubernetes or spot preemption, ``timeout``) ends the run as
    Ctrl-C does: the session closes, a file being written is removed, the resume hint is printed.
    Python's default let it kill the process on the spot. A second SIGTERM does that again."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:  # ignored by whoever started us (as Python leaves an ignored SIGINT): kept
        yield
        return
    restore = previous if previous is not None else signal.SIG_DFL  # None: set outside Python

    def terminated(_signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGTERM, restore)
        raise Terminated

    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, restore)


def _usage(parse: Callable[[str], Any]) -> Callable[[click.Context, click.Parameter, str], Any]:
    """A click callback: ``parse``'s ValueError becomes click's usage error (exit 2, one line naming
    the option), raised while the arguments are parsed, before anything is measured."""

    def callback(_ctx: click.Context, _param: click.Parameter, value: str) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(printable(str(exc))) from None

    return callback


def _ints(value: str, what: str, lowest: int) -> list[int]:
    items = parse_list(value, what)
    try:
        out = [int(v) for v in items]
    except ValueError:
        raise ValueError(f"{value[:40]!r}: expected comma-separated integers such as 1,8") from None
    if min(out) < lowest:
        raise ValueError(f"{value[:40]!r}: expected integers >= {lowest}")
    return out


def _gpus(value: str) -> list[int]:
    return list(check_gpus(_ints(value, "GPU index", 0)))  # GPU indexes start at 0


def _batch_sizes(value: str) -> list[int]:
    return list(check_batch_sizes(list(dict.fromkeys(_ints(value, "batch size", 1)))))  # repeats dropped


def _engines(value: str) -> list[str]:
    return list(check_engines(list(dict.fromkeys(parse_list(value, "engine", ENGINE_CHOICES)))))


@click.group(cls=Group, name="eco-collect", context_settings={"help_option_names": ["-h", "--help"]})
@traceback_option
def main(traceback: bool) -> None:
    """Measure the energy of LLM inference on this machine's NVIDIA GPU."""


@main.command()
@click.option("--gpu", "gpus", default="0", callback=_usage(_gpus), help="GPU index(es), comma-separated.")
@click.option(
    "--stability-windows",
    default=8,
    show_default=True,
    type=click.IntRange(0, 120),
    help="One-second windows of the host-stability check (0: skip it).",
)
@click.pass_context
def doctor(ctx: click.Context, gpus: list[int], stability_windows: int) -> None:
    """Preflight: GPU, NVML energy counter, bitsandbytes kernels, versions, other GPU processes, host stability."""
    from rich.console import Console

    from .doctor import run_checks
    from .render import doctor_table

    checks = run_checks(gpus, stability_windows=stability_windows)
    Console().print(doctor_table(checks))
    ctx.exit(1 if any(c.status == "fail" for c in checks) else 0)


@main.command()
@click.option(
    "--model",
    "model_id",
    required=True,
    callback=_usage(check_model),
    help="Hub model id, e.g. Qwen/Qwen2.5-3B-Instruct; it must be in ecocompute/reference/models.json.",
)
@click.option(
    "--precision",
    "precision_list",
    default="fp16,int8,int8-pure,nf4",
    show_default=True,
    callback=_usage(parse_precisions),
    help=f"Precision(s), comma-separated, of {', '.join(catalogue.PRECISIONS)}: int8 is LLM.int8() (outlier "
    "threshold 6), int8-pure the int8 matmul without outliers (threshold 0), nf4-dq nf4 with double quantization "
    "(bitsandbytes). Include fp16: every other precision is compared with the fp16 row of the same engine and batch.",
)
@click.option(
    "--engine",
    "engine_list",
    default="auto",
    show_default=True,
    callback=_usage(_engines),
    help="Decoding engine(s), comma-separated: generate (transformers generate(), dynamic cache), "
    "generate-static (static cache, compiled), cuda-graph (own greedy loop replayed from a CUDA graph). "
    "auto: cuda-graph for every precision that can be captured, else generate, with fp16 measured on "
    "generate too as its reference.",
)
@click.option(
    "--batch-size",
    "batch_sizes",
    default="1,8",
    show_default=True,
    callback=_usage(_batch_sizes),
    help="Batch size(s), comma-separated: sequences decoded together per request (the prompt repeated).",
)
@click.option(
    "--weights",
    type=click.Choice(["pretrained", "random"]),
    default="pretrained",
    show_default=True,
    help="random: build from the architecture config without downloading weights.",
)
@click.option(
    "--revision",
    callback=_usage(lambda value: check_revision(value, "pretrained")),  # '' refused; random weights: in the body
    help="Branch, tag or commit of the weights (resolved to its commit SHA).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, path_type=Path),
    help="Local config.json/folder for --weights random.",
)
@click.option(
    "--schedule",
    type=click.Choice(["auto", "interleaved", "sequential"]),
    default="auto",
    show_default=True,
    help="interleaved: all precisions loaded at once, one trial of each configuration in turn, so host "
    "drift hits all alike; auto does that when they fit in GPU memory. Interleaved configurations finish "
    "(and are checkpointed) together near the end; sequential ones one by one.",
)
@click.option(
    "--output-tokens",
    default=128,
    show_default=True,
    type=click.IntRange(1, OUTPUT_TOKENS_MAX),
    help="New tokens forced per sequence (greedy, min_new_tokens == max_new_tokens).",
)
@click.option(
    "--trial-min-s",
    default=TrialPlan.trial_min_s,
    show_default=True,
    type=FiniteFloatRange(catalogue.TRIAL_MIN_DURATION_FLOOR_S, protocol_maximum("trial_min_duration_s")),
    help=f"Minimum trial window (eco-validate refuses a protocol below {catalogue.TRIAL_MIN_DURATION_FLOOR_S:g} s).",
)
@click.option(
    "--max-trials",
    default=DEFAULT_GATES.max_trials,
    show_default=True,
    type=click.IntRange(5, protocol_maximum("gates", "max_trials")),
    help="Trial budget per configuration.",
)
@click.option(
    "--max-config-s",
    default=TrialPlan.max_config_s,
    show_default=True,
    type=FiniteFloatRange(1),
    help="Time budget per configuration.",
)
@click.option(
    "--gpu",
    "gpus",
    default="0",
    show_default=True,
    callback=_usage(_gpus),
    help="GPU index(es) whose energy is measured, comma-separated: several (0,1) shard the model over exactly "
    "those boards.",
)
@click.option(
    "--handle",
    default=lambda: os.environ.get("ECO_HANDLE", "anonymous"),
    show_default="$ECO_HANDLE or anonymous",
    callback=_usage(check_handle),
    help="Your GitHub login: the file goes to OUT_DIR/<handle>/, and CI refuses a file a pull request adds to "
    "another login's folder (file.handle_author), 'anonymous' included.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("submissions"),
    show_default=True,
    help="The folder that holds the handles' folders: the file goes to OUT_DIR/<handle>/<submission_id>.json.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its checkpoint.")
@click.option(
    "--quality",
    metavar="wikitext|PATH",
    callback=lambda _ctx, _param, value: _corpus_named(value),
    help="Also measure perplexity (WikiText-2 test, or a local text file), outside the energy windows.",
)
@click.option(
    "--pin-cpu/--no-pin-cpu",
    default=False,
    show_default=True,
    help="Pin the measuring process and the sampler to dedicated CPUs (recorded in the notes).",
)
@click.pass_context
def run(
    ctx: click.Context,
    model_id: str,
    precision_list: list[str],
    engine_list: list[str],
    batch_sizes: list[int],
    weights: str,
    revision: str | None,
    config_path: Path | None,
    schedule: str,
    output_tokens: int,
    trial_min_s: float,
    max_trials: int,
    max_config_s: float,
    gpus: list[int],
    handle: str,
    out_dir: Path,
    resume: bool,
    quality: str | None,
    pin_cpu: bool,
) -> None:
    """Measure MODEL at each precision x engine x batch size and write one validated submission."""
    from rich.console import Console

    from ecocompute.gates import Gates

    from .collect import collect
    from .render import RichEvents, summary_table
    from .request import RunRequest

    if config_path is not None and weights != "random":
        raise CollectOptionError(
            "--config builds the architecture for --weights random; pretrained weights come with their own config"
        )
    try:
        check_revision(revision, weights)
    except ValueError as exc:
        raise CollectOptionError(str(exc)) from None
    gates = Gates(**{**DEFAULT_GATES.as_dict(), "max_trials": max_trials})
    request = RunRequest(
        model_id=model_id,
        precisions=tuple(precision_list),
        batch_sizes=tuple(batch_sizes),
        engines=tuple(engine_list),
        handle=handle,
        weights=weights,
        revision=revision,
        config_path=config_path,
        output_tokens=output_tokens,
        gpus=tuple(gpus),
        plan=TrialPlan(trial_min_s=trial_min_s, max_config_s=max_config_s, gates=gates),
        out_dir=out_dir,
        state_dir=out_dir.parent / STATE_DIR,
        resume=resume,
        pin_cpu=pin_cpu,
        schedule=schedule,
        quality=quality,
    )
    console = Console(stderr=True)
    path: Path | None = None
    try:
        with _sigterm_as_interrupt():
            with RichEvents(console, len(precision_list) * len(engine_list) * len(batch_sizes)) as events:
                path, doc = collect(request, events)
            Console().print(summary_table(doc))
            click.echo(f"wrote {path} (validated by eco-validate)")
    except AlreadyWritten as exc:  # the run had finished: saying so is the whole answer, not an error
        click.echo(f"eco-collect: {exc}", err=True)
    except KeyboardInterrupt as exc:
        measured = not isinstance(exc, InterruptedBeforeCheckpoint)
        if isinstance(exc, InterruptedAfterWrite):
            path, exc = exc.path, exc.interrupt
        if isinstance(exc, InterruptedBeforeCheckpoint):
            exc = exc.interrupt
        terminated = isinstance(exc, Terminated)
        how = "terminated (SIGTERM)" if terminated else "interrupted"
        if not measured:  # a new run's checkpoint did not exist yet: --resume would find none
            click.echo(
                f"eco-collect: {how} before anything was measured; nothing to resume: rerun the same command", err=True
            )
        elif path is not None:  # the run is complete: its checkpoint is gone, a --resume would find none
            click.echo(
                f"eco-collect: {how} after the submission was written: {path} is complete, nothing to resume", err=True
            )
        else:
            click.echo(
                f"eco-collect: {how}; finished configurations are kept: rerun the same command with --resume", err=True
            )
        ctx.exit(128 + signal.SIGTERM if terminated else 130)
