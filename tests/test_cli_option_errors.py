"""tidy31: a value refused on its own account before any work is a usage error (exit 2) in every CLI, also
when the check runs inside the command (ecocompute.cli.OptionError); what fails while the work runs stays
one line, exit 1."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, usage_error

from collector.cli import main as collect
from ecocompute.cli import EcoError, Group, OptionError, traceback_option
from validator.cli import main as validate


@click.group(cls=Group, name="eco-demo")
@traceback_option
def _demo(traceback: bool) -> None:
    pass


@_demo.command()
@click.option("--kind", default="option")
def fail(kind: str) -> None:
    raise OptionError("--thing 'x' is not one of a, b") if kind == "option" else EcoError("the data is broken")


def test_an_option_error_raised_in_a_command_is_a_usage_error() -> None:
    assert usage_error(CliRunner().invoke(_demo, ["fail"])) == "--thing 'x' is not one of a, b"
    result = CliRunner().invoke(_demo, ["fail", "--kind", "data"])
    assert result.exit_code == 1 and result.output == "eco-demo: error: the data is broken\n"
    result = CliRunner().invoke(_demo, ["--traceback", "fail"])  # the whole story, as for any known error
    assert isinstance(result.exception, OptionError)


@pytest.mark.parametrize(
    "extra", [["--quality", "no-such-corpus.txt"], ["--quality", "wikitext", "--weights", "random"]]
)
def test_collect_refuses_a_quality_it_cannot_take_as_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str]
) -> None:
    """Found before NVML is opened (this machine has no GPU): a --quality naming no file, or with random
    weights, was exit 1 while --config with pretrained weights was exit 2."""
    monkeypatch.chdir(tmp_path)
    args = ["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct", "--out-dir", str(tmp_path / "out"), *extra]
    line = usage_error(CliRunner().invoke(collect, args))
    assert line.startswith("--quality"), line
    assert not (tmp_path / "out").exists()


def _one_line(result: Any) -> str:
    """An in-command refusal: exit 2 and one '<prog>: error: ' line, never click's usage banner (review31:
    eco-validate's and eco-collect's own checks printed 'Usage: ...', 'Try ...', 'Error: ...')."""
    assert not result.output.startswith("Usage: "), result.output
    return usage_error(result)


def test_collect_refuses_a_config_with_pretrained_weights_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    args = ["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct", "--config", str(tmp_path), "--out-dir", str(tmp_path)]
    assert _one_line(CliRunner().invoke(collect, args)).startswith("--config builds the architecture")


def test_validate_refuses_its_option_values_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every refusal eco-validate makes in the command, as eco-dataset's and eco-advise's --out refusals: the
    report's place, --accepted, --reference, a missing PATH, --author without --base."""
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "one.json"
    good.write_bytes((FIXTURES / "valid" / "synthetic-two-measurements.json").read_bytes())
    (tmp_path / "note.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "repo" / "submissions" / "alice").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    cases = [
        ("--output", [str(good), "--output", f"{tmp_path}/"]),
        ("--output", [str(good), "--output", str(tmp_path / "note.txt")]),
        ("--output", [str(good), "--output", str(tmp_path / "repo" / "submissions" / "alice" / "r.json")]),
        ("--accepted", [str(good), "--accepted", str(tmp_path / "nope")]),
        ("no such file or folder", [str(tmp_path / "nope.json")]),
        (str(tmp_path / "nope"), [str(good), "--reference", str(tmp_path / "nope")]),
        ("--author", [str(good), "--author", "alice"]),
    ]
    for starts, args in cases:
        line = _one_line(CliRunner().invoke(validate, args))
        assert line.startswith(starts), (args, line)
    assert (tmp_path / "note.txt").read_text(encoding="utf-8") == "mine"
    assert list((tmp_path / "repo" / "submissions" / "alice").iterdir()) == []
