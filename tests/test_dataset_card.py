"""The dataset card as a researcher reads it: every column explained from the schema's metadata,
results that match the rows, figures, snippets that run, licences, the data changelog."""

from __future__ import annotations

import json
import re
import shutil
import statistics
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FIXTURES, ROOT
from hypothesis import given
from hypothesis import strategies as st

from dataset_card import card, legacy
from dataset_card.build import BuildError, build, changelog_entries
from ecocompute import columns
from ecocompute.columns import CONFIGS

REAL = FIXTURES / "valid" / "h100-mistral7b-random-sweep.json"
MIXED = FIXTURES / "valid" / "synthetic-ok-gatefailed-skipped.json"
_UNIT_TOKENS = {
    "j": "J",
    "w": "W",
    "s": "s",
    "pct": "%",
    "mib": "MiB",
    "gib": "GiB",
    "c": "°C",
    "mhz": "MHz",
    "hz": "Hz",
}


def _unit_problems(schema: pa.Schema) -> list[str]:
    """What a column declaration lacks: a meaning, a unit for a number, the unit its name spells."""
    problems = []
    for f in schema:
        unit, meaning = columns.unit(f), columns.description(f)
        if not meaning.strip():
            problems.append(f"{f.name}: no description")
        numeric = pa.types.is_floating(f.type) or (pa.types.is_list(f.type) and pa.types.is_floating(f.type.value_type))
        if numeric and not unit:
            problems.append(f"{f.name}: a number without a unit")
        tokens = f.name.split("_")
        spelled = next((t for t in reversed(tokens) if t in _UNIT_TOKENS), None)
        if spelled == "s" and tokens[tokens.index("s") - 1 : tokens.index("s")] == ["tok"]:
            expected = "tokens/s"
        else:
            expected = _UNIT_TOKENS.get(spelled or "")
        if expected and expected not in unit:
            problems.append(f"{f.name}: its name says {expected}, its unit is {unit!r}")
    return problems


def test_every_column_has_a_meaning_and_the_unit_its_name_spells() -> None:
    for name, schema in CONFIGS.items():
        assert _unit_problems(schema) == [], name
    assert columns.unit(CONFIGS["trials"].field("sm_clock_mhz_mean")) == "MHz"


def test_the_unit_rule_catches_an_undocumented_column() -> None:
    bad = pa.schema(
        [
            pa.field("fan_speed_pct", pa.float64()),
            pa.field("clock_mhz_mean", pa.float64(), metadata={b"unit": b"Hz", b"description": b"x"}),
        ]
    )
    assert _unit_problems(bad) == [
        "fan_speed_pct: no description",
        "fan_speed_pct: a number without a unit",
        "fan_speed_pct: its name says %, its unit is ''",
        "clock_mhz_mean: its name says MHz, its unit is 'Hz'",
    ]


def test_every_column_the_card_text_names_is_a_column_of_the_dataset() -> None:
    # The template's prose (protocol, limitations) names columns in backticks; a renamed or invented
    # one would send a researcher looking for nothing. `config.column` names its config.
    text = (ROOT / "dataset_card" / "templates" / "README.md.tmpl").read_text(encoding="utf-8")
    values = {"gate_failed", "power_integration"}  # a status and an energy method, not columns
    named = set(re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z]+\.[a-z0-9_]+)`", text)) - values
    assert {"warmup_max_trials", "warmup_settle_pct", "stopped_by"} <= named
    missing = []
    for name in sorted(named):
        config, _, column = name.rpartition(".")
        schemas = [CONFIGS[config]] if config else list(CONFIGS.values())
        if not any(column in schema.names for schema in schemas):
            missing.append(name)
    assert missing == []


def test_the_legacy_energy_column_says_what_its_rows_are() -> None:
    meaning = columns.description(CONFIGS["legacy"].field("energy_per_1k_tokens_j"))
    assert "energy_basis" in meaning and "gate window" not in meaning.replace("define no gate window", "")


def _submissions(root: Path) -> Path:
    folder = root / "repo" / "submissions"
    for f in (REAL, MIXED):
        doc = json.loads(f.read_text(encoding="utf-8"))
        target = folder / doc["contributor"]["handle"] / f"{doc['submission_id']}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return folder


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A release build at <root>/build/llm-energy and a local (dev) build of the same two files at
    <root>/elsewhere/my-build: a card names neither."""
    out = {}
    for kind, version, folder in (("release", "1.2.3", card.LOCAL_BUILD), ("dev", None, "elsewhere/my-build")):
        root = tmp_path_factory.mktemp(kind)
        build(_submissions(root), ROOT / "legacy", root / folder, version=version, changelog=ROOT / "DATA_CHANGELOG.md")
        out[kind] = root / folder
    return out


def _text(out: Path) -> str:
    return (out / "README.md").read_text(encoding="utf-8")


def test_the_card_renders_every_column_from_its_metadata(builds: dict[str, Path]) -> None:
    text = _text(builds["release"])
    for name, schema in CONFIGS.items():
        stored = pq.read_schema(builds["release"] / name / "train-00000-of-00001.parquet")
        for f in schema:
            assert stored.field(f.name).metadata == f.metadata, (name, f.name)
            assert (
                f"| `{f.name}` | {f.type} | {card.cell(columns.unit(f))} | {card.cell(columns.description(f))} |"
                in text
            )


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("kind", ["release", "dev"])
def test_the_card_snippets_run_against_the_build(
    kind: str, builds: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = builds[kind]
    text = _text(out)
    real_load = datasets.load_dataset
    hub_calls: list[dict[str, Any]] = []

    def load(path: str, *args: Any, revision: str | None = None, **kwargs: Any) -> Any:
        if path == "ecocompute/llm-energy":  # no network here: the Hub release is this build
            hub_calls.append({"revision": revision})
            path = str(out)
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", load)
    # the local snippet loads the folder the card is in, run there; run in a checkout's root, the default build
    monkeypatch.chdir(out if kind == "dev" else out.parent.parent)
    blocks = _code_blocks(text)
    assert len(blocks) == 3 and ("ecocompute/llm-energy" in blocks[0]) == (kind == "release")
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    revisions = {c["revision"] for c in hub_calls}
    assert revisions == ({"v1.2.3"} if kind == "release" else {None}) and len(hub_calls) == 3
    assert "revision=" not in text or kind == "release"
    behind = namespace["behind"]
    assert behind.num_rows == 1 and f"`{behind[0]['measurement_id'][:12]}`" in text
    assert "trials in its gate window" in capsys.readouterr().out


def test_a_card_built_elsewhere_loads_its_own_folder_and_names_no_path(
    builds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local snippet named build/llm-energy whatever --out was: run beside a card built into another folder,
    it loaded an older build there, or failed. It loads the card's own folder and names no path, so the card is
    the same bytes wherever it is built (test_rebuild_is_byte_identical)."""
    out = builds["dev"]
    text = _text(out)
    assert str(out) not in text and "my-build" not in text and 'build = "build/llm-energy"' not in text
    monkeypatch.chdir(out)
    local = _code_blocks(text)[0]
    assert "ecocompute/llm-energy" not in local
    namespace: dict[str, Any] = {}
    exec(compile(local, "README.md", "exec"), namespace)
    assert (
        namespace["rows"].num_rows == pq.read_metadata(out / "measurements" / "train-00000-of-00001.parquet").num_rows
    )


def _results_lines(text: str) -> list[dict[str, str]]:
    section = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    tables = [t for t in section.split("\n\n") if t.startswith("| engine |")]
    out = []
    for table in tables:
        header, _, *rows = table.splitlines()
        names = [c.strip() for c in header.strip("|").split("|")]
        out += [dict(zip(names, (c.strip() for c in row.strip("|").split("|")), strict=True)) for row in rows]
    return out


def test_results_are_the_rows_medians_with_the_rows_named(builds: dict[str, Path]) -> None:
    out = builds["release"]
    rows = pq.read_table(out / "measurements" / "train-00000-of-00001.parquet").to_pylist()
    lines = _results_lines(_text(out))
    assert sum(int(line["n"]) for line in lines) == len(rows)
    seen = set()
    for line in lines:
        prefixes = re.findall(r"`([0-9a-f]{12})`", line["rows behind it"])
        behind = [r for r in rows if r["measurement_id"][:12] in prefixes]
        assert len(behind) == int(line["n"]) and {r["engine"] for r in behind} == {line["engine"]}
        assert {r["precision"] for r in behind} == {line["precision"]} and {r["batch_size"] for r in behind} == {
            int(line["batch"])
        }
        for column, label in (
            ("energy_per_1k_tokens_j", "J/1k tok gross"),
            ("net_energy_per_1k_tokens_j", "J/1k tok net"),
            ("throughput_tok_s", "tok/s"),
            ("energy_vs_fp16", "energy vs fp16 (gross)"),
        ):
            values = [r[column] for r in behind if r[column] is not None]
            expected = card._fmt(column, statistics.median(values) if values else None)
            assert line[label].split(" (")[0] == expected, (line, column)
        assert all(r["status"] in line["status"] for r in behind)
        seen.update(r["measurement_id"] for r in behind)
    assert len(seen) == len(rows)
    skipped = next(line for line in lines if "skipped" in line["status"])
    assert skipped["J/1k tok gross"] == "—"


def test_figures_are_in_the_build_embedded_and_carry_no_software_or_time_tag(builds: dict[str, Path]) -> None:
    out = builds["release"]
    embedded = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", _text(out))
    own = [p for p in embedded if p.count("/") == 1]  # the report's are in figures/report/ (test_dataset_report)
    assert len(own) == 2 and len(embedded) > 2
    assert set(embedded) == {p.relative_to(out).as_posix() for p in (out / "figures").rglob("*.png")}
    for path in embedded:
        data = (out / path).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert b"tIME" not in data and b"Software" not in data and b"matplotlib" not in data.lower()


def test_the_report_says_when_no_ratio_is_an_estimate(builds: dict[str, Path]) -> None:
    text = _text(builds["release"])  # its one ok row is an fp16 row: no ratio has both rows ok
    assert "Rows: 1 ok, 9 gate_failed, 1 skipped. Estimates use rows with status ok (1 row);" in text
    assert "**No ratio to fp16 has both its rows with status ok: no ratio or crossover below is an estimate.**" in text


def test_licences_are_explicit(builds: dict[str, Path]) -> None:
    text = _text(builds["release"])
    assert "CC-BY-4.0" in text and "Apache-2.0" in text and "license: cc-by-4.0" in text
    sources = legacy.sources(
        ROOT / "legacy",
        pq.read_table(builds["release"] / "legacy" / "train-00000-of-00001.parquet")
        .column("source_document")
        .to_pylist(),
    )
    assert {s.document for s in sources} >= {"COMPLETE_DATASET_MEMO.md", "a800_metadata.json"}
    for s in sources:
        assert f"| {card.cell(s.document)} | {s.rows} | {card.cell(s.licence)} |" in text
    assert "MIT (stated in a800\\_metadata.json)" in text and "10.5281/zenodo.18900289" in text
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "CC-BY-4.0" in (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert "CC-BY-4.0" in (ROOT / ".github" / "PULL_REQUEST_TEMPLATE.md").read_text(encoding="utf-8")


def _changelog(out: Path) -> str:
    return _text(out).split("## Changelog", 1)[1].split("\n## Citation", 1)[0]


def test_the_card_changelog_is_the_data_changelog(builds: dict[str, Path]) -> None:
    """A release's card shows the 'Unreleased' section headed with the version it releases (its card
    said 'Unreleased' of the release itself); a local build's card shows it as written."""
    entries = changelog_entries(ROOT / "DATA_CHANGELOG.md")
    assert entries.startswith("### Unreleased\n") and entries in _changelog(builds["dev"])
    section = _changelog(builds["release"])
    assert entries.replace("### Unreleased\n", "### 1.2.3\n", 1) in section and "### Unreleased" not in section
    tools = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "--schedule auto" in tools and "--schedule" not in section


def test_only_the_first_unreleased_heading_takes_the_version_and_the_file_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "DATA_CHANGELOG.md"
    text = "# Data\n\nintro\n\n## [Unreleased] \n- new rows\n\n## 1.0.0\n- first\n## Unreleased\n"
    path.write_text(text, encoding="utf-8")
    assert changelog_entries(path, version="1.1.0") == "### 1.1.0\n- new rows\n\n### 1.0.0\n- first\n### Unreleased"
    assert changelog_entries(path).startswith("### [Unreleased] \n- new rows")
    assert path.read_text(encoding="utf-8") == text


def test_a_changelog_with_a_byte_order_mark_keeps_its_first_section(tmp_path: Path) -> None:
    path = tmp_path / "DATA_CHANGELOG.md"
    path.write_text("\ufeff## Unreleased\n- new rows\n## 1.0.0\n- first\n", encoding="utf-8")
    assert changelog_entries(path, version="1.1.0") == "### 1.1.0\n- new rows\n### 1.0.0\n- first"


# \x0c, \x0b, \x1c, \x85, U+2028: str.splitlines broke the line there, so the check never saw them;
# \x9b (C1 CSI), U+200F, U+061C, U+200B were not in its list.
@pytest.mark.parametrize(
    "hidden",
    [
        "\x1b[31m",
        "\x00",
        "\u202e",
        "\x7f",
        "\x0c",
        "\x0b",
        "\x1c",
        "\x85",
        "\u2028",
        "\x9b[31m",
        "\u200f",
        "\u061c",
        "\u200b",
    ],
)
def test_a_changelog_with_control_or_direction_characters_is_refused_naming_the_line(
    tmp_path: Path, hidden: str
) -> None:
    path = tmp_path / "DATA_CHANGELOG.md"
    path.write_text(f"## Unreleased\n- rows{hidden} added\n", encoding="utf-8")
    with pytest.raises(BuildError, match=r"line 2, column 7: character U\+[0-9A-F]{4} is a control, format"):
        changelog_entries(path)
    path.write_text("## Unreleased\n-\tnew rows\r\n", encoding="utf-8")  # tabs and CRLF are text
    assert changelog_entries(path) == "### Unreleased\n-\tnew rows"
    path.write_text("## Unreleased\r- new rows\r## 1.0.0\r", encoding="utf-8")  # so is a lone CR: a line end
    assert changelog_entries(path) == "### Unreleased\n- new rows\n### 1.0.0"


def test_a_local_build_is_labelled_by_its_inputs(builds: dict[str, Path]) -> None:
    text = _text(builds["dev"])
    label = re.search(r"Build \*\*(0\.0\.0-dev\+[0-9a-f]{12})\*\*: a local build", text)
    assert label and f"note   = {{Version {label[1]}}}" in text
    assert 'revision="v0.0.0' not in text and "Version **1.2.3**" in _text(builds["release"])


@given(st.text())
def test_text_from_the_data_cannot_break_a_table_cell(value: str) -> None:
    escaped = card.cell(value)
    assert "\n" not in escaped and "\r" not in escaped
    assert "|" not in escaped.replace("\\|", "").replace("\\\\", "")


def test_an_entity_in_the_data_is_shown_as_written_not_as_the_character_it_names() -> None:
    """A board's name (gpus.json takes any printable text) with &#x202E; rendered as a right-to-left
    override in the card: printable escapes the character, not the entity that names it."""
    assert card.cell("NVIDIA &#x202E;gnp.exe &lt;b&gt;") == "NVIDIA &amp;#x202E;gnp.exe &amp;lt;b&amp;gt;"


def test_a_build_without_submissions_has_a_card_and_only_legacy_figures(tmp_path: Path) -> None:
    (tmp_path / "submissions").mkdir()
    out = tmp_path / "out"
    build(tmp_path / "submissions", ROOT / "legacy", out, version="0.1.0")
    text = _text(out)
    assert "No accepted measurements yet." in text and "No accepted submissions yet." in text
    assert "**No accepted measurement yet: nothing below is an estimate.**" in text and len(_code_blocks(text)) == 2
    # the card's own figures need measurements; the report still shows the legacy rows, labelled
    assert not list((out / "figures").glob("*.png"))
    embedded = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", text)
    assert embedded and all(alt.startswith("legacy ") and "/report/legacy-" in path for alt, path in embedded)
    assert "cannot load an empty split" in text
    assert pq.read_table(out / "measurements" / "train-00000-of-00001.parquet").num_rows == 0


def test_a_board_name_with_a_dollar_is_drawn_as_text_not_as_a_formula(tmp_path: Path) -> None:
    """A pull request may add its board to gpus.json under any printable name: a '$' there started a
    mathtext formula in the card's figures, and one that does not parse aborted the build."""
    from dataset_card import figures
    from dataset_card.results import Line, Setting

    value = {"energy_per_1k_tokens_j": 100.0, "energy_per_request_j": 10.0}
    line = Line("generate", 1, "fp16", ("a" * 64,), (("ok", 1),), (), value, value, value)
    setting = Setting("NVIDIA H100 $\\frac$", "org/model", "pretrained", (line,))
    drawn = figures.plan([setting])
    figures.draw(drawn, tmp_path)  # raised ValueError (ParseSyntaxException) from matplotlib's mathtext
    assert all((tmp_path / f.path).stat().st_size > 0 for f in drawn)
