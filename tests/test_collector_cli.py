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
        (["--engine", "warp"], "choose from auto, generate, generate-static, cuda-graph"),
        (["--engine", "auto,generate"], "auto chooses the engine per precision"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct", *args])
    assert result.exit_code == 2 and message in result.output


def test_known_error_is_one_actionable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_gpu(*_a, **_k):
        raise NvmlError("nvmlInit: NVML Shared Library Not Found")

    monkeypatch.setattr("collector.collect.collect", no_gpu)
    result = CliRunner().invoke(main, ["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct"])
    assert result.exit_code == 1
    assert "eco-collect: error: nvmlInit: NVML Shared Library Not Found" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(NvmlError):
        CliRunner().invoke(
            main, ["--traceback", "run", "--model", "Qwen/Qwen2.5-0.5B-Instruct"], catch_exceptions=False
        )


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


def test_options_reach_the_run_request(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def capture(cfg, _events):  # type: ignore[no-untyped-def]
        seen["cfg"] = cfg
        raise NvmlError("stop here")

    monkeypatch.setattr("collector.collect.collect", capture)
    CliRunner().invoke(
        main,
        [
            "run",
            "--model",
            "Qwen/Qwen2.5-0.5B-Instruct",
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
            "--engine",
            "cuda-graph,generate",
        ],
    )
    cfg = seen["cfg"]
    assert cfg.pin_cpu is True and cfg.batch_sizes == (1, 4) and cfg.weights == "random" and cfg.handle == "alice"
    assert cfg.engines == ("cuda-graph", "generate")
    assert cfg.plan.gates.max_trials == 12 and cfg.plan.trial_min_s == 5.0
    assert cfg.plan.gates.throughput_cv_max_pct == 2.0  # the gates themselves are not options


def test_doctor_without_a_gpu_names_the_collect_extra_and_checks_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import collector.doctor as doctor

    monkeypatch.setattr(doctor.hostinfo, "package_versions", lambda: {"python": "3.12.3", "torch": "not installed"})
    monkeypatch.setattr(
        doctor, "host_stability", lambda windows: doctor.Check("host stability", "ok", f"{windows} windows")
    )

    def no_driver(_gpus: list[int]) -> None:
        raise NvmlError("no usable NVIDIA driver on this machine")

    monkeypatch.setattr(doctor, "Nvml", no_driver)
    result = CliRunner().invoke(main, ["doctor", "--stability-windows", "3"], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert "pip install 'ecocompute-llm-energy[collect]'" in result.output  # rich keeps the brackets
    assert "no usable NVIDIA driver" in result.output and "3 windows" in result.output


def test_host_stability_warns_where_the_host_drifts() -> None:
    from fakes import FakeTime

    from collector.doctor import host_stability

    def status(speeds: list[float]) -> str:
        """The doctor's verdict for a host whose pure-Python speed is speeds[k] in the k-th second."""
        clock = FakeTime()
        start = clock.now()

        def work() -> None:
            k = min(int(clock.now() - start), len(speeds) - 1)
            clock.sleep(1.0 / speeds[k])

        return host_stability(len(speeds), 1.0, clock=clock.now, work=work).status

    assert status([1000.0] * 8) == "ok"
    assert status([1000.0, 1060.0, 940.0, 1000.0, 1050.0, 950.0, 1000.0, 1000.0]) == "warn"  # CV 4 %


def test_the_log_says_where_a_preparation_went_and_escapes_it() -> None:
    from rich.console import Console

    from collector.render import RichEvents

    console = Console(width=200, record=True)
    events = RichEvents(console, total=1)
    events.prepared("prepared fp16 cuda-graph bs=1", 21.26, "capture 6.0 s, generate() reference, one run 5.4 s")
    events.prepared("loaded [bold]x[/bold]", 2.0)
    text = console.export_text()
    assert "prepared fp16 cuda-graph bs=1 in 21.3 s (capture 6.0 s, generate() reference, one run 5.4 s)" in text
    assert "loaded [bold]x[/bold] in 2.0 s" in text


def test_a_trial_length_eco_validate_would_refuse_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct", "--trial-min-s", "0.9"])
    assert result.exit_code == 2 and "0.9 is not in the range 1.0<=x<=86400" in result.output


def test_run_help_names_every_precision_and_explains_each_list_option() -> None:
    """A contributor learns from --help which precisions exist and what the list options mean."""
    from ecocompute.catalogue import PRECISIONS

    run = main.commands["run"]
    helps = {p.name: p.help or "" for p in run.params}
    assert all(label in helps["precision_list"] for label in PRECISIONS)
    assert "comma-separated" in helps["batch_sizes"] and "per sequence" in helps["output_tokens"]
    assert "shard" in helps["gpus"]
    assert "file.handle_author" in helps["handle"]  # why the default, anonymous, will not do for a pull request
