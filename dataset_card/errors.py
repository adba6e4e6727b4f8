"""The build's errors: what every step of building refuses or fails on, nothing written."""

from __future__ import annotations

from ecocompute.cli import EcoError, OptionError


class BuildError(EcoError):
    """Submissions that do not validate, or tables that break a rule: nothing is written."""


class BuildOptionError(BuildError, OptionError):
    """An option's folder or file that is missing or of the wrong kind: a usage error (exit 2), found before
    any work (an --out refused is outdir's)."""
