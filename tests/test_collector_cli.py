"""eco-collect's command line: usage errors, known errors as one line, the summary table."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from collector.cli import main
from collector.errors import NvmlError
from collector.render import summary_table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "expected integers >= 1"),
        (["--batch-size", "one"], "comma-separated integers"),
        (["--precision", "int4"], "unknown precision int4"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["run", "--model", "org/model", *args])
    assert result.exit_code == 2 and message in result.output


def test_known_error_is_one_actionable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_gpu(*_a, **_k):
        raise NvmlError("nvmlInit: NVML Shared Library Not Found")

    monkeypatch.setattr("collector.sweep.run_sweep", no_gpu)
    result = CliRunner().invoke(main, ["run", "--model", "org/model"])
    assert result.exit_code == 1
    assert "eco-collect: error: nvmlInit: NVML Shared Library Not Found" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(NvmlError):
        CliRunner().invoke(main, ["--traceback", "run", "--model", "org/model"], catch_exceptions=False)


def test_summary_table_compares_with_fp16() -> None:
    from rich.console import Console

    doc = json.loads((FIXTURES / "valid" / "h100-mistral7b-random-sweep.json").read_text())
    console = Console(width=200, record=True)
    console.print(summary_table(doc))
    text = console.export_text()
    assert "int8" in text and "+143 %" in text  # int8 vs fp16 at batch 1: 18705 / 7700 J/1k tok


def test_summary_table_matches_fp16_as_the_dataset_does() -> None:
    """Fixed inconsistency: the screen matched fp16 on batch size alone, the dataset on the whole
    configuration. An fp16 row on another engine is no reference for a row on this one."""
    from rich.console import Console

    doc = json.loads((FIXTURES / "valid" / "h100-mistral7b-random-sweep.json").read_text())
    for m in doc["measurements"]:
        if m["precision"] == "fp16":
            m["engine"]["cache_implementation"] = "static"
            m["engine"]["compiled"] = True
    console = Console(width=200, record=True)
    console.print(summary_table(doc))
    assert "+143 %" not in console.export_text()


def test_options_reach_the_sweep_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def capture(cfg, _events):  # type: ignore[no-untyped-def]
        seen["cfg"] = cfg
        raise NvmlError("stop here")

    monkeypatch.setattr("collector.sweep.run_sweep", capture)
    CliRunner().invoke(
        main,
        [
            "run",
            "--model",
            "org/model",
            "--pin-cpu",
            "--batch-size",
            "1,4",
            "--weights",
            "random",
            "--max-trials",
            "12",
            "--trial-min-s",
            "5",
            "--handle",
            "alice",
        ],
    )
    cfg = seen["cfg"]
    assert cfg.pin_cpu is True and cfg.batch_sizes == [1, 4] and cfg.weights == "random" and cfg.handle == "alice"
    assert cfg.plan.gates.max_trials == 12 and cfg.plan.trial_min_s == 5.0
    assert cfg.plan.gates.throughput_cv_max_pct == 2.0  # the gates themselves are not options
