"""history.outlier: a pull request's passing rows against the accepted rows of their configuration on
the same GPU model. A whole file scaled by one factor passes every single-file check (attack v6); the
accepted files are what is left to compare it with, as a warning for the maintainer."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from validator import outliers
from validator.check import check_data
from validator.findings import Severity
from validator.run import cross_file_findings, validate

ROOT = Path(__file__).resolve().parents[1]
REAL = sorted((ROOT / "submissions").glob("*/*.json"))


def _doc(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shared() -> tuple[tuple[object, ...], list[Path]]:
    """The configuration measured in the most real files, and those files."""
    files: dict[tuple[object, ...], list[Path]] = {}
    for path in REAL:
        for level in check_data(_doc(path), path.name).levels:
            files.setdefault(level.key, []).append(path)
    key = max(files, key=lambda k: (len(set(files[k])), str(k)))
    paths = sorted(set(files[key]))
    assert len(paths) >= 3, "the real files hold a configuration of three sessions"
    return key, paths


def _scaled(doc: dict[str, Any], factor: float, fields: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for m in out["measurements"]:
        if m["summary"] is not None:
            for name in fields:
                m["summary"][name] *= factor
    return out


def test_no_real_file_is_an_outlier_against_the_others() -> None:
    """Each real file against all the others as the accepted pool: none is named (the margin: real
    sessions of one configuration lie within 1.11 x of each other's median)."""
    checked = [check_data(_doc(p), p.name) for p in REAL]
    for i, c in enumerate(checked):
        found = cross_file_findings([c], checked[:i] + checked[i + 1 :])
        assert not [f for f in found if f.code == "history.outlier"], c.path


@pytest.mark.parametrize(
    ("factor", "fields", "quantity"),
    [
        (0.37, ("energy_per_token_j_mean", "net_energy_per_token_j_mean", "idle_power_w"), "energy_per_token_j_mean"),
        (2.5, ("throughput_tok_s_mean",), "throughput_tok_s_mean"),
        (1.8, ("idle_power_w",), "idle_power_w"),
    ],
)
def test_a_scaled_row_is_named_against_the_accepted_rows_of_its_configuration(
    shared: tuple[tuple[object, ...], list[Path]], factor: float, fields: tuple[str, ...], quantity: str
) -> None:
    key, paths = shared
    accepted = [check_data(_doc(p), p.name) for p in paths[1:]]
    candidate = check_data(_scaled(_doc(paths[0]), factor, fields), "pr.json")
    found = [f for f in cross_file_findings([candidate], accepted) if f.code == "history.outlier"]
    (index,) = [lv.index for lv in candidate.levels if lv.key == key]
    named = [f for f in found if f.pointer == f"/measurements/{index}/summary/{quantity}"]
    assert named and named[0].severity is Severity.WARNING
    shown = float(named[0].message.split(" x the median")[0].rsplit(" ", 1)[1])
    assert shown > outliers.OUTLIER_FACTOR or shown < 1 / outliers.OUTLIER_FACTOR


def test_one_accepted_row_is_no_reference_and_the_pull_requests_own_files_are_none(
    shared: tuple[tuple[object, ...], list[Path]],
) -> None:
    """A single accepted session is one board's word; candidates never vouch for each other (a pull
    request cannot bring its own majority)."""
    _, paths = shared
    scaled = check_data(_scaled(_doc(paths[0]), 0.37, ("energy_per_token_j_mean",)), "pr.json")
    others = [check_data(_doc(p), p.name) for p in paths[1:]]
    assert not [f for f in cross_file_findings([scaled], others[:1]) if f.code == "history.outlier"]
    assert not [f for f in cross_file_findings([scaled, *others], []) if f.code == "history.outlier"]


def test_the_warning_reaches_eco_validate_from_the_accepted_folder(
    tmp_path: Path, shared: tuple[tuple[object, ...], list[Path]]
) -> None:
    """Through validate(): the accepted folder is the reference; the scaled file is named (beside
    whatever else its edit broke), the honest one is not."""
    _, paths = shared
    accepted = tmp_path / "accepted" / "ecocompute-bot"
    accepted.mkdir(parents=True)
    for p in paths[1:]:
        (accepted / p.name).write_bytes(p.read_bytes())
    pr = tmp_path / "pr"
    pr.mkdir()
    honest, scaled = pr / "honest.json", pr / "scaled.json"
    honest.write_bytes(paths[0].read_bytes())
    scaled.write_text(json.dumps(_scaled(_doc(paths[0]), 0.37, ("energy_per_token_j_mean",))), encoding="utf-8")
    report = validate([honest, scaled], accepted_root=tmp_path / "accepted")
    named = Counter(Path(f.file).name for f in report.findings if f.code == "history.outlier")
    assert named["scaled.json"] >= 1 and named["honest.json"] == 0


def _on(gpu: str) -> outliers.Configuration:
    return outliers.Configuration(gpu, 1, "m", "pretrained", "fp16", "generate", 1, 128, 64)


def _q(gross: float, net: float, tok_s: float, idle_w: float) -> outliers.Quantities:
    return outliers.Quantities(gross, net, tok_s, idle_w)


def test_rows_that_did_not_pass_or_lack_a_configuration_match_are_not_compared() -> None:
    reference = {_on("H100"): [_q(1.0, 1.0, 1.0, 1.0), _q(1.1, 1.0, 1.0, 1.0)]}
    far = outliers.Level(_on("H100"), 0, _q(3.0, 1.0, 1.0, 1.0))
    other = outliers.Level(_on("H200"), 1, _q(3.0, 1.0, 1.0, 1.0))
    found = outliers.findings("f.json", [far, other], reference)
    assert [f.pointer for f in found] == ["/measurements/0/summary/energy_per_token_j_mean"]
    assert "2.86 x the median (1.05)" in found[0].message


def test_a_prompt_of_another_seed_is_the_same_configuration(shared: tuple[tuple[object, ...], list[Path]]) -> None:
    """Random prompt ids of another seed (their own hash, the same count) cost the same: keyed by the
    prompt's hash, attack v6's scaled file with seed 1 was a configuration of its own, compared with
    nothing (review 23)."""
    _, paths = shared
    doc = _doc(paths[0])
    other = copy.deepcopy(doc)
    vocab_source = other["protocol"]["prompt"]["source"].split(":")
    other["protocol"]["prompt"]["source"] = ":".join([vocab_source[0], "1", vocab_source[2]])
    other["protocol"]["prompt"]["sha256"] = "0" * 64
    keys = {lv.key for lv in check_data(doc, "a.json").levels}
    assert keys and keys == {lv.key for lv in check_data(other, "b.json").levels}


def test_net_energy_is_compared_only_where_it_is_at_least_half_of_gross() -> None:
    """Net energy magnifies idle power: a row whose net is a fifth of gross moves past 1.5 x on an honest
    host idling 10 % above the reference's; gross energy and idle power speak for it there (review 23)."""
    reference = {_on("H100"): [_q(1.0, 0.2, 1.0, 1.0), _q(1.0, 0.2, 1.0, 1.0)]}
    small_net = outliers.Level(_on("H100"), 0, _q(1.0, 0.1, 1.0, 1.05))  # net 10 % of gross: not compared
    assert outliers.findings("f.json", [small_net], reference) == []
    reference = {_on("H100"): [_q(1.0, 0.9, 1.0, 1.0), _q(1.0, 0.9, 1.0, 1.0)]}
    half_net = outliers.Level(_on("H100"), 0, _q(1.0, 0.55, 1.0, 1.0))  # net 0.61 x the median, 55 % of gross
    (found,) = outliers.findings("f.json", [half_net], reference)
    assert found.pointer == "/measurements/0/summary/net_energy_per_token_j_mean"


@pytest.mark.parametrize(
    ("far", "field", "said"),
    [
        (_q(3.0, 3.0, 1.0, 1.0), "energy_per_token_j_mean", "energy per token 3 is 3.00 x"),
        (_q(1.0, 0.6, 1.0, 1.0), "net_energy_per_token_j_mean", "net energy per token 0.6 is 0.60 x"),
        (_q(1.0, 1.0, 2.0, 1.0), "throughput_tok_s_mean", "throughput 2 is 2.00 x"),
        (_q(1.0, 1.0, 1.0, 0.5), "idle_power_w", "idle power 0.5 is 0.50 x"),
    ],
)
def test_each_quantity_is_named_by_its_summary_field_and_in_words(
    far: outliers.Quantities, field: str, said: str
) -> None:
    """The message and pointer of each compared quantity, as Quantities' annotations name them."""
    reference = {_on("H100"): [_q(1.0, 1.0, 1.0, 1.0), _q(1.0, 1.0, 1.0, 1.0)]}
    (found,) = outliers.findings("f.json", [outliers.Level(_on("H100"), 0, far)], reference)
    assert found.pointer == f"/measurements/0/summary/{field}"
    assert found.message.startswith(said), found.message


# attack v22 B1: a real H200 file relabelled as an H100 (its numbers untouched) passed every check
H100, H200 = "NVIDIA H100 80GB HBM3", "NVIDIA H200"
RELABEL_SOURCE = "ecocompute-bot-h200-20261124-130553.json"


def _as_h100(doc: dict[str, Any]) -> dict[str, Any]:
    """attackv22's relabel: name, memory size and clock, vbios and a fresh board hash; nothing measured."""
    out = copy.deepcopy(doc)
    out["environment"]["gpu"].update(
        name=H100, memory_total_mib=81559, vbios_version="96.00.DA.00.0C", uuid_sha256="ab" * 32
    )
    for m in out["measurements"]:
        for t in m.get("trials") or []:
            t["mem_clock_mhz_mean"] = 2619.0
    return out


def test_an_h200_file_relabelled_as_an_h100_is_named_against_the_fastest_accepted_h100_row() -> None:
    """The relabelled file passes every per-file check; its fp16 Qwen2.5-32B rows read 1.25-1.29 x the fastest
    accepted H100 row of their configuration (inside the median's 1.5 x), and the warning names both rows."""
    (source,) = [p for p in REAL if p.name == RELABEL_SOURCE]
    candidate = check_data(_as_h100(_doc(source)), "pr.json")
    assert not [f for f in candidate.findings if f.severity is Severity.ERROR]
    accepted = [check_data(_doc(p), p.name) for p in REAL if p != source]
    found = [f for f in cross_file_findings([candidate], accepted) if f.code == "history.outlier"]
    assert found and all(f.severity is Severity.WARNING for f in found)
    first = found[0]
    assert first.pointer == "/measurements/0/summary/throughput_tok_s_mean"
    assert "43.15 tok/s is 1.29 x the fastest accepted row" in first.message
    assert "ecocompute-bot-h100-80gb-hbm3-20261124-153601.json measurement 0" in first.message
    assert "33.37 tok/s" in first.message and "H200 as an H100" in first.message


def _level(throughput: float, engine: str = "cuda-graph", index: int = 0) -> outliers.Level:
    key = outliers.Configuration(H100, 1, "m", "random_init", "fp16", engine, 1, 128, 64)
    return outliers.Level(key, index, _q(1.0, 1.0, throughput, 100.0))


def test_the_fastest_row_is_indexed_once_and_one_accepted_row_is_enough() -> None:
    fastest = outliers.fastest_of([("a.json", [_level(10.0)]), ("b.json", [_level(12.0, index=3)])])
    (best,) = fastest.values()
    assert (best.throughput_tok_s, best.path, best.index) == (12.0, "b.json", 3)
    assert outliers.findings("pr.json", [_level(12.0 * 1.19)], {}, fastest) == []
    (found,) = outliers.findings("pr.json", [_level(12.0 * 1.21)], {}, fastest)
    assert "1.21 x the fastest" in found.message and "b.json measurement 3" in found.message


def test_host_paced_rows_are_not_held_to_the_fastest() -> None:
    """generate() rows are paced by the host CPU, which drifts between runs of one VM: not compared."""
    fastest = outliers.fastest_of([("a.json", [_level(10.0, "generate")])])
    assert fastest == {}
    assert outliers.findings("pr.json", [_level(20.0, "generate")], {}, fastest) == []


def test_one_warning_a_row_the_median_first() -> None:
    """A row beyond the median's 1.5 x is named for that; the fastest check does not name it again."""
    slow = _level(10.0)
    reference = {slow.key: [slow.values, slow.values]}
    fastest = outliers.fastest_of([("a.json", [slow])])
    (found,) = outliers.findings("pr.json", [_level(16.0)], reference, fastest)
    assert "x the median" in found.message


def test_no_real_row_is_near_the_fastest_factor() -> None:
    """Leave-one-out over the real files: no passing row exceeds REAL_FASTEST_SPREAD (1.04, which the warning
    quotes; measured 1.038) x the fastest other file's row of its configuration, against FASTEST_FACTOR 1.2."""
    checked = [check_data(_doc(p), p.name) for p in REAL]
    worst = 0.0
    for i, c in enumerate(checked):
        fastest = outliers.fastest_of([(o.path, o.levels) for o in checked[:i] + checked[i + 1 :]])
        for level in c.levels:
            if level.key in fastest:
                worst = max(worst, level.values.throughput_tok_s_mean / fastest[level.key].throughput_tok_s)
    assert 1.0 < worst <= outliers.REAL_FASTEST_SPREAD < outliers.FASTEST_FACTOR
