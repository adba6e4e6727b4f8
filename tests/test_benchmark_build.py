"""benchmarks/build_dataset.py reuses synthetic files only when they are this generator's, of these
sizes; other files stop it with one line and stay where they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import script_module

bench = script_module("benchmarks/build_dataset.py")


def test_files_are_reused_only_under_the_same_stamp(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    assert bench.reusable(subs, bench.stamp(2, 1, 7)) is False
    bench.generate(subs, 2, 1, 7)
    assert len(list((subs / "synthetic-bot").glob("*.json"))) == 2
    assert bench.reusable(subs, bench.stamp(2, 1, 7)) is True


@pytest.mark.parametrize("stamped", [True, False])
def test_other_files_stop_the_run_and_are_kept(tmp_path: Path, stamped: bool) -> None:
    subs = tmp_path / "subs"
    bench.generate(subs, 1, 1, 7)
    if not stamped:  # files of a generator from before the stamp
        (subs / bench.STAMP).unlink()
    with pytest.raises(SystemExit) as stop:
        bench.reusable(subs, bench.stamp(1, 1, 9))
    message = str(stop.value.code)
    assert message.startswith("error: ") and "\n" not in message and "remove it" in message
    assert ("no stamp" in message) is not stamped
    assert len(list((subs / "synthetic-bot").glob("*.json"))) == 1
