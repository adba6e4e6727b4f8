"""Replace a folder of generated output all at once: a failed write leaves the old one untouched."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(out_dir: Path) -> Iterator[Path]:
    """A fresh folder beside ``out_dir`` to fill; when the block ends normally it takes ``out_dir``'s
    place (an existing ``out_dir`` is deleted: check first that the caller wrote it), otherwise it is
    removed and ``out_dir`` stays as it was."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        yield staging
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
