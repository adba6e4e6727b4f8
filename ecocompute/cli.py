"""One way to fail for every command: a known error is one line on stderr and exit 1, a usage error
exit 2 (click's usage message for what click itself parses, one line for ``OptionError``), and
``--traceback`` on the root command shows the whole story.

A usage error is an option's (or argument's) value refused on its own account, before any work:
malformed, unknown or ambiguous, a path that is missing or of the wrong kind, or an output place the
tool will not write. click's own checks raise it at parse time; a check that runs in the command raises
``OptionError``, which ends with exit 2 too, in one line. Exit 1 is for what fails while the work runs: the data (a
submission, a build's files, the Hub's answer), the network, the disk.

Known errors are the project's own (``EcoError``), OSError on a user's path, and Hub/HTTP errors; a
ValueError while a huggingface_hub environment variable is malformed names that variable (hubenv).
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import click


class EcoError(Exception):
    """A failure the user can act on; its message says what, where and how to fix it."""


class OptionError(EcoError):
    """A value given on the command line refused on its own account, before any work (see the module's
    docstring): a usage error, exit 2. Its message says which value, and why."""


# Exception classes of libraries that talk to the network, by module, with what to say first: checked
# only when that module is already imported (an exception of it cannot exist otherwise), so failing
# costs no import. huggingface_hub 1.x talks through httpx, 2.x through httpx2.
_NETWORK_ERRORS = (
    ("huggingface_hub.errors", "HfHubHTTPError", "the Hugging Face Hub answered with an error"),
    ("httpx", "HTTPError", "cannot reach the Hugging Face Hub (check the network, HF_ENDPOINT and HF_TOKEN)"),
    ("httpx2", "HTTPError", "cannot reach the Hugging Face Hub (check the network, HF_ENDPOINT and HF_TOKEN)"),
)


def _network_context(exc: BaseException) -> str | None:
    for module_name, class_name, context in _NETWORK_ERRORS:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module else None
        if isinstance(cls, type) and isinstance(exc, cls):
            return context
    return None


def is_known(exc: BaseException) -> bool:
    return isinstance(exc, (EcoError, OSError)) or _network_context(exc) is not None


_BREAKS = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Unicode categories no text shown to a user or written into the data may hold as they are: controls
# (C0 and C1, whose CSI U+009B recolours a terminal as ESC [ does), format (bidi overrides and marks,
# zero-width), surrogates, private use, unassigned, line and paragraph separators. printable() escapes
# them, eco-validate refuses them in a submission, and the card refuses them in a changelog.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def first_few(items: Sequence[str], n: int = 5, show: Callable[[str], str] = str) -> str:
    """The first ``n`` of ``items``, each as ``show`` renders it (escaped as its place needs: only the
    shown ones are rendered), comma-separated, then how many more there are: a message names a few of
    many, never thousands."""
    return ", ".join(map(show, items[:n])) + (f" and {len(items) - n} more" if len(items) > n else "")


def printable(text: str, limit: int = 2000) -> str:
    """``text`` safe for a terminal or a log: control, format (bidi) and surrogate characters escaped,
    one line, at most ``limit`` characters. A line break or tab is escaped too (``\\n``), not blanked:
    a file named ``a\\nb.json`` must not read as ``a b.json``, a name the user cannot find. Messages
    of several lines are joined by ``describe`` before they get here."""
    out = []
    # Each character gives one or more: the first limit + 1 decide what is shown (a message quoting a
    # 50-MB string of a hand-edited checkpoint took 6 s here, a character at a time).
    for ch in text[: limit + 1]:
        if ch in _BREAKS:
            out.append(_BREAKS[ch])
        elif unicodedata.category(ch) in UNSAFE_CATEGORIES:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
        else:
            out.append(ch)
    # GitHub's runner takes its old command form "##[name]..." anywhere in a line of a step's log, not
    # only at the start: "##[stop-commands]" in a file name would silence the annotations after it.
    shown = "".join(out).replace("##[", "#\\x23[")
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def figure_text(text: str, limit: int = 2000) -> str:
    """``text`` from the data for a matplotlib figure: printable, and every '$' escaped so that it is
    drawn as written, never as mathtext (a formula that does not parse aborts the drawing)."""
    return printable(text, limit).replace("$", r"\$")


def warn(line: str) -> None:
    """A warning after work that succeeded: one line on stderr, ``<tool>: warning: ...``, beside the
    error lines ``_handle`` writes; the exit status stays 0."""
    ctx = click.get_current_context(silent=True)
    name = (ctx.find_root().info_name if ctx is not None else None) or os.path.basename(sys.argv[0]) or "ecocompute"
    click.echo(f"{name}: warning: {printable(line)}", err=True)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-blank line of ``exc``'s message, printable, at most ``limit`` characters; ''
    when it has none. For a message recorded or shown beside other text (a skip reason in a
    submission, a fallback's note): torch and CUDA errors run on for pages after their first line."""
    line = next((text.strip() for text in str(exc).splitlines() if text.strip()), "")
    return printable(line, limit)


def describe(exc: BaseException) -> str:
    """One line saying what went wrong."""
    if isinstance(exc, OSError) and not isinstance(exc, EcoError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename is not None else ""
        return printable(f"{exc.strerror}{where}")
    lines = str(exc).strip().splitlines()
    text = " ".join(line.strip() for line in lines if line.strip()) or type(exc).__name__
    context = _network_context(exc)
    return printable(f"{context}: {text}" if context else text)


def _handle(ctx: click.Context, exc: Exception) -> None:
    from . import hubenv

    root = ctx.find_root()
    # a ValueError from inside huggingface_hub while one of its variables is malformed: that variable
    line = describe(exc) if is_known(exc) else hubenv.blame(exc)
    if root.params.get("traceback") or line is None:
        raise exc
    click.echo(f"{root.info_name or root.command.name}: error: {printable(line)}", err=True)
    # a refused value is a usage error (exit 2), but one line as any known error: the user typed a
    # sound command line, and click's usage banner would only bury the one line that says what to change
    ctx.exit(2 if isinstance(exc, OptionError) else 1)


def tolerant_output() -> None:
    """Let stdout write what its encoding lacks as escapes (``\\u0662``), as stderr does: under a locale
    or PYTHONIOENCODING that is not UTF-8 (latin-1; cp1252 for output redirected on Windows), a
    contributor's file name or value outside it ended a finished run in a UnicodeEncodeError traceback,
    its verdict never printed."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            with contextlib.suppress(ValueError, OSError):  # closed, or not reconfigurable
                stream.reconfigure(errors="backslashreplace")


class _OneLineFailure:
    """Mixin: known errors raised while the command (or a subcommand) runs end as one line, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        tolerant_output()
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - _handle re-raises what it does not know
            _handle(ctx, exc)


class Command(_OneLineFailure, click.Command):
    pass


class Group(_OneLineFailure, click.Group):
    command_class = Command


traceback_option = click.option(
    "--traceback", is_flag=True, help="Show the full traceback of an error instead of one line."
)


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that refuses nan and +-inf: a range check passes nan (every comparison with it
    is false) and an open end passes inf, and either fails only later, in arithmetic or in the file."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(
                f"{printable(str(value), 40)} is not a finite number; give one in the range {self._describe_range()}",
                param,
                ctx,
            )
        return number
