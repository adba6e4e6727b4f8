"""eco-collect refuses, while it parses its arguments, every value that would fail only after the whole
measurement (or in its arithmetic): click's usage error, exit 2, one line naming the option, the value
and what is allowed, before NVML is touched or a session opens. The library entry (RunRequest) and the
rejected-file write hold the same line."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import synthetic
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.cli import main
from collector.errors import CollectError, NvmlError
from collector.request import RunRequest, TrialPlan, check_handle
from collector.submission import validate_document
from ecocompute.catalogue import parse_list
from validator.contract import load_schema

_FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_SCHEMA = load_schema()
HANDLE_PATTERN = _SCHEMA["properties"]["contributor"]["properties"]["handle"]["pattern"]


@pytest.fixture
def nothing_measured(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any step that would open a session or touch NVML; a test asserts it stays empty."""
    touched: list[str] = []

    def record(name: str) -> Any:
        def step(*_a: Any, **_k: Any) -> Any:
            touched.append(name)
            raise NvmlError(f"{name} reached")

        return step

    monkeypatch.setattr("collector.collect.collect", record("collect"))
    monkeypatch.setattr("collector.doctor.Nvml", record("Nvml"))
    return touched


def _refused(args: list[str], env: dict[str, str] | None = None) -> str:
    """The one error line of a usage error (exit 2)."""
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and result.output.rstrip("\n").endswith(errors[0]), result.output
    return errors[0]


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--handle", "../../evil", f"contributor.handle must match {HANDLE_PATTERN}"),
        ("--handle", "a\nb", "contributor.handle must match"),
        ("--handle", "", "contributor.handle must match"),
        ("--handle", "-alice", "contributor.handle must match"),
        ("--handle", "a" * 40, "contributor.handle must match"),
        ("--handle", "alice\u202e", "contributor.handle must match"),
        ("--precision", "", "names no precision: give at least one, comma-separated; choose from fp32, fp16"),
        ("--precision", ",", "names no precision"),
        ("--precision", " , ,", "names no precision"),
        ("--engine", ",,", "names no engine: give at least one, comma-separated; choose from auto, generate"),
        ("--batch-size", ",", "names no batch size"),
        ("--gpu", "", "names no GPU index"),
        ("--gpu", "0,0", "'0,0': GPU 0 is named more than once: name each GPU once"),
        ("--gpu", "1,0,1", "GPU 1 is named more than once"),
        ("--trial-min-s", "nan", "not a finite number; give one in the range 1.0<=x<=86400"),
        ("--trial-min-s", "NaN", "not a finite number"),
        ("--trial-min-s", "inf", "not in the range 1.0<=x<=86400"),
        ("--trial-min-s", "86401", "not in the range 1.0<=x<=86400"),
        ("--max-config-s", "nan", "not a finite number; give one in the range x>=1"),
        ("--max-config-s", "inf", "not a finite number"),
        ("--max-config-s", "Infinity", "not a finite number"),
        ("--max-trials", "1001", "not in the range 5<=x<=1000"),
        ("--quality", "", "names no corpus; give 'wikitext' or a text file, or leave --quality out"),
        ("--quality", "  ", "names no corpus"),
        # an unset shell variable: read as no --revision, the Hub's default branch, under another run key
        ("--revision", "", "names no branch, tag or commit; give one, or leave --revision out"),
        ("--revision", " ", "names no branch, tag or commit"),
    ],
)
def test_run_refuses_at_parse_time(option: str, value: str, allowed: str, nothing_measured: list[str]) -> None:
    line = _refused(["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct", option, value])
    assert f"Invalid value for '{option}'" in line and allowed in line
    shown = value if option.endswith("-s") or option == "--max-trials" else repr(value)
    assert shown.replace("\u202e", "\\u202e") in line  # the value, escaped (no raw newline or bidi mark)
    assert nothing_measured == []


def test_a_bad_handle_from_the_environment_is_refused_before_the_run(nothing_measured: list[str]) -> None:
    line = _refused(["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct"], env={"ECO_HANDLE": "../evil"})
    assert "'--handle'" in line and "'../evil'" in line and nothing_measured == []


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["--model", "gpt2"], "not a Hub model id the submission schema accepts (owner/name"),
        (["--model", "someone/unknown-7b"], "not in the reference table of models"),
        (["--model", "Qwen/Qwen2.5-0.5B-Instruct", "--batch-size", "1,2000000"], "batch sizes up to 1000000"),
    ],
)
def test_run_refuses_a_model_or_batch_size_its_file_could_not_have(
    args: list[str], allowed: str, nothing_measured: list[str]
) -> None:
    """Refused by eco-validate only once the whole run was measured (schema pattern, reference table)."""
    line = _refused(["run", *args])
    assert allowed in line and nothing_measured == []


def test_a_config_with_pretrained_weights_is_refused(tmp_path: Path, nothing_measured: list[str]) -> None:
    """--config was accepted and ignored without a word where pretrained weights bring their own."""
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct", "--config", str(tmp_path)])
    assert result.exit_code == 2 and "--config builds the architecture for --weights random" in result.output
    assert nothing_measured == []


def test_a_revision_with_random_weights_is_refused(nothing_measured: list[str]) -> None:
    """--revision was accepted and ignored without a word where random weights are built from the architecture
    (their revision is always 'config-only'), as --config was with pretrained ones."""
    result = CliRunner().invoke(
        main, ["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct", "--weights", "random", "--revision", "main"]
    )
    assert result.exit_code == 2 and "--revision names a commit of pretrained weights" in result.output
    assert nothing_measured == []


def test_doctor_refuses_a_gpu_named_twice(nothing_measured: list[str]) -> None:
    line = _refused(["doctor", "--gpu", "0,0"])
    assert "Invalid value for '--gpu'" in line and "GPU 0 is named more than once" in line
    assert nothing_measured == []


def _request_of(args: list[str], monkeypatch: pytest.MonkeyPatch) -> RunRequest:
    seen: list[RunRequest] = []

    def capture(request: RunRequest, _events: Any) -> Any:
        seen.append(request)
        raise NvmlError("stop here")

    monkeypatch.setattr("collector.collect.collect", capture)
    result = CliRunner().invoke(main, ["run", "--model", "Qwen/Qwen2.5-0.5B-Instruct", *args])
    assert result.exit_code == 1 and seen, result.output
    return seen[0]


def test_lists_keep_their_order_without_repeats_and_floats_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["--batch-size", "8, 1,8", "--precision", "nf4,fp16,nf4", "--gpu", "1,0"]
    request = _request_of(
        [*args, "--trial-min-s", "86400", "--max-config-s", "1e6", "--max-trials", "1000"], monkeypatch
    )
    assert request.batch_sizes == (8, 1) and request.precisions == ("nf4", "fp16") and request.gpus == (1, 0)
    assert request.plan.trial_min_s == 86400.0 and request.plan.max_config_s == 1e6
    assert request.plan.gates.max_trials == 1000


@_FAST
@given(handle=st.from_regex(HANDLE_PATTERN, fullmatch=True))
def test_every_handle_the_schema_accepts_reaches_the_request(handle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _request_of(["--handle", handle], monkeypatch).handle == handle


_VALID = synthetic.submission(0, n_measurements=1)


@_FAST
@given(handle=st.one_of(st.from_regex(HANDLE_PATTERN, fullmatch=True), st.text(max_size=45)))
def test_the_handle_check_agrees_with_the_finished_file_check(handle: str) -> None:
    """What the argument check accepts is exactly what eco-validate accepts in the written file."""
    doc = copy.deepcopy(_VALID)
    doc["contributor"]["handle"] = handle
    try:
        check_handle(handle)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == (validate_document(doc) == [])


@_FAST
@given(items=st.lists(st.text(alphabet=st.characters(blacklist_characters=","), max_size=6), max_size=6))
def test_parse_list(items: list[str]) -> None:
    text = ",".join(items)
    named = [item.strip() for item in items if item.strip()]
    if named:
        assert parse_list(text, "thing") == named
    else:
        with pytest.raises(ValueError, match="names no thing"):
            parse_list(text, "thing")


def test_the_library_entry_refuses_the_same_requests() -> None:
    base: dict[str, Any] = dict(model_id="Qwen/Qwen2.5-0.5B-Instruct", precisions=("fp16",), batch_sizes=(1,))
    RunRequest(**base)  # the base is fine
    for change, message in [
        ({"handle": "../../evil"}, "contributor.handle must match"),
        ({"precisions": ()}, "RunRequest.precisions is empty"),
        ({"engines": ()}, "RunRequest.engines is empty"),
        ({"batch_sizes": ()}, "RunRequest.batch_sizes is empty"),
        ({"gpus": (0, 0)}, "GPU 0 is named more than once"),
        ({"gpus": (-1,)}, "expected GPU indexes >= 0"),
        ({"sample_period_s": math.nan}, "RunRequest.sample_period_s is nan"),
        ({"gpus": tuple(range(65))}, "65 GPUs; a submission records at most 64"),  # energy_per_gpu_j's maxItems
        ({"batch_sizes": tuple(range(1, 1002))}, "1,001 configurations .*at most 1,000 measurements: split the run"),
        # measured in full, or failing in transformers, before this: the command line refused them, the library did not
        ({"model_id": "../../etc/passwd"}, "not a Hub model id the submission schema accepts"),
        ({"model_id": "nobody/unknown-7b"}, "not in the reference table of models"),
        ({"precisions": ("fp8",)}, "unknown precision fp8; choose from fp32, fp16"),
        ({"precisions": ("fp16", "fp16")}, "precision fp16 is named more than once"),
        ({"engines": ("warp",)}, "unknown engine warp; choose from auto, generate"),
        ({"engines": ("auto", "generate")}, "auto chooses the engine per precision"),
        ({"engines": ("generate", "generate")}, "engine generate is named more than once"),
        ({"batch_sizes": (0,)}, r"'0': expected integers >= 1"),
        ({"batch_sizes": (-1,)}, r"'-1': expected integers >= 1"),
        ({"batch_sizes": (True,)}, r"expected integers >= 1"),
        ({"batch_sizes": (1, 1)}, "batch size 1 is named more than once"),
        ({"batch_sizes": (2_000_000,)}, "batch sizes up to 1000000"),
        ({"output_tokens": 0}, r"RunRequest.output_tokens is 0: expected an integer from 1 to 4096"),
        ({"output_tokens": 5000}, r"RunRequest.output_tokens is 5000: expected an integer from 1 to 4096"),
        ({"prompt_tokens": 0}, r"RunRequest.prompt_tokens is 0: expected an integer >= 1"),
        ({"schedule": "bogus"}, r"RunRequest.schedule is 'bogus': expected one of auto, interleaved, sequential"),
        ({"weights": "bogus"}, r"RunRequest.weights is 'bogus': expected one of pretrained, random"),
        ({"revision": ""}, "names no branch, tag or commit"),
        ({"weights": "random", "revision": "main"}, "--revision names a commit of pretrained weights"),
    ]:
        with pytest.raises(CollectError, match=message):
            RunRequest(**{**base, **change})
    for name in ("trial_min_s", "max_config_s", "idle_window_s", "settle_pct"):
        for bad in (math.nan, math.inf, 0.0):
            with pytest.raises(CollectError, match=f"TrialPlan.{name} is {bad!r}: expected a finite number > 0"):
                TrialPlan(**{name: bad})
    with pytest.raises(CollectError, match=r"idle_window_s is 0\.5: at least 1\.0 s"):  # protocol.idle_window's floor
        TrialPlan(idle_window_s=0.5)
