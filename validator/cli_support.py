"""What the project's click commands share: a known error becomes one line, --traceback shows more."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def fail(ctx: click.Context, exc: Exception) -> NoReturn:
    """Exit 1 with ``<program>: error: <message>``; re-raise when the root command got --traceback."""
    root = ctx.find_root()
    if (root.obj or {}).get("traceback"):
        raise exc
    click.echo(f"{root.command.name}: error: {exc}", err=True)
    sys.exit(1)
