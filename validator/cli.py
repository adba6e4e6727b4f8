"""`eco-validate`: the thin command-line layer over the validation run."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

import click

from ecocompute.cli import Command, EcoError, OptionError, printable, traceback_option

from . import reporters
from .history import GitError
from .paths import SUBMISSIONS, root_of_folder
from .run import UsageError, exit_code, reference_folder, validate

_RENDER = {"text": reporters.render_text, "json": reporters.render_json, "github": reporters.render_github}


def _replaceable(given: str) -> Path:
    """--output creates a file or replaces a report eco-validate wrote, nothing else (naming the
    submission being validated by mistake replaced it with the report, and a link was written
    through), in a folder that exists and takes a new file: refused before the run, not after it. A
    report of ours is known by its whole content (reporters.is_json_report), read only when it starts
    as one and is no larger than one could be: a huge file there costs no memory, and a file that
    merely begins like a report (a note starting with one pasted) is not replaced."""
    output, shown = Path(given), printable(given)
    if given.endswith(("/", os.sep, "/.", "/..")) or given in (".", ".."):
        raise OptionError(f"--output {shown} names a folder; nothing written: name a file")
    if output.is_symlink() or (output.exists() and not output.is_file()):
        raise OptionError(f"--output {shown} is a link or not a regular file; nothing written")
    folder = output.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OptionError(
            f"--output {shown}: cannot write in {printable(str(folder))} (no such folder, or no permission); "
            "nothing written"
        )
    if output.exists() and not _own_report(output):
        raise OptionError(
            f"--output {shown} exists and is not a report eco-validate wrote; nothing written: name a new file"
        )
    if output.exists() and not os.access(output, os.W_OK):  # read-only, or immutable (chattr +i) even to root
        raise OptionError(
            f"--output {shown} is a report eco-validate wrote but is write-protected; nothing written: make it "
            "writable or name a new file"
        )
    return output


def _outside_checked(output: Path, given: str, folders: list[Path], accepted: Path) -> None:
    """Refuse an --output JSON file inside a folder this run checks, or any file inside the accepted submissions
    (the data's own folder: --accepted, and whatever it says the submissions/ of the repository that would hold
    the report, wherever the command runs): written there, the report was the next run's submission, rejected as
    one (submission.not_a_submission), and the dataset build's. A report.txt beside checked files is never read
    as one (discover takes *.json). A JSON report beside a file checked alone, outside any submissions/, is
    allowed: this run does not read it, and the user chose that folder (a later run over it would check it)."""
    where = output.parent.resolve()
    repository = root_of_folder(where) / SUBMISSIONS  # the folder itself outside a work tree: then never a parent
    for folder in [*(f for f in folders if output.name.endswith(".json")), accepted, repository]:
        if folder.is_dir() and (where == folder.resolve() or folder.resolve() in where.parents):
            raise OptionError(
                f"--output {printable(given)} lies inside {printable(str(folder))}, whose JSON files are submissions "
                "to check; nothing written: write the report elsewhere"
            )


def _own_report(output: Path) -> bool:
    try:
        with output.open("rb") as fh:
            if fh.read(len(reporters.JSON_REPORT_START)) != reporters.JSON_REPORT_START:
                return False
            if os.fstat(fh.fileno()).st_size > reporters.MAX_JSON_REPORT_BYTES:  # not read: no report is so large
                return False
            fh.seek(0)
            text = fh.read(reporters.MAX_JSON_REPORT_BYTES + 1)
    except OSError:
        return False
    return len(text) <= reporters.MAX_JSON_REPORT_BYTES and reporters.is_json_report(text)


def _write_report(output: Path, text: str) -> None:
    """Whole or not at all: a temporary file beside it (a short name, whatever the report's), with the
    mode a new file gets, renamed over it."""
    try:
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=".eco-validate-", suffix=".tmp")
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, output)
        finally:  # gone once renamed; on any failure, Ctrl-C included, no temporary file is left
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError as exc:  # named for the path given, not the temporary file's
        raise OSError(exc.errno, exc.strerror, str(output)) from exc


@click.command(cls=Command, name="eco-validate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(sorted(_RENDER)), default="text", show_default=True)
@click.option(
    "--base",
    metavar="GIT_REF",
    help="Also enforce append-only history against this ref and validate files added since.",
)
@click.option(
    "--accepted",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of accepted submissions checked for duplicates [default: the repository's submissions/].",
)
@click.option(
    "--reference",
    "reference_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of reference tables (GPUs, models, prompts, collectors) [default: the repository's "
    "ecocompute/reference/, else the installed ones].",
)
@click.option(
    "--author",
    metavar="LOGIN",
    help="The pull request's author (GitHub login; with --base): each added file must lie in "
    "submissions/<LOGIN>/. CI leaves it out for maintainers, who add files for others.",
)
@click.option(
    "--output",
    metavar="FILE",
    help="Also write the JSON report here (a new file, or one of its reports; never inside submissions/, "
    "--accepted, or as .json inside a folder PATHS names).",
)
@traceback_option
@click.pass_context
def main(
    ctx: click.Context,
    paths: tuple[Path, ...],
    fmt: str,
    base: str | None,
    accepted: Path | None,
    reference_dir: Path | None,
    author: str | None,
    output: str | None,
    traceback: bool,
) -> None:
    """Validate ecocompute submission files (PATHS: files or folders).

    Exit status: 0 all accepted, 1 findings of severity error (or no file found to check, or a file
    that could not be written), 2 usage error. Paths under the repository's submissions/ are policed
    relative to the repository root wherever the command starts.
    """
    if not paths and base is None:
        raise click.UsageError("give at least one PATH, or --base GIT_REF")
    if accepted is None:
        accepted = root_of_folder(Path.cwd()) / "submissions"  # may be missing: a check outside a checkout
    elif not accepted.is_dir():  # a mistyped folder checked no file against the accepted ones, silently
        raise OptionError(
            f"--accepted {printable(str(accepted))} is not a folder; nothing checked: give the folder of accepted "
            "submissions"
        )
    report_file = _replaceable(output) if output is not None else None  # refused before the run
    if report_file is not None:
        _outside_checked(report_file, output, list(paths), accepted)
    try:
        folder = reference_folder(reference_dir)
        report = validate(list(paths), base=base, accepted_root=accepted, reference_dir=folder, author=author)
    except (UsageError, GitError) as exc:
        if traceback:
            raise
        # the message may echo --base or --reference as given: one escaped line (ecocompute.cli prints it
        # printable), so a newline in either cannot start a line of its own (a forged "::error::" workflow
        # command in a GitHub log)
        raise OptionError(str(exc)) from exc
    click.echo(_RENDER[fmt](report), nl=False)
    if report_file is not None:
        _write_report(report_file, reporters.render_json(report))
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary_path:
        _append_summary(summary_path, reporters.render_step_summary(report))
    ctx.exit(exit_code(report))


def _append_summary(path: str, text: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY (a file the runner made; /dev/stdout when trying it by hand). Opened
    without waiting: a FIFO that no process reads held the finished run for ever. A failure names the
    variable, since the user never typed the path."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            os.set_blocking(fd, True)
            fh.write(text)
    except OSError as exc:
        why = "a FIFO that no process reads" if exc.errno == errno.ENXIO else exc.strerror or type(exc).__name__
        raise EcoError(
            f"cannot append the step summary to GITHUB_STEP_SUMMARY={printable(path, 200)} ({why}); "
            "the report above is complete: point the variable at a file you can write, or unset it"
        ) from None
