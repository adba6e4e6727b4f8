"""The collector's own exceptions: each becomes one actionable line at the CLI entry."""

from __future__ import annotations

from pathlib import Path

from ecocompute.cli import EcoError, OptionError, describe, printable


class CollectError(EcoError):
    """A known failure the user can act on."""


class CollectOptionError(CollectError, OptionError):
    """An option refused before anything is measured (a --quality that names no file, or one pretrained
    weights alone take): a usage error (exit 2)."""


def unwritable(what: str, folder: Path, exc: OSError) -> CollectError:
    """``exc``, met while creating ``what`` in ``folder`` (in the state folder: read-only, another user's,
    not a folder), as one line that says what to do."""
    return CollectError(
        f"cannot write {what} in {printable(str(folder))} ({describe(exc)}): eco-collect keeps its checkpoints "
        "and random weights in its state folder, .eco-collect beside --out-dir; make that folder writable for "
        "this user, or give an --out-dir inside a folder you can write in"
    )


class NvmlError(CollectError):
    """NVML failed or is missing (no driver, no GPU, unsupported query)."""


class NvmlIndexError(NvmlError, OptionError):
    """A --gpu index this machine lacks: a usage error (exit 2), refused before anything is measured."""


class NvmlNotSupported(NvmlError):
    """This GPU or driver does not support the query."""


class CheckpointError(CollectError):
    """A checkpoint cannot be used for --resume."""


class Refused(CollectError):
    """eco-validate refused the file built from the measurements: ``text``, kept for inspection at ``kept``
    (None where it could not be kept), ``first`` its first error."""

    def __init__(self, message: str, kept: Path | None, text: str, first: str) -> None:
        super().__init__(message)
        self.kept, self.text, self.first = kept, text, first


class OutputExistsError(CollectError):
    """The submission file exists already; nothing is overwritten."""


class TrialsTooShort(CollectError):
    """A trial after warm-up fell under the protocol's shortest (catalogue.TRIAL_DURATION_FRACTION of
    the minimum): the configuration cannot be written as measured, so it is skipped with the reason."""


class EngineUnavailable(CollectError):
    """This engine cannot run this model here: capture failed, its tokens differ, or no CUDA."""


class InterruptedAfterWrite(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (``interrupt``, as raised) arrived once the submission file was whole at
    ``path``: the run is complete and nothing is left to resume, though it ends as interrupted."""

    def __init__(self, path: Path, interrupt: KeyboardInterrupt) -> None:
        super().__init__(str(path))
        self.path = path
        self.interrupt = interrupt


class AlreadyWritten(CollectError):
    """--resume found that the run the checkpoint belongs to had written its submission file, whole
    (killed before the checkpoint was removed): nothing is left to resume. Not a failure."""

    def __init__(self, path: Path, checkpoint: Path) -> None:
        super().__init__(
            f"--resume: nothing to resume: the interrupted run had already written {printable(str(path))} (whole, "
            f"with every measurement of its checkpoint); removed the checkpoint {printable(str(checkpoint))}"
        )
        self.path = path


class InterruptedBeforeCheckpoint(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (``interrupt``, as raised) before a run that is not a --resume had made its
    checkpoint: nothing was measured and there is nothing to resume."""

    def __init__(self, interrupt: KeyboardInterrupt) -> None:
        super().__init__()
        self.interrupt = interrupt
