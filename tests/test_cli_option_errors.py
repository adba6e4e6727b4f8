"""tidy31: a value refused on its own account before any work is a usage error (exit 2) in every CLI, also
when the check runs inside the command (ecocompute.cli.OptionError); what fails while the work runs stays
one line, exit 1."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import usage_error

from collector.cli import main as collect
from ecocompute.cli import EcoError, Group, OptionError, traceback_option


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
