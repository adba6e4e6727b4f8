"""`eco-dataset build` inputs: a broken --legacy folder, a --submissions that is not a folder and a
submission whose name is not UTF-8 each end as one line naming what is wrong, before any work and
with nothing written."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, ROOT, usage_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataset_card import legacy, writer
from dataset_card.cli import main as dataset
from ecocompute.columns import CONFIGS

LEGACY = ROOT / "legacy"
MIXED = FIXTURES / "valid" / "synthetic-ok-gatefailed-skipped.json"
RAW_HEADER = (LEGACY / legacy.RAW).read_text(encoding="utf-8").splitlines()[0]


def _one_line(result: object) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("eco-dataset: error: "), lines
    return lines[0]


def _build(tmp_path: Path, *, legacy_dir: Path = LEGACY, submissions: Path | None = None) -> object:
    if submissions is None:
        submissions = tmp_path / "submissions"
        submissions.mkdir(exist_ok=True)
    args = ["build", "--submissions", str(submissions), "--legacy", str(legacy_dir), "--out", str(tmp_path / "out")]
    return CliRunner().invoke(dataset, args)


def _edit_text(name: str, edit: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / name).write_text(edit((folder / name).read_text(encoding="utf-8")), encoding="utf-8")

    return apply


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def _edit_json(name: str, edit: Callable[[dict], object]) -> Callable[[Path], None]:
    return _edit_text(name, lambda text: json.dumps(edit(json.loads(text))))


def _replace_cell(text: str, line: int, column: str, value: str) -> str:
    lines = text.splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _drop_column(text: str, column: str) -> str:
    rows = [line.split(",") for line in text.splitlines()]
    i = rows[0].index(column)
    return "\n".join(",".join(r[:i] + r[i + 1 :]) for r in rows) + "\n"


def _lines(text: str, edit: Callable[[list[str]], list[str]]) -> str:
    return "\n".join(edit(text.splitlines())) + "\n"


def _as_folder(name: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return apply


RAW, META, AGG = legacy.RAW, legacy.RAW_META, legacy.AGGREGATES
CORRUPTIONS = {
    "metadata gpu is a number": (META, _write(META, b'{"gpu": 1}'), "'gpu' is 1, not text"),
    "metadata without model": (META, _edit_json(META, lambda d: {"gpu": d["gpu"]}), "has no 'model'"),
    "metadata not json": (META, _write(META, b'{"gpu": '), "is not valid JSON"),
    "metadata a list": (META, _write(META, b"[]"), "holds a JSON array, not a JSON object"),
    "metadata missing": (META, lambda f: (f / META).unlink(), "is missing"),
    "metadata a folder": (META, _as_folder(META), "is not a regular file"),
    "metadata output_length as text": (
        META,
        _edit_json(META, lambda d: d | {"output_length": "256"}),
        "'output_length' is '256', not an integer",
    ),
    "metadata model a lone surrogate": (
        META,
        _edit_text(META, lambda t: t.replace('"mistralai/', '"\\udcffmistralai/')),
        "'model' holds a lone surrogate",
    ),
    "raw csv missing": (RAW, lambda f: (f / RAW).unlink(), "is missing"),
    "raw csv without a column": (
        RAW,
        _edit_text(RAW, lambda t: _drop_column(t, "avg_power_w")),
        "no column avg_power_w",
    ),
    "raw csv text in a number": (
        RAW,
        _edit_text(RAW, lambda t: _replace_cell(t, 3, "total_time_s", "abc")),
        "line 3, column total_time_s: 'abc' is not a number",
    ),
    "raw csv NaN": (
        RAW,
        _edit_text(RAW, lambda t: _replace_cell(t, 2, "total_energy_j", "nan")),
        "'nan' is not a finite number",
    ),
    "raw csv beyond the dataset's magnitude": (  # two of one batch: their CV overflowed (a traceback)
        RAW,
        _edit_text(
            RAW,
            lambda t: _replace_cell(_replace_cell(t, 2, "throughput_tok_s", "1e308"), 3, "throughput_tok_s", "1e308"),
        ),
        "line 2, column throughput_tok_s: '1e308' is beyond 1e+100 in size",
    ),
    "raw csv short row": (RAW, _edit_text(RAW, lambda t: _lines(t, lambda ls: [*ls, "1,2.0"])), "fewer cells"),
    "raw csv long row": (RAW, _edit_text(RAW, lambda t: _lines(t, lambda ls: [*ls, ls[-1] + ",9"])), "more cells"),
    "raw csv header only": (RAW, _write(RAW, (RAW_HEADER + "\n").encode()), "a header but no rows"),
    "raw csv empty": (RAW, _write(RAW, b""), "no column batch_size"),
    "raw csv latin-1": (RAW, _write(RAW, RAW_HEADER.encode() + b"\n1,\xe9\n"), "is not UTF-8 text"),
    "aggregates fractional batch": (
        AGG,
        _edit_text(AGG, lambda t: _replace_cell(t, 2, "batch_size", "1.5")),
        "line 2, column batch_size: '1.5' is not an integer",
    ),
    "aggregates batch beyond int64": (
        AGG,
        _edit_text(AGG, lambda t: _replace_cell(t, 2, "batch_size", str(2**64))),
        "beyond a 64-bit integer",
    ),
    "aggregates without a column": (AGG, _edit_text(AGG, lambda t: _drop_column(t, "n_runs")), "no column n_runs"),
    "discrepancies an object": (
        "DISCREPANCIES.json",
        _write("DISCREPANCIES.json", b'{"topic": "x"}'),
        "holds a JSON object, not a JSON array",
    ),
    "discrepancies entry incomplete": (
        "DISCREPANCIES.json",
        _write("DISCREPANCIES.json", b'[{"topic": "x", "a": "y"}]'),
        "entry 0 has no 'b'",
    ),
    "a cited metadata file not json": ("a800_metadata.json", _write("a800_metadata.json", b"{"), "is not valid JSON"),
}


@pytest.mark.parametrize("case", CORRUPTIONS, ids=str)
def test_a_broken_legacy_file_is_one_line_naming_it_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    name, corrupt, what = CORRUPTIONS[case]
    folder = tmp_path / "legacy"
    shutil.copytree(LEGACY, folder)
    corrupt(folder)
    line = _one_line(_build(tmp_path, legacy_dir=folder))
    assert f"legacy file {folder / name}: " in line and what in line, line
    assert "git checkout -- legacy/" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legacy", "submissions"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of legacy/ that each example damages one file of and puts back."""
    folder = tmp_path_factory.mktemp("fuzz") / "legacy"
    shutil.copytree(LEGACY, folder)
    return folder


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from([RAW, META, AGG, "DISCREPANCIES.json", "a800_metadata.json"]),
    start=st.floats(0, 1),
    cut=st.integers(0, 40),
    insert=st.binary(max_size=40) | st.text(alphabet=',\n"\\{}[]:0123456789.-eE ', max_size=40).map(str.encode),
)
def test_any_damage_to_a_legacy_file_reads_or_is_a_legacy_error(
    scratch: Path, name: str, start: float, cut: int, insert: bytes
) -> None:
    folder = scratch
    original = (LEGACY / name).read_bytes()
    at = int(start * len(original))
    (folder / name).write_bytes(original[:at] + insert + original[at + cut :])
    try:
        held = legacy.load(folder)
    except legacy.LegacyError as exc:
        assert str(folder / name) in str(exc)
    else:  # what reads also converts into the dataset's legacy table, as the build does next
        assert writer.to_table("legacy", held.rows, CONFIGS["legacy"]).num_rows == len(held.rows)
    finally:
        (folder / name).write_bytes(original)


def test_a_legacy_number_edited_by_hand_is_refused_against_its_checksum(tmp_path: Path) -> None:
    """The build imports the researcher's numbers unchecked: a published figure changed by hand (94.87 -> 194.87
    tok/s in the aggregates, still a well-formed CSV) was built into the legacy config (attack v19)."""
    folder = tmp_path / "legacy"
    shutil.copytree(LEGACY, folder)
    text = (folder / AGG).read_text(encoding="utf-8")
    assert "94.87" in text
    (folder / AGG).write_text(text.replace("94.87", "194.87", 1), encoding="utf-8")
    line = _one_line(_build(tmp_path, legacy_dir=folder))
    assert f"legacy file {folder / AGG}: holds other bytes than SHA256SUMS lists" in line, line
    assert "git checkout -- legacy/" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legacy", "submissions"]
    # a folder of one's own, without the project's checksums, is read as it is
    (folder / legacy.SUMS).unlink()
    assert any(r.get("throughput_tok_s") == 194.87 for r in legacy.load(folder).rows)


@pytest.mark.parametrize(
    "line",
    ["not a checksum line", "0" * 64 + "  ../submissions/x.json", "0" * 63 + "  a800_metadata.json", "0" * 64 + "  "],
)
def test_a_checksum_line_that_names_no_file_here_is_refused(tmp_path: Path, line: str) -> None:
    folder = tmp_path / "legacy"
    shutil.copytree(LEGACY, folder)
    with (folder / legacy.SUMS).open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    with pytest.raises(legacy.LegacyError, match=r"SHA256SUMS: line \d+ is not a sha256sum line"):
        legacy.load(folder)


def test_a_listed_file_that_is_gone_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "legacy"
    shutil.copytree(LEGACY, folder)
    (folder / "rtx5090_metadata.json").unlink()
    with pytest.raises(legacy.LegacyError, match=r"rtx5090_metadata\.json: is missing"):
        legacy.load(folder)


def test_the_real_legacy_folder_reads_unchanged() -> None:
    held = legacy.load(LEGACY)
    assert len(held.rows) == 70 + len((LEGACY / AGG).read_text(encoding="utf-8").splitlines()) - 1
    assert [n for _, _, n in held.sweep_cv] == [10] * 7 and held.discrepancies[0]["topic"]


def test_submissions_given_as_a_file_is_not_a_folder(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("not submissions")
    line = usage_error(_build(tmp_path, submissions=readme))
    assert f"submissions folder {readme} is not a folder (--submissions)" in line
    line = usage_error(_build(tmp_path, legacy_dir=readme))
    assert f"legacy folder {readme} is not a folder (--legacy)" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("inside", [".", "built", "synthetic-bot/built"])
def test_an_out_inside_the_submissions_is_refused_before_any_work(tmp_path: Path, inside: str) -> None:
    submissions = tmp_path / "submissions"
    (submissions / "synthetic-bot").mkdir(parents=True)
    out = submissions / inside
    args = ["build", "--submissions", str(submissions), "--legacy", str(LEGACY), "--out", str(out)]
    line = usage_error(CliRunner().invoke(dataset, args))
    assert f"lies inside --submissions {submissions}, an input of the build, " in line
    assert line.endswith("nothing written: give a folder outside it (the default is build/llm-energy)")
    assert sorted(p.name for p in submissions.rglob("*")) == ["synthetic-bot"]


@pytest.mark.parametrize("inside", [".", "built"])
def test_an_out_inside_the_legacy_folder_is_refused_before_any_work(tmp_path: Path, inside: str) -> None:
    # the researcher's files and their SHA256SUMS: append-only, as submissions/ (attack c18 O2: a build was written
    # there)
    legacy = tmp_path / "legacy"
    shutil.copytree(LEGACY, legacy)
    before = sorted(p.relative_to(legacy) for p in legacy.rglob("*"))
    args = ["build", "--submissions", str(tmp_path / "none"), "--legacy", str(legacy), "--out", str(legacy / inside)]
    (tmp_path / "none").mkdir()
    line = usage_error(CliRunner().invoke(dataset, args))
    assert f"lies inside --legacy {legacy}, an input of the build, " in line
    assert sorted(p.relative_to(legacy) for p in legacy.rglob("*")) == before


def test_a_submission_named_with_bytes_that_are_not_utf8_is_named_so(tmp_path: Path) -> None:
    folder = tmp_path / "incoming" / "synthetic-bot"  # not a repository's submissions/
    folder.mkdir(parents=True)
    (folder / os.fsdecode(b"bad\xff.json")).write_bytes(MIXED.read_bytes())
    line = _one_line(_build(tmp_path, submissions=folder.parent))
    assert "file.name_encoding" in line and "bad\\udcff.json holds bytes that are not UTF-8" in line
    assert "dataset.unbuildable" not in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize("folder", ["incoming", "elsewhere/submissions"])
@pytest.mark.parametrize("name", ["line\nbreak.json", "x|y `z` [a](http:evil) <b>.json", " $\\frac{1}{0}$.json"])
def test_the_build_polices_file_names_below_any_folder_it_is_given(tmp_path: Path, folder: str, name: str) -> None:
    """eco-validate polices names relative to the repository root, so a folder outside a checkout (or
    not named submissions) was built with any name into the published file_path column (attack d2 #1)."""
    doc = json.loads(MIXED.read_text(encoding="utf-8"))
    path = tmp_path / folder / doc["contributor"]["handle"] / name
    path.parent.mkdir(parents=True)
    path.write_bytes(MIXED.read_bytes())
    line = _one_line(_build(tmp_path, submissions=tmp_path / folder))
    assert "file.path_policy" in line and "file.name_mismatch" in line and "not allowed" in line
    assert not (tmp_path / "out").exists()


def test_a_folder_of_any_name_is_published_as_the_repository_s_submissions(tmp_path: Path) -> None:
    doc = json.loads(MIXED.read_text(encoding="utf-8"))
    area = tmp_path / "area"  # beside the build's --out (tmp_path/out): one inside --submissions is refused
    path = area / "incoming" / doc["contributor"]["handle"] / f"{doc['submission_id']}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(MIXED.read_bytes())
    result = _build(tmp_path, submissions=area / "incoming" / "." / "..")  # '..' names area: its parent
    assert result.exit_code == 1 and "file.path_policy" in result.output  # incoming/ is no handle's folder
    result = _build(tmp_path, submissions=path.parent / "..")  # incoming/, named through its handle's folder
    assert result.exit_code == 0, result.output
    (file_path,) = pq.read_table(tmp_path / "out" / "submissions").column("file_path").to_pylist()
    assert file_path == f"submissions/{doc['contributor']['handle']}/{doc['submission_id']}.json"


def _changelog_case(tmp_path: Path, case: str) -> Path:
    path = tmp_path / "DATA_CHANGELOG.md"
    if case == "fifo":
        os.mkfifo(path)  # opened, it would block the build for ever
    elif case == "dev-zero":
        return Path("/dev/zero")  # read whole, it would fill memory
    elif case == "not-utf8":
        path.write_bytes(b"## 1.0.0\n- caf\xe9\n")
    elif case == "too-large":
        path.write_bytes(b"## 1.0.0\n" + b"x" * (1 << 20))
    elif case == "folder":
        path.mkdir()
    return path  # "missing": nothing there


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("fifo", "is not a regular file"),
        ("dev-zero", "is not a regular file"),
        ("not-utf8", "is not UTF-8 text (byte 14)"),
        ("too-large", "is 1048585 bytes, more than the 1048576 a card shows"),
        ("folder", "is not a regular file"),
        ("missing", "does not exist (--changelog)"),
    ],
)
@pytest.mark.parametrize("command", ["build", "publish"])
def test_a_bad_changelog_is_one_line_before_any_validation(tmp_path: Path, case: str, says: str, command: str) -> None:
    """--submissions names no folder: the changelog's refusal comes first, before the long validation."""
    changelog = _changelog_case(tmp_path, case)
    args = ["--submissions", str(tmp_path / "no-such-folder"), "--legacy", str(LEGACY), "--changelog", str(changelog)]
    more = ["--out", str(tmp_path / "out")] if command == "build" else ["--repo", "o/r", "--version", "1.0.0"]
    result = CliRunner().invoke(dataset, [command, *args, *more])
    # a path that is missing or no file is the option's (a usage error); what a file holds is the data's
    line = _one_line(result) if case in ("not-utf8", "too-large") else usage_error(result)
    assert f"changelog {changelog} {says}" in line
    assert not (tmp_path / "out").exists()


def test_only_the_default_changelog_may_be_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "submissions").mkdir()
    monkeypatch.chdir(tmp_path)  # no DATA_CHANGELOG.md here
    args = ["build", "--submissions", "submissions", "--legacy", str(LEGACY), "--out", "out"]
    result = CliRunner().invoke(dataset, args)
    assert result.exit_code == 0, result.output
    assert "(none)" in (tmp_path / "out" / "README.md").read_text(encoding="utf-8").split("## Changelog", 1)[1]


@pytest.mark.parametrize(
    "repo",
    ['evil"); import os; os.system("id") #\n```\n<script>alert(1)</script>', "bad repo!", "no-owner", "a/b/c", ""],
)
@pytest.mark.parametrize("command", ["build", "publish"])
def test_repo_is_a_hub_dataset_id_at_parse_time(tmp_path: Path, repo: str, command: str) -> None:
    """The card renders --repo in code blocks, a URL and BibTeX: a value the Hub would refuse is a usage
    error before any work (attack s17b #8), and the build's own entry refuses it as well."""
    more = ["--out", str(tmp_path / "out")] if command == "build" else ["--version", "1.0.0", "--dry-run"]
    result = CliRunner().invoke(dataset, [command, "--repo", repo, "--submissions", str(tmp_path / "none"), *more])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--repo'" in result.output and "#\n```" not in result.output  # echoed escaped
    assert not (tmp_path / "out").exists()
    from dataset_card.build import BuildError, build

    with pytest.raises(BuildError, match="is not a Hub"):
        build(tmp_path / "none", LEGACY, tmp_path / "out", repo_id=repo)


def test_a_checksum_file_naming_one_file_many_times_reads_it_once(tmp_path: Path, monkeypatch) -> None:
    """SHA256SUMS is read from the folder as it is: 40,000 lines (within its 4 MiB) naming one 4-MiB file read
    and hashed it 40,000 times (160 GB); the work is bounded now by the files in the folder."""
    folder = tmp_path / "legacy"
    shutil.copytree(LEGACY, folder)
    line = next(x for x in (folder / legacy.SUMS).read_text(encoding="utf-8").splitlines() if AGG in x)
    with (folder / legacy.SUMS).open("a", encoding="utf-8") as fh:
        fh.write((line + "\n") * 40_000)
    reads: list[str] = []
    real = legacy._bytes
    monkeypatch.setattr(legacy, "_bytes", lambda path: reads.append(path.name) or real(path))
    legacy.verify_sums(folder)
    assert reads.count(AGG) == 1
