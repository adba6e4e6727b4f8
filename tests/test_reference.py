"""The reference tables: what they must cover, that their numbers follow from their sources, and that
the loader treats them as untrusted input (a pull request edits them)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from ecocompute import catalogue, domain, reference
from ecocompute.reference import ReferenceError, load, parameter_count, seeded_prompt_sha256

REF = reference.default()
TABLES = ROOT / "ecocompute" / "reference"


@pytest.mark.parametrize(
    "name",
    [
        "Tesla T4",
        "NVIDIA GeForce RTX 4090 D",
        "NVIDIA GeForce RTX 5090",
        "NVIDIA A800-SXM4-80GB",
        "NVIDIA A800 80GB PCIe",
        "NVIDIA H100 80GB HBM3",
        "NVIDIA H100 PCIe",
        "NVIDIA H200",
        "NVIDIA A100-SXM4-40GB",
        "NVIDIA A100-SXM4-80GB",
        "NVIDIA A100-PCIE-40GB",
        "NVIDIA A100 80GB PCIe",
        "NVIDIA L4",
        "NVIDIA L40S",
        "NVIDIA A10",
        "NVIDIA A10G",
        "Tesla V100-SXM2-16GB",
        "NVIDIA GeForce RTX 3090",
        "NVIDIA GeForce RTX 4090",
    ],
)
def test_the_seeds_and_the_usual_boards_are_known(name: str) -> None:
    gpu = REF.gpus[name]
    assert "datasheet" in gpu.source.lower() or "specifications" in gpu.source.lower() or "aws" in gpu.source.lower()


def test_every_committed_submission_names_known_boards_and_models() -> None:
    for path in (ROOT / "submissions").rglob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        gpu = REF.gpus[doc["environment"]["gpu"]["name"]]
        assert gpu.compute_capability == doc["environment"]["gpu"]["compute_capability"]
        for m in doc["measurements"]:
            assert REF.models[m["model"]["id"]].parameter_count == m["model"]["parameter_count"]


def test_the_seeds_models_are_known() -> None:
    for model_id in (
        "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        "Qwen/Qwen2-1.5B-Instruct",
        "Qwen/Qwen2.5-3B-Instruct",
        "microsoft/Phi-3-mini-4k-instruct",
        "01-ai/Yi-1.5-6B-Chat",
        "mistralai/Mistral-7B-Instruct-v0.2",
        "mistralai/Mistral-7B-Instruct-v0.3",
        "Qwen/Qwen2-7B-Instruct",
        "Qwen/Qwen2.5-7B-Instruct",
        "meta-llama/Llama-3.1-8B-Instruct",
        "Qwen/Qwen2.5-14B-Instruct",
    ):
        assert model_id in REF.models


@pytest.mark.parametrize(
    ("model_id", "published"),
    [  # parameter counts published by the model authors (model cards, Hub metadata)
        ("Qwen/Qwen2.5-0.5B-Instruct", 494_032_768),
        ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", 1_100_048_384),
        ("microsoft/Phi-3-mini-4k-instruct", 3_821_079_552),
        ("mistralai/Mistral-7B-Instruct-v0.2", 7_241_732_096),
        ("meta-llama/Llama-3.1-8B-Instruct", 8_030_261_248),
        ("Qwen/Qwen2.5-7B-Instruct", 7_615_616_512),
    ],
)
def test_parameter_counts_follow_from_the_hyper_parameters(model_id: str, published: int) -> None:
    spec = REF.models[model_id]
    assert parameter_count(spec.model_type, spec.hyperparameters) == spec.parameter_count == published


@pytest.mark.parametrize("model_id", ["Qwen/Qwen2.5-0.5B-Instruct", "mistralai/Mistral-7B-Instruct-v0.2"])
def test_the_collector_builds_the_tables_architectures(model_id: str) -> None:
    """eco-collect --weights random builds its model from the table's row: the parameter count of what
    it builds (on the meta device) is the table's."""
    from collector.models import build_config, count_parameters

    assert count_parameters(build_config(model_id)) == REF.models[model_id].parameter_count


def test_the_builtin_prompt_hash_is_the_shipped_prompts() -> None:
    prompt = ROOT / "collector" / "data" / "prompt_v1.txt"  # shipped: a missing one fails here, never skips
    assert REF.prompts["builtin:v1"] == hashlib.sha256(prompt.read_text(encoding="utf-8").encode()).hexdigest()
    # no tokenizer makes more tokens of it than its UTF-8 bytes, plus a few special tokens
    assert REF.prompt_tokens_max["builtin:v1"] == len(prompt.read_text(encoding="utf-8").encode()) + 8


REAL_FILES = sorted((ROOT / "submissions" / "ecocompute-bot").glob("*.json"))


def test_the_repository_holds_real_submissions() -> None:
    # the test below runs once per file: with none it would be skipped, and pass
    assert REAL_FILES


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.stem)
def test_real_seeded_prompts_are_recomputed(path: Path) -> None:
    # Every file measured on a real GPU: the prompt's ids depend on the model's vocabulary (32,000 for
    # Mistral-7B, 151,936 for the Qwen models), so each file is checked against its own model's.
    real = json.loads(path.read_text(encoding="utf-8"))
    prompt, model_id = real["protocol"]["prompt"], real["measurements"][0]["model"]["id"]
    assert prompt["source"] == "seeded-token-ids:0:64"
    assert seeded_prompt_sha256(REF.models[model_id].vocab_size, 64, 0) == prompt["sha256"]


def test_seeded_prompts_are_recomputed_as_the_collector_draws_them() -> None:
    from collector import workload  # no optional dependency: an import broken by a rename fails, never skips

    assert workload.seeded_prompt(151936, 48, 7).sha256 == seeded_prompt_sha256(151936, 48, 7)


def test_collector_releases_cover_the_current_and_the_rewrite() -> None:
    from collector import __version__

    assert ("eco-collect", "0.1.0") in REF.releases and ("eco-collect", "0.2.0") in REF.releases
    assert catalogue.SCHEMA_VERSION in REF.releases[("eco-collect", __version__)].schema_versions


def test_the_package_version_is_the_collectors() -> None:
    """pyproject's version is what pip and importlib.metadata report: eco-collect 0.6.0 shipped as
    package 0.5.0 (review 23)."""
    from collector import __version__

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (line,) = [ln for ln in text.splitlines() if ln.startswith("version = ")]
    assert line == f'version = "{__version__}"'


def test_the_accepted_list_is_exactly_the_older_committed_files() -> None:
    older = {}
    for path in (ROOT / "submissions").rglob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc["schema_version"] != catalogue.SCHEMA_VERSION:
            older[hashlib.sha256(path.read_bytes()).hexdigest()] = path.relative_to(ROOT).as_posix()
    assert {sha: a.path for sha, a in REF.accepted.items()} == older


def test_a_local_config_is_a_small_regular_file_refused_before_it_is_read(tmp_path: Path) -> None:
    """transformers reads a --config whole: a weights file named by mistake filled the memory."""
    from collector.errors import CollectError
    from collector.models import build_config

    big = tmp_path / "model.safetensors"
    with big.open("wb") as fh:
        fh.truncate(2 << 20)  # sparse: costs no disk
    with pytest.raises(CollectError, match=r"holds 2,097,152 bytes, more than the 1,048,576 a config\.json takes"):
        build_config("Qwen/Qwen2.5-0.5B-Instruct", big)
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "folder" / "config.json")
    with pytest.raises(CollectError, match=r"folder/config\.json is not a regular file"):
        build_config("Qwen/Qwen2.5-0.5B-Instruct", tmp_path / "folder")


def test_a_local_config_must_be_the_tables_architecture(tmp_path: Path) -> None:
    """--config builds random weights from a local config.json: one that differs from the table's row
    makes a file eco-validate refuses after the run (reference.parameter_count), so it is refused first."""
    from collector.errors import CollectError
    from collector.models import build_config, count_parameters

    model_id = "Qwen/Qwen2.5-0.5B-Instruct"
    row = dict(reference.architectures()[model_id])
    same = build_config(model_id).to_dict()
    (tmp_path / "same").mkdir()
    (tmp_path / "same" / "config.json").write_text(json.dumps(same), encoding="utf-8")
    assert count_parameters(build_config(model_id, tmp_path / "same")) == REF.models[model_id].parameter_count
    (tmp_path / "wider").mkdir()
    wider = {**same, "hidden_size": row["hidden_size"] * 2}
    (tmp_path / "wider" / "config.json").write_text(json.dumps(wider), encoding="utf-8")
    with pytest.raises(CollectError, match=r"not the architecture .* hidden_size 1792 \(the table: 896\)"):
        build_config(model_id, tmp_path / "wider")
    # untied embeddings (the row lists the tie) add the output layer's parameters
    (tmp_path / "untied").mkdir()
    untied = {**same, "tie_word_embeddings": not same.get("tie_word_embeddings", True)}
    (tmp_path / "untied" / "config.json").write_text(json.dumps(untied), encoding="utf-8")
    with pytest.raises(CollectError, match=r"tie_word_embeddings False \(the table: True\)"):
        build_config(model_id, tmp_path / "untied")
    # the row's sizes and hyperparameters, yet another count: a head_dim the row leaves out
    (tmp_path / "heads").mkdir()
    (tmp_path / "heads" / "config.json").write_text(json.dumps({**same, "head_dim": 128}), encoding="utf-8")
    with pytest.raises(CollectError, match=r"parameters \(the table: 494,032,768\)"):
        build_config(model_id, tmp_path / "heads")
    # the same sizes and count, another computation: rope_theta, a rope scaling, the context length
    for name, edit, shown in (
        ("theta", {"rope_theta": 10000.0}, r"rope_parameters \{'rope_theta': 10000.0"),
        ("scaled", {"rope_scaling": {"rope_type": "linear", "factor": 2.0}}, r"rope_parameters \{.*'linear'"),
        ("longer", {"max_position_embeddings": 131072}, r"max_position_embeddings 131072 \(the table: 32768\)"),
    ):
        (tmp_path / name).mkdir()
        other = {k: v for k, v in same.items() if k != "rope_parameters"} | edit
        (tmp_path / name / "config.json").write_text(json.dumps(other), encoding="utf-8")
        with pytest.raises(CollectError, match=r"not the architecture .*" + shown):
            build_config(model_id, tmp_path / name)
    mistral = "mistralai/Mistral-7B-Instruct-v0.2"  # its row says: no sliding window
    (tmp_path / "window").mkdir()
    window = build_config(mistral).to_dict() | {"sliding_window": 4096}
    (tmp_path / "window" / "config.json").write_text(json.dumps(window), encoding="utf-8")
    with pytest.raises(CollectError, match=r"sliding_window 4096 \(the table: None\)"):
        build_config(mistral, tmp_path / "window")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("[]", encoding="utf-8")
    with pytest.raises(CollectError, match=r"is not a config\.json transformers reads"):
        build_config(model_id, tmp_path / "broken")


def test_codeowners_protect_the_tables() -> None:
    owners = (ROOT / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    assert "/ecocompute/reference/" in owners


def _uncounted(d: dict, **sizes: object) -> dict:
    """A row of a model type whose parameters the loader does not count, with ``sizes`` set."""
    row = d["models"][0]
    return {**row, "id": "x/other", "model_type": "gpt2", "hyperparameters": {**row["hyperparameters"], **sizes}}


def _broken(tmp_path: Path, table: str, edit: object) -> Path:
    folder = tmp_path / "tables"
    shutil.copytree(TABLES, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = folder / table
    if isinstance(edit, bytes):
        path.write_bytes(edit)
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
        edit(data)  # type: ignore[operator]
        path.write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("table", "edit", "says"),
    [
        ("gpus.json", lambda d: d["gpus"].append(d["gpus"][0]), "listed twice"),
        ("gpus.json", lambda d: d["gpus"][0].update(memory_bandwidth_gb_s=float("nan")), "not valid JSON"),
        ("gpus.json", lambda d: d["gpus"][0].update(memory_mib="16 GB"), "memory_mib"),
        ("gpus.json", lambda d: d["gpus"][0].update(idle_w=[50, 10]), "idle lo"),
        ("gpus.json", lambda d: d["gpus"][0].update(boost_clock_mhz="2 GHz"), "boost_clock_mhz"),
        ("gpus.json", lambda d: d["gpus"][0].update(tensor_fp16_tflops="989"), "tensor_fp16_tflops"),
        ("gpus.json", lambda d: d["gpus"][0].update(tensor_int8_tops=0), "tensor_int8_tops"),
        ("gpus.json", lambda d: d["gpus"][0].update(name="T4\u202e"), "name"),
        ("models.json", lambda d: d["models"][0].update(parameter_count=1), "hyper-parameters give"),
        ("models.json", lambda d: d["models"][0]["hyperparameters"].pop("hidden_size"), "incomplete"),
        # a list where a size belongs: each product a repetition (14 GB from one row), in any model type
        ("models.json", lambda d: d["models"].append(_uncounted(d, num_hidden_layers=[0])), "num_hidden_layers must"),
        ("models.json", lambda d: d["models"][0]["hyperparameters"].update(hidden_size=4096.5), "hidden_size must"),
        ("collectors.json", lambda d: d["releases"][0].update(released="yesterday"), "released"),
        ("accepted.json", lambda d: d["files"][0].update(sha256="XYZ"), "sha256"),
        ("prompts.json", b"\xff\xfe", "not valid JSON"),
        ("gpus.json", b"[" * 2_000_000, "larger than"),
    ],
)
def test_a_broken_table_is_one_clear_error(tmp_path: Path, table: str, edit: object, says: str) -> None:
    with pytest.raises(ReferenceError, match=says):
        load(_broken(tmp_path, table, edit))


def test_the_loader_sees_an_edited_table(tmp_path: Path) -> None:
    folder = _broken(tmp_path, "gpus.json", lambda d: d)
    assert "NVIDIA Imaginary" not in reference.cached(str(folder)).gpus
    data = json.loads((folder / "gpus.json").read_text(encoding="utf-8"))
    data["gpus"].append({**data["gpus"][0], "name": "NVIDIA Imaginary", "source": "a test"})
    (folder / "gpus.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    assert "NVIDIA Imaginary" in reference.cached(str(folder)).gpus


def test_a_table_without_boost_clocks_keeps_the_universal_clock_limits(
    tmp_path: Path, valid_doc: dict[str, Any]
) -> None:
    """A pull request branched before the column: its table loads, and only the per-board ceiling is gone."""
    from validator import hardware

    def drop(d: dict[str, Any]) -> None:
        for row in d["gpus"]:
            row.pop("boost_clock_mhz")

    without = load(_broken(tmp_path, "gpus.json", drop))
    doc = json.loads(json.dumps(valid_doc))
    doc["measurements"][0]["trials"][4]["sm_clock_mhz_mean"] = 3900.0  # an H100 far above its 1,980 MHz
    sub = domain.parse(doc)
    assert without.gpus[sub.environment.gpu.name].boost_clock_mhz is None
    assert "physics.clocks" not in [f.code for f in hardware.check(sub, "f.json", without)]
    assert "physics.clocks" in [f.code for f in hardware.check(sub, "f.json", reference.default())]


def test_a_table_without_bus_widths_keeps_the_universal_memory_clock_limits(
    tmp_path: Path, valid_doc: dict[str, Any]
) -> None:
    from validator import hardware

    def drop(d: dict[str, Any]) -> None:
        for row in d["gpus"]:
            row.pop("memory_bus_bits")

    without = load(_broken(tmp_path, "gpus.json", drop))
    doc = json.loads(json.dumps(valid_doc))
    doc["measurements"][0]["trials"][4]["mem_clock_mhz_mean"] = 10501.0  # a 4090's GDDR6X on an H100
    sub = domain.parse(doc)
    assert without.gpus[sub.environment.gpu.name].memory_clock_mhz is None
    assert "physics.clocks" not in [f.code for f in hardware.check(sub, "f.json", without)]
    assert "physics.clocks" in [f.code for f in hardware.check(sub, "f.json", reference.default())]


@pytest.mark.parametrize(("board", "nvml_mhz"), [("NVIDIA H100 80GB HBM3", 2619), ("NVIDIA H200", 3201)])
def test_the_memory_clock_of_the_table_is_the_one_nvml_reads(board: str, nvml_mhz: float) -> None:
    """The boards we measured (shared/reference/gpu-probe.md and every trial in submissions/): the
    datasheet's bandwidth over the bus lands within 3 % of NVML's memory clock, inside the 10 % allowed."""
    derived = reference.default().gpus[board].memory_clock_mhz
    assert derived is not None and abs(nvml_mhz / derived - 1) < 0.03


@pytest.mark.parametrize(
    ("device_map", "rejected"), [({"": 0}, False), ({"model.embed_tokens": 0, "model.layers.0": 1, "lm_head": 2}, True)]
)
def test_the_memory_clock_floor_holds_for_the_boards_that_hold_modules(
    valid_doc: dict[str, Any], device_map: dict[str, int], rejected: bool
) -> None:
    """The sampler's memory clock is the mean over the measured boards, and a board the device map leaves
    empty idles: three GDDR boards, the model on the first, read (6,251 + 405 + 405) / 3 = 2,354 MHz, 38 %
    of the 6,250 an L4's datasheet gives; three loaded boards cannot read that little."""
    from dataclasses import replace

    from validator import hardware

    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    board = reference.default().gpus["NVIDIA L4"]
    trials = tuple(replace(t, mem_clock_mhz_mean=(6251 + 405 + 405) / 3) for t in m.trials)
    m3 = replace(m, trials=trials, placement=domain.Placement("device_map", device_map))
    sub3 = replace(sub, environment=replace(sub.environment, gpu=replace(sub.environment.gpu, count=3)))
    found = hardware._memory_clock(sub3, m3, board, "/measurements/0", "f.json")
    assert bool(found) is rejected


@pytest.mark.parametrize(("factor", "rejected"), [(1.19, False), (1.26, True)])
def test_memory_overclocked_by_hand_is_allowed_up_to_a_quarter(
    valid_doc: dict[str, Any], factor: float, rejected: bool
) -> None:
    """Desktop GDDR6X/GDDR7 is overclocked by hand (+1,500-2,000 MHz on a 4090 reads up to 1.19 x): still a
    measurement; a clock a quarter above the board's is none."""
    from validator import hardware

    doc = json.loads(json.dumps(valid_doc))
    board = reference.default().gpus["NVIDIA GeForce RTX 4090"]  # a data-centre board's HBM is not overclocked
    doc["environment"]["gpu"].update(name=board.name, architecture=board.architecture, compute_capability="8.9")
    rated = board.memory_clock_mhz
    assert rated is not None and not board.data_centre
    for t in (t for m in doc["measurements"] for t in m["trials"]):
        t["mem_clock_mhz_mean"] = float(round(rated))
    doc["measurements"][0]["trials"][4]["mem_clock_mhz_mean"] = factor * rated
    codes = [f.code for f in hardware.check(domain.parse(doc), "f.json", reference.default())]
    assert ("physics.clocks" in codes) is rejected


def test_every_accepted_file_passes_with_this_checkout_s_tables() -> None:
    """The tests run on every pull request, a table-only one too (validate-submission runs only when
    submissions/ changes): a table edit that makes an accepted file fail fails here, instead of taking the
    file out of the next release's build, which then refuses to publish."""
    from validator.run import exit_code, validate

    report = validate([ROOT / "submissions"])
    assert len(report.files) == len(list((ROOT / "submissions").rglob("*.json"))) >= len(REAL_FILES)
    assert exit_code(report) == 0, [f"{f.file}: {f.code}: {f.message}" for f in report.errors[:5]]
