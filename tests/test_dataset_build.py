"""Dataset build: local folders instead of the Hub, loaded back with datasets.load_dataset."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import synthetic
import yaml
from conftest import FIXTURES, ROOT, forget_drawn_figures
from datasets import Features, load_dataset

from dataset_card import build as build_module
from dataset_card import checks
from dataset_card.build import BuildError, build
from ecocompute import stats
from ecocompute.columns import CONFIGS
from validator.check import check_file
from validator.findings import Severity

LEGACY = ROOT / "legacy"
REAL = FIXTURES / "valid" / "h100-mistral7b-random-sweep.json"
MIXED = FIXTURES / "valid" / "synthetic-ok-gatefailed-skipped.json"


def _submissions(tmp_path: Path, *files: Path) -> Path:
    folder = tmp_path / "repo" / "submissions"
    for f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        target = folder / doc["contributor"]["handle"] / f"{doc['submission_id']}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """A build of REAL and MIXED in <root>/out/llm-energy from <root>/repo/submissions, made once for
    the tests of this module, which only read it."""
    root = tmp_path_factory.mktemp("built")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(root)
        subs = _submissions(root, REAL, MIXED)
        out = root / "out" / "llm-energy"
        build(subs, LEGACY, out, version="1.2.3", changelog=ROOT / "DATA_CHANGELOG.md")
    docs = [json.loads(p.read_text()) for p in (REAL, MIXED)]
    return out, docs


def test_every_config_loads_with_declared_features_and_counts(built: tuple[Path, list[dict]]) -> None:
    out, docs = built
    expected = {
        "measurements": sum(len(d["measurements"]) for d in docs),
        "trials": sum(len(m["trials"]) for d in docs for m in d["measurements"]),
        "submissions": 2,
        "legacy": 70 + sum(1 for _ in csv.DictReader((LEGACY / "published_aggregates.csv").open())),
    }
    for name, schema in CONFIGS.items():
        ds = load_dataset(str(out), name, split="train")
        assert ds.num_rows == expected[name], name
        assert ds.features == Features.from_arrow_schema(schema), name
    default = load_dataset(str(out), split="train")
    assert default.column_names == CONFIGS["measurements"].names


def test_rebuild_is_byte_identical(
    built: tuple[Path, list[dict]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = built
    root = out.parent.parent
    monkeypatch.chdir(root)  # where the first build ran
    again = tmp_path / "again"
    forget_drawn_figures()  # the report's figures drawn again, not copied from the first build
    build(root / "repo" / "submissions", LEGACY, again, version="1.2.3", changelog=ROOT / "DATA_CHANGELOG.md")
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first == second
    files = {p.as_posix() for p in first}
    report_figures = {f for f in files if f.startswith("figures/report/")}
    assert files - report_figures == {
        ".eco-dataset-build",
        "README.md",
        "figures/energy_per_request_by_batch_size.png",
        "figures/energy_per_token_by_precision.png",
        *(f"{name}/train-00000-of-00001.parquet" for name in CONFIGS),
    }
    card = first[Path("README.md")].decode("utf-8")
    assert report_figures and set(re.findall(r"\]\((figures/report/[^)]+\.png)\)", card)) == report_figures


def test_card_front_matter_matches_parquet(built: tuple[Path, list[dict]]) -> None:
    out, _ = built
    text = (out / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["license"] and meta["pretty_name"] and meta["tags"] and meta["size_categories"] == ["n<1K"]
    defaults = [c["config_name"] for c in meta["configs"] if c.get("default")]
    assert defaults == ["measurements"]
    import pyarrow.parquet as pq

    for info in meta["dataset_info"]:
        schema = pq.read_schema(out / info["config_name"] / "train-00000-of-00001.parquet")
        assert Features._from_yaml_list(info["features"]) == Features.from_arrow_schema(schema)
    for schema in CONFIGS.values():
        for column in schema.names:
            assert f"`{column}`" in text
    assert "Version **1.2.3**" in text and "@misc{ecocompute_llm_energy" in text and 'revision="v1.2.3"' in text


def test_rows_are_flattened_faithfully(built: tuple[Path, list[dict]]) -> None:
    out, docs = built
    df = load_dataset(str(out), split="train").to_pandas()
    mixed = df[df["submission_id"] == docs[1]["submission_id"]].set_index("batch_size")  # fp16 at batch 1, 8, 16
    fp16 = docs[1]["measurements"][0]
    assert mixed.loc[1, "energy_per_1k_tokens_j"] == pytest.approx(1000 * fp16["summary"]["energy_per_token_j_mean"])
    assert mixed.loc[1, "energy_vs_fp16"] == pytest.approx(1.0)
    real = df[df["submission_id"] == docs[0]["submission_id"]]  # the synthetic file uses the same board
    real_int8 = real[(real["precision"] == "int8") & (real["batch_size"] == 1)]
    real_fp16 = real[(real["precision"] == "fp16") & (real["batch_size"] == 1)]
    ratio = real_int8["energy_per_token_j"].iloc[0] / real_fp16["energy_per_token_j"].iloc[0]
    assert real_int8["energy_vs_fp16"].iloc[0] == pytest.approx(ratio)
    skipped = mixed[mixed["status"] == "skipped"].iloc[0]
    assert pd.isna(skipped["energy_per_1k_tokens_j"]) and "out of memory" in skipped["skip_reason"]
    assert set(real["status"]) == {"gate_failed"} and set(real["weights"]) == {"random_init"}
    int8 = real[(real["precision"] == "int8") & (real["batch_size"] == 1)].iloc[0]
    assert "under-stated" in int8["notes"]


def test_legacy_rows_are_imported_unchanged(built: tuple[Path, list[dict]]) -> None:
    out, _ = built
    legacy = load_dataset(str(out), "legacy", split="train").to_pandas().set_index("legacy_id")
    first = next(csv.DictReader((LEGACY / "a800_mistral7b_pure_int8_batch_size_raw_20260215_131345.csv").open()))
    row = legacy.loc["a800-batch-sweep-bs001-t00"]
    assert row["energy_j"] == float(first["total_energy_j"]) and row["energy_basis"] == "gross"
    assert set(legacy["validation"].str[:13]) == {"not validated"}
    assert set(legacy.loc[legacy["gpu"] == "NVIDIA GeForce RTX 4090 D", "energy_basis"]) == {"net"}


def test_invalid_submission_fails_the_build_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    subs = _submissions(tmp_path, MIXED)
    bad = json.loads(MIXED.read_text())
    bad["submission_id"] = "tampered-0001"
    bad["measurements"][0]["summary"]["power_w_std"] = 0.0
    (subs / "synthetic-bot" / "tampered-0001.json").write_text(json.dumps(bad))
    with pytest.raises(BuildError, match=r"stats\.mismatch"):
        build(subs, LEGACY, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_summary_within_the_validators_tolerance_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """eco-validate accepts a stated summary that lies within stats.close of its trials; the build, whose
    report checks each row's energy per token against its trials' mean and each fp16 ratio against its
    rows, must accept it too (it refused 5e-7 as "altered after its build", blocking every release)."""
    monkeypatch.chdir(tmp_path)
    doc = synthetic.submission(seed=5, n_measurements=8, n_trials=7)
    assert {m["precision"] for m in doc["measurements"]} == {"fp16", "int8"}  # ratios to fp16 are drawn
    for m in doc["measurements"]:
        m["summary"]["energy_per_token_j_mean"] *= 1 + (9e-7 if m["precision"] == "fp16" else -9e-7)
    path = tmp_path / "repo" / "submissions" / "synthetic-bot" / f"{doc['submission_id']}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc, sort_keys=True) + "\n")
    assert [f.code for f in check_file(path).findings if f.severity is Severity.ERROR] == []
    build(path.parent.parent, LEGACY, tmp_path / "out")
    built = pq.read_table(tmp_path / "out" / "measurements").to_pylist()
    assert sum(r["energy_vs_fp16"] is not None and r["precision"] != "fp16" for r in built) == 4


def _at_the_tolerance_edge() -> dict:
    """A synthetic file whose stated energy per token is the last float eco-validate's test accepts
    against the exact (fsum) mean of its gate window, on the side away from Arrow's grouped mean of the
    same trials, which differs from it by rounding."""
    for seed in range(200):
        doc = synthetic.submission(seed=seed, n_measurements=1, n_trials=10)
        m = doc["measurements"][0]
        ept = [t["energy_j"] / t["generated_tokens"] for t in m["trials"] if t["role"] == "measured"]
        grouped = pa.table({"k": [0] * len(ept), "v": ept}).group_by("k", use_threads=False).aggregate([("v", "mean")])
        exact, arrow = stats.mean(ept), grouped.column("v_mean")[0].as_py()
        if exact == arrow:
            continue
        away = math.inf if arrow < exact else -math.inf
        stated = exact * (1 + math.copysign(0.999999e-6, away))  # a few thousand floats inside the edge
        while stats.close(math.nextafter(stated, away), exact):
            stated = math.nextafter(stated, away)
        assert not stats.close(stated, arrow)  # what the report's check refused
        m["summary"]["energy_per_token_j_mean"] = stated
        return doc
    raise AssertionError("no synthetic file whose fsum and Arrow means differ")


def test_a_summary_at_the_edge_of_the_tolerance_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, at the very edge: eco-validate's exact mean and the report's Arrow mean differ by a few
    units in the last place, which must not turn an accepted file into a failed build."""
    monkeypatch.chdir(tmp_path)
    doc = _at_the_tolerance_edge()
    path = tmp_path / "repo" / "submissions" / "synthetic-bot" / f"{doc['submission_id']}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc, sort_keys=True) + "\n")
    assert [f.code for f in check_file(path).findings if f.severity is Severity.ERROR] == []
    build(path.parent.parent, LEGACY, tmp_path / "out")


def test_pandera_failure_names_the_rule_and_rows(built: tuple[Path, list[dict]]) -> None:
    out, _ = built
    tables = {name: load_dataset(str(out), name, split="train").data.table for name in CONFIGS}
    net = tables["measurements"].column("net_energy_per_1k_tokens_j").to_pylist()
    net[0] = 1e9
    i = tables["measurements"].schema.get_field_index("net_energy_per_1k_tokens_j")
    tables["measurements"] = tables["measurements"].set_column(i, "net_energy_per_1k_tokens_j", pa.array(net))
    bad_id = tables["measurements"].column("measurement_id")[0].as_py()
    orphan = tables["trials"].slice(0, 1).set_column(1, "measurement_id", pa.array(["f" * 64]))
    tables["trials"] = pa.concat_tables([tables["trials"], orphan.cast(tables["trials"].schema)])
    with pytest.raises(checks.BuildCheckError, match="net energy must not exceed gross") as info:
        checks.check(tables)
    assert bad_id in str(info.value)
    assert f"trials: measurement_id not in measurements: ['{'f' * 64}']" in str(info.value)


def test_submission_provenance_hashes_the_committed_bytes(built: tuple[Path, list[dict]]) -> None:
    import hashlib

    out, _ = built
    subs = load_dataset(str(out), "submissions", split="train").to_pandas()
    for row in subs.itertuples():
        committed = out.parent.parent / "repo" / row.file_path
        assert row.file_path.startswith("submissions/")
        assert row.file_sha256 == hashlib.sha256(committed.read_bytes()).hexdigest()


def test_output_does_not_depend_on_how_files_are_split_among_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synthetic

    from ecocompute import parallel

    monkeypatch.chdir(tmp_path)
    subs = _submissions(tmp_path, REAL, MIXED)
    for seed in range(5):
        doc = synthetic.submission(seed=seed, n_measurements=3, n_trials=7)
        (subs / "synthetic-bot" / f"{doc['submission_id']}.json").write_text(json.dumps(doc, sort_keys=True) + "\n")
    build(subs, LEGACY, tmp_path / "serial")
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 1)
    monkeypatch.setattr(parallel, "CHUNK", 2)  # 7 files: chunks of 2, 2, 2, 1 across processes
    monkeypatch.setattr(build_module, "REPORT_ASIDE_MIN_ROWS", -1)  # the report drawn in a process beside
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)  # forked even on a one-CPU machine
    forget_drawn_figures()  # drawn anew there, not copied from the serial build's
    build(subs, LEGACY, tmp_path / "chunked")
    serial = {
        p.relative_to(tmp_path / "serial"): p.read_bytes() for p in (tmp_path / "serial").rglob("*") if p.is_file()
    }
    chunked = {
        p.relative_to(tmp_path / "chunked"): p.read_bytes() for p in (tmp_path / "chunked").rglob("*") if p.is_file()
    }
    assert serial == chunked
    measurements = load_dataset(str(tmp_path / "chunked"), split="train")
    assert measurements.num_rows == 15 + sum(len(json.loads(f.read_text())["measurements"]) for f in (REAL, MIXED))


@pytest.mark.parametrize("failure", ["raises", "dies"])
def test_a_report_failing_beside_the_build_fails_it_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """The report's process raising, or dying without a word, fails the build with that error or one
    line saying so: no output folder, no staging folder left behind (the build waits for the process
    before removing its staging folder)."""
    import os

    from dataset_card import report

    def broken(*_args: object) -> str:
        if failure == "dies":
            os._exit(3)
        raise RuntimeError("the report broke")

    from ecocompute import parallel

    if not parallel._can_fork():
        pytest.skip("the report runs beside the build only where the platform can fork")
    monkeypatch.setattr(build_module, "REPORT_ASIDE_MIN_ROWS", -1)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)  # forked even on a one-CPU machine
    monkeypatch.setattr(report, "write", broken)
    subs = _submissions(tmp_path, MIXED)
    expected = (RuntimeError, "the report broke") if failure == "raises" else (BuildError, "ended unexpectedly")
    with pytest.raises(expected[0], match=expected[1]):
        build(subs, LEGACY, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # the submissions, nothing beside them


@pytest.mark.parametrize("late_s", [1.0, 600.0])
def test_a_failed_build_ends_the_report_before_removing_its_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, late_s: float
) -> None:
    """The checks fail at once while the report's process is still drawing (or hangs): the build ends
    that process, so no figure lands late in a recreated staging folder, and a hung report does not
    hold the failed build."""
    import time

    from dataset_card import report
    from ecocompute import parallel

    if not parallel._can_fork():
        pytest.skip("the report runs beside the build only where the platform can fork")

    def late(_tables: object, staging: Path, _source: str) -> str:
        time.sleep(late_s)
        (staging / "figures" / "report").mkdir(parents=True, exist_ok=True)
        (staging / "figures" / "report" / "late.png").write_bytes(b"late")
        return ""

    def failing(_tables: object) -> None:
        raise checks.BuildCheckError("dataset checks failed, nothing written: a rule")

    monkeypatch.setattr(build_module, "REPORT_ASIDE_MIN_ROWS", -1)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(report, "write", late)
    monkeypatch.setattr(checks, "check", failing)
    subs = _submissions(tmp_path, MIXED)
    started = time.monotonic()
    with pytest.raises(BuildError, match="a rule"):
        build(subs, LEGACY, tmp_path / "out")
    assert time.monotonic() - started < 60  # not held by the report's 600 s
    if late_s < 60:  # past the late write, had the build left the process running
        time.sleep(max(0.0, started + late_s + 0.5 - time.monotonic()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def test_fp16_reference_is_the_same_configuration_with_missing_keys_matching() -> None:
    from ecocompute.rows import FP16_KEY, fp16_ratios

    def row(mid: str, precision: str, energy: float | None, revision: str | None, batch: int) -> dict:
        values = dict.fromkeys(FP16_KEY, "k")
        values.update(model_revision=revision, batch_size=batch)
        return {
            **values,
            "measurement_id": mid,
            "precision": precision,
            "energy_per_token_j": energy,
            "throughput_tok_s": None if energy is None else 10.0 / energy,
        }

    rows = [
        row("b", "fp16", 2.0, None, 1),
        row("a", "fp16", 4.0, None, 1),  # two fp16 sessions: the smaller id is the reference
        row("c", "nf4", 1.0, None, 1),
        row("d", "nf4", 1.0, None, 8),  # no fp16 at batch 8
        row("e", "int8", None, None, 1),  # no summary (skipped)
        row("f", "fp16", None, "x" * 40, 1),  # an fp16 row without a summary is no reference
        row("g", "int8", 3.0, "x" * 40, 1),
    ]
    columns = {key: [r[key] for r in rows] for key in rows[0]}
    energy_vs, throughput_vs = fp16_ratios(columns)
    assert energy_vs == [0.5, 1.0, 0.25, None, None, None, None]
    assert throughput_vs == [2.0, 1.0, 4.0, None, None, None, None]


def test_a_row_that_misses_a_column_is_a_bug_not_a_null() -> None:
    from dataset_card import writer

    row = dict.fromkeys(CONFIGS["submissions"].names)
    del row["power_reading"]
    with pytest.raises(ValueError, match="power_reading"):
        writer.unsorted_table([row], CONFIGS["submissions"])
    whole = dict.fromkeys(CONFIGS["submissions"].names)
    with pytest.raises(ValueError, match="power_reading"):  # any row, not only the first
        writer.unsorted_table([whole, row], CONFIGS["submissions"])
    with pytest.raises(ValueError, match="misspelt"):
        writer.unsorted_table([whole, {**whole, "misspelt": 1}], CONFIGS["submissions"])


def test_the_builds_workers_send_back_no_outlier_levels(tmp_path: Path) -> None:
    """history.outlier compares a pull request with an accepted pool; the build has none, so its workers
    drop each file's levels rather than pickle 100,000 of them to a parent that never reads them."""
    folder = tmp_path / "submissions"
    (folder / "ecocompute-bot").mkdir(parents=True)
    # the newest real file with passing rows (a file of gate_failed rows only has no levels to drop)
    real = next(
        p for p in sorted((ROOT / "submissions" / "ecocompute-bot").glob("*.json"))[::-1] if check_file(p).levels
    )
    shutil.copy(real, folder / "ecocompute-bot" / real.name)
    (checked,), _ = build_module._check_and_flatten(folder, [folder / "ecocompute-bot" / real.name])
    assert checked.accepted and checked.levels == ()
