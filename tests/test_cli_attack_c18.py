"""Attack c18: the three command lines' user-facing behaviour (one line on failure, outputs, options)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import usage_error

from collector.errors import NvmlError

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def test_collect_failure_before_measuring_is_one_line_on_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Fixed: an empty progress bar ("sweep 0/8 0:00:00") was printed on stderr before the one-line error
    of a run that failed before its first configuration (no GPU)."""
    from collector.cli import main

    def no_gpu(*_a, **_k):
        raise NvmlError("nvmlInit: NVML Shared Library Not Found")

    monkeypatch.setattr("collector.collect.collect", no_gpu)
    result = CliRunner().invoke(main, ["run", "--model", MODEL, "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["eco-collect: error: nvmlInit: NVML Shared Library Not Found"]


def test_report_refuses_an_out_inside_the_dataset_folder(tmp_path) -> None:
    """Fixed: ``eco-dataset report --out BUILD/rep`` wrote the report into the build, whose next build then
    refused the folder (it "holds rep, ... which eco-dataset did not write")."""
    from dataset_card.cli import main

    dataset = tmp_path / "build"
    (dataset / "measurements").mkdir(parents=True)  # refused before the dataset is read
    result = CliRunner().invoke(main, ["report", "--dataset", str(dataset), "--out", str(dataset / "rep")])
    assert "lies inside the dataset folder" in usage_error(result)  # a refused --out: a usage error (tidy31)
    assert sorted(p.name for p in dataset.iterdir()) == ["measurements"]


@pytest.mark.parametrize("name", ["it's b", "x\\'y"])
def test_build_line_quotes_the_folder_as_python(monkeypatch: pytest.MonkeyPatch, tmp_path, name: str) -> None:
    """Fixed: the build's closing line pasted the folder between single quotes as it is, so the snippet it
    offers (datasets.load_dataset('.../it's b')) was no Python for a folder holding a quote or a backslash."""
    import ast
    from types import SimpleNamespace

    from dataset_card.cli import main

    out = tmp_path / name
    done = SimpleNamespace(out_dir=out, version="0.0.0-dev+0", counts={"measurements": 1}, warnings=())
    monkeypatch.setattr("dataset_card.build.build", lambda *_a, **_k: done)
    result = CliRunner().invoke(main, ["build", "--out", str(out)])
    assert result.exit_code == 0, result.output
    call = result.output.strip().split("load it with ", 1)[1]
    assert ast.literal_eval(call.removeprefix("datasets.load_dataset(").removesuffix(")")) == str(out)


def test_validate_refuses_an_output_inside_a_folder_it_checks(tmp_path) -> None:
    """Fixed: ``eco-validate FOLDER --output FOLDER/report.json`` wrote the report among the submissions, and
    the next run checked it as one and rejected it (submission.not_a_submission)."""
    import shutil

    from conftest import FIXTURES

    from validator.cli import main

    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(FIXTURES / "valid" / "h100-mistral7b-random-sweep.json", folder)
    for output in (folder / "report.json", folder / "sub" / "report.json"):
        (folder / "sub").mkdir(exist_ok=True)
        result = CliRunner().invoke(main, [str(folder), "--output", str(output)])
        assert result.exit_code == 2 and "lies inside" in result.output, result.output
        assert not output.exists()
    result = CliRunner().invoke(main, [str(folder), "--accepted", str(folder), "--output", str(tmp_path / "r.json")])
    assert (tmp_path / "r.json").exists(), result.output
    # a file the next run does not take for a submission (discover takes *.json) is no harm beside them
    # (review29 F4), but nothing goes into the accepted submissions, the data's own folder
    result = CliRunner().invoke(main, [str(folder), "--output", str(folder / "report.txt")])
    assert (folder / "report.txt").exists() and result.exit_code in (0, 1), result.output
    result = CliRunner().invoke(main, [str(folder), "--accepted", str(folder), "--output", str(folder / "r.txt")])
    assert result.exit_code == 2 and "lies inside" in result.output and not (folder / "r.txt").exists()


@pytest.mark.parametrize("version", ["1.2", "1.2.3-rc.1", "next-patch", "v1.2.3"])
def test_publish_names_the_versions_it_takes(tmp_path, version: str) -> None:
    """Fixed: a --version publish refuses got build's hint, "or a pre-release such as 1.4.0-rc.1", which
    publish refuses in turn, and never named next-minor / next-major."""
    from dataset_card.cli import main

    args = ["publish", "--repo", "o/r", "--version", version, "--dry-run", "--submissions", str(tmp_path / "s")]
    result = CliRunner().invoke(main, args)
    line = usage_error(result)  # a malformed --version: a usage error, as a malformed --repo is (tidy31)
    assert "next-minor" in line and "pre-release such as" not in line, result.output


@pytest.mark.parametrize("token", ["hf_s3cr3t\u00f6", "\u201chf_s3cr3t\u201d", "hf_\x1b[2Js3cr3t"])
def test_a_token_no_header_can_carry_is_one_line_that_hides_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path, token: str
) -> None:
    """Fixed: HF_TOKEN holding a character outside ASCII (a typographic quote pasted with it) ended publish
    and report in a UnicodeEncodeError traceback from inside httpx."""
    from dataset_card.cli import main

    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN", token)
    for args in (
        ["publish", "--repo", "o/r", "--version", "next-minor", "--dry-run"],
        ["report", "--dataset", "o/r@v1.0.0", "--out", str(tmp_path / "report")],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
        assert "HF_TOKEN holds a character no Hugging Face token has" in result.output
        assert "s3cr3t" not in result.output  # a secret: never shown


def test_publish_leaves_the_token_to_huggingface_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixed: publish passed HF_TOKEN to HfApi as it was, so an empty one (a CI secret that is not set) sent
    "Authorization: Bearer " and a trailing newline broke the header, where huggingface_hub trims it and
    reads an empty one as none (the login cache)."""
    import huggingface_hub

    from dataset_card.cli import main
    from ecocompute.cli import EcoError

    seen = {}

    def api(**kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs)
        raise EcoError("stop here")

    monkeypatch.setattr(huggingface_hub, "HfApi", api)
    monkeypatch.setenv("HF_TOKEN", "")
    result = CliRunner().invoke(main, ["publish", "--repo", "o/r", "--version", "1.0.0", "--dry-run"])
    assert "stop here" in result.output and seen.get("token") is None, (result.output, seen)


def test_a_local_build_is_not_refused_for_a_token_it_never_sends(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Fixed (review29): the token's check ran with the variables huggingface_hub parses at its import, so a
    local ``eco-dataset build``, which talks to no Hub, was refused for an HF_TOKEN it never sends."""
    from types import SimpleNamespace

    from dataset_card.cli import main
    from ecocompute import hubenv

    monkeypatch.setenv("HF_TOKEN", "\u201chf_s3cr3t\u201d")
    done = SimpleNamespace(out_dir=tmp_path / "b", version="0.0.0-dev+0", counts={"measurements": 1}, warnings=())
    monkeypatch.setattr("dataset_card.build.build", lambda *_a, **_k: done)
    result = CliRunner().invoke(main, ["build", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0 and "built " in result.output, result.output
    # an unrelated ValueError is not blamed on the token; the UnicodeEncodeError of sending it is
    assert hubenv.blame(ValueError("x")) is None
    sent = UnicodeEncodeError("ascii", "\u201c", 0, 1, "ordinal not in range(128)")
    assert "HF_TOKEN holds a character" in (hubenv.blame(sent) or "")
