"""tests/fixtures/generate.py: the fixtures on disk are what it generates, and a generator that fails
leaves them as they were (it used to delete them all before building any)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

GENERATOR = Path(__file__).parent / "fixtures" / "generate.py"


@pytest.fixture(autouse=True)
def _own_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the generator puts its folders first: undone after


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fixture_generator", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fixtures_on_disk_are_what_the_generator_writes() -> None:
    generator = _generator()
    files = generator.generated()
    assert len(files) > 150
    stale = [path.name for path, data in files.items() if path.read_bytes() != data]
    assert stale == [], "run python tests/fixtures/generate.py"
    # and nothing it no longer writes stays behind: the real files copied in and the symlink case aside
    on_disk = {p for folder in (generator.VALID, generator.INVALID) for p in folder.glob("*.json")}
    kept = {p for p in on_disk if p.name.startswith("h100-") or p.is_symlink()}
    assert sorted(p.name for p in on_disk - kept - set(files)) == []


def test_a_generator_that_fails_deletes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _generator()
    (name, _), *_ = generator.MUTATIONS.items()

    def broken(doc: dict) -> None:
        raise AttributeError("a helper the generator needs is missing")

    monkeypatch.setitem(generator.MUTATIONS, name, broken)
    before = sorted(p.name for p in generator.INVALID.glob("*.json"))
    with pytest.raises(AttributeError):
        generator.main()
    assert sorted(p.name for p in generator.INVALID.glob("*.json")) == before


def test_the_generator_imports_this_checkouts_packages() -> None:
    _generator()
    assert Path(sys.path[0]) == GENERATOR.parents[1]  # tests/, then the checkout's root
    assert Path(sys.path[1]) == GENERATOR.parents[2]
