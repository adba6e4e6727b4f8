"""All three CLIs fail the same way: a known error is one line and exit 1, usage errors exit 2,
--traceback shows the traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, ROOT, usage_error

from advisor.cli import main as advise
from collector.cli import main as collect
from dataset_card.cli import main as dataset
from ecocompute.cli import EcoError, describe, first_few, printable
from validator.cli import main as validate

VALID = FIXTURES / "valid" / "synthetic-two-measurements.json"


def _one_line_error(result: click.testing.Result, prog: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), lines
    return lines[0]


def _full_disk(*_args: object, **_kwargs: object) -> object:
    raise OSError(28, "No space left on device")


def test_validate_output_that_cannot_be_written_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.mkstemp", _full_disk)
    result = CliRunner().invoke(validate, [str(VALID), "--output", str(tmp_path / "r.json")])
    # the report itself is printed first; the failure is the last line, naming the file asked for
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        f"eco-validate: error: No space left on device: {tmp_path / 'r.json'}"
    )
    assert list(tmp_path.iterdir()) == []


def test_build_with_a_missing_legacy_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        dataset,
        ["build", "--submissions", str(ROOT / "submissions"), "--legacy", "/missing", "--out", str(tmp_path / "o")],
    )
    line = usage_error(result)  # a missing folder given for an option: a usage error
    assert "legacy folder /missing does not exist (--legacy)" in line
    assert not (tmp_path / "o").exists()


def test_build_into_a_path_below_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    result = CliRunner().invoke(
        dataset,
        [
            "build",
            "--submissions",
            str(ROOT / "submissions"),
            "--legacy",
            str(ROOT / "legacy"),
            "--out",
            f"{blocker}/out",
        ],
    )
    assert str(blocker) in usage_error(result)
    assert blocker.read_text() == "keep me"


def test_publish_without_network_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has no route to the Hub: the real client fails as it would on a contributor's."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    result = CliRunner().invoke(dataset, ["publish", "--repo", "o/r", "--version", "next-minor"])
    assert "cannot reach the Hugging Face Hub" in _one_line_error(result, "eco-dataset")


def test_traceback_flag_means_the_same_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EcoError):
        CliRunner().invoke(
            dataset,
            ["--traceback", "build", "--legacy", "/missing", "--out", str(tmp_path / "o")],
            catch_exceptions=False,
        )
    monkeypatch.setattr("tempfile.mkstemp", _full_disk)
    with pytest.raises(OSError):
        CliRunner().invoke(
            validate, [str(VALID), "--traceback", "--output", str(tmp_path / "r.json")], catch_exceptions=False
        )


@pytest.mark.parametrize(
    ("cli", "args"),
    [
        (collect, ["run"]),  # --model missing
        (collect, ["run", "--model", "m", "--batch-size", "0"]),
        (dataset, ["publish", "--version", "1.0.0"]),  # --repo missing
        (dataset, ["nonsense"]),
        (validate, []),
        (validate, ["/no/such/file.json"]),
    ],
)
def test_usage_errors_exit_2(cli: click.Command, args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_unknown_exceptions_keep_their_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("a bug, not a user mistake")

    monkeypatch.setattr("dataset_card.build.build", bug)
    result = CliRunner().invoke(dataset, ["build"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_messages_are_escaped_and_on_one_line() -> None:
    assert printable("a\x1b[31mred\u202e\nb") == "a\\x1b[31mred\\u202e\\nb"
    # a name holding a line break or tab reads as the name it is, not as another one with a space
    assert printable("a\tb\r") == "a\\tb\\r"
    assert describe(FileNotFoundError(2, "No such file or directory", "/x\ny")) == "No such file or directory: /x\\ny"
    assert describe(EcoError("first\n  second")) == "first second"
    # GitHub's runner reads "##[command]" anywhere in a log line (actions/runner ActionCommand.TryParse)
    assert printable("x ##[stop-commands]tok ##[error]forged") == "x #\\x23[stop-commands]tok #\\x23[error]forged"


def test_printable_reads_only_what_it_shows() -> None:
    """A message quoting a huge input (a 50-MB string of a hand-edited checkpoint, in the schema's
    message) costs the characters shown, not the whole input: 30 MB took 4 s a character at a time."""
    import time

    for text in ("x" * 9, "x" * 10, "x" * 11, "x" * 9 + "\n", "x" * 6 + "\x1b", "\u202e" * 20):
        whole = "".join(printable(ch, limit=100) for ch in text)  # the same escapes, one character at a time
        assert printable(text, limit=10) == (whole if len(whole) <= 10 else whole[:7] + "...")
    huge = "a" * 30_000_000 + "\x1b"
    started = time.perf_counter()
    assert printable(huge, limit=300) == "a" * 297 + "..."
    assert time.perf_counter() - started < 0.5


def test_output_outside_the_terminal_s_encoding_is_escaped_not_a_traceback() -> None:
    """Under a latin-1 locale (or cp1252: output redirected on Windows) a contributor's value outside it
    ended the finished run in a UnicodeEncodeError traceback, before its verdict was printed."""
    arabic = FIXTURES / "invalid" / "provenance.unpinned_version__arabic_indic_digits.json"
    result = CliRunner(charset="latin-1").invoke(validate, [str(arabic)])
    assert result.exit_code == 1 and not isinstance(result.exception, UnicodeError), repr(result.exception)
    assert "'\\u0662.\\u0661\\u0661.\\u0660' is not an exact version" in result.output
    assert result.output.splitlines()[-1].startswith("REJECTED: 1 file(s) checked")


def test_a_malformed_hub_variable_is_one_line_naming_it_not_a_traceback_from_the_import() -> None:
    """huggingface_hub parses HF_HUB_DOWNLOAD_TIMEOUT when imported (by the build, through datasets):
    in a process of its own, as a user runs it, `=nan` ended publish in a ValueError traceback."""
    env = {**os.environ, "HF_HUB_DOWNLOAD_TIMEOUT": "nan", "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-m", "dataset_card", "publish", "--repo", "o/r", "--version", "1.0.0", "--dry-run"]
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.splitlines() == [
        "python -m dataset_card: error: the environment variable HF_HUB_DOWNLOAD_TIMEOUT='nan' is not a whole "
        "number of seconds (huggingface_hub reads it): set it to one, e.g. HF_HUB_DOWNLOAD_TIMEOUT=30, or unset it"
    ]


@pytest.mark.parametrize(
    ("name", "value", "cli", "args"),
    [
        ("HF_ENDPOINT", "http://127.0.0.1:9x", advise, ["--dataset", "o/r@v1.0.0", "--gpu", "H100", "--params", "7B"]),
        ("HF_HUB_ETAG_TIMEOUT", "", dataset, ["report", "--dataset", "o/r@v1.0.0"]),
        ("HF_HUB_DOWNLOAD_TIMEOUT", "10s", dataset, ["build"]),
    ],
)
def test_a_malformed_hub_variable_is_refused_before_the_hub_is_asked(
    name: str, value: str, cli: click.Command, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def asked(*_a: object, **_k: object) -> None:
        raise AssertionError("the Hub was asked")

    monkeypatch.setattr("huggingface_hub.HfApi", asked)
    monkeypatch.setenv(name, value)
    line = _one_line_error(CliRunner().invoke(cli, args), cli.name or "")
    assert f"the environment variable {name}={value!r} is not a " in line and "or unset it" in line


def test_a_value_error_from_a_malformed_hub_variable_names_it_wherever_it_is_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A path that did not check first: huggingface_hub's own ValueError is blamed on the variable;
    without a malformed variable a ValueError is a bug and keeps its traceback."""

    def parses_the_endpoint(*_a: object, **_k: object) -> None:
        urlsplit(os.environ.get("HF_ENDPOINT", "")).port  # noqa: B018 - what huggingface_hub does first

    monkeypatch.setattr("advisor.report.write_report", parses_the_endpoint)
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.com:44x3")
    line = _one_line_error(CliRunner().invoke(dataset, ["report", "--dataset", "anything"]), "eco-dataset")
    assert "HF_ENDPOINT='https://hf-mirror.com:44x3' is not a valid URL (Port could not be cast" in line
    result = CliRunner().invoke(dataset, ["--traceback", "report", "--dataset", "anything"])
    assert isinstance(result.exception, ValueError)
    monkeypatch.delenv("HF_ENDPOINT")
    monkeypatch.setattr("advisor.report.write_report", lambda *_a, **_k: int("nan"))
    assert isinstance(CliRunner().invoke(dataset, ["report", "--dataset", "x"]).exception, ValueError)


def test_first_few_names_a_few_of_many_and_counts_the_rest() -> None:
    assert first_few([]) == "" and first_few(["a"]) == "a"
    assert first_few(list("abcdefg")) == "a, b, c, d, e and 2 more"
    assert first_few(list("abc"), 2) == "a, b and 1 more" and first_few(list("abc"), 3) == "a, b, c"
    rendered: list[str] = []
    assert (
        first_few(["a\x1b[31m", "b", "c"], 1, lambda i: rendered.append(i) or printable(i)) == "a\\x1b[31m and 2 more"
    )
    assert rendered == ["a\x1b[31m"]  # only the shown ones are rendered
