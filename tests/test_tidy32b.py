"""Small defects left by attackds2 (N1, N3, N4, N6) and attack v23 (U5), each with what the user should have met.

- N1: eco-dataset build --out inside an earlier build (or an earlier report, or inside any input) was accepted; the
  earlier build then held files its marker does not list, and its next rebuild was refused. Refused up front.
- N3: a full disk (ENOSPC, EFBIG, EDQUOT, EROFS) during a build ended in a bare "File too large": one line now names
  what was being written, where, why and what to do; the staging folder and the folders made for --out are gone.
- N4: eco-dataset publish --dry-run listed byte-identical files under "replace" (22 where only README.md differed),
  and the commit uploaded them all: the plan counts them as unchanged (by the ids the Hub lists) and the one commit
  leaves them out.
- N6: eco-collect run --out-dir submissions/<handle> wrote submissions/<handle>/<handle>/<id>.json, which CI refuses
  (file.path_policy), after the whole run: refused before anything is measured, naming the folder to give.
- U5: an integer literal longer than Python's 4,300 digits was refused with Python's own advice to call
  sys.set_int_max_str_digits(); the finding now says which number, where, and what to write instead.
"""

from __future__ import annotations

import errno
import json
import re
from collections import OrderedDict
from pathlib import Path

import pytest
import synthetic
from click.testing import CliRunner
from conftest import ROOT, usage_error
from fake_hub import GITATTRIBUTES, PARQUET, ROWS, SUBMISSIONS, Hub, card, make_build, released

from advisor import report as advisor_report
from advisor.report import REPORT
from collector import cli, submission
from collector.errors import CollectOptionError
from dataset_card import build, outdir
from dataset_card.cli import main as dataset
from dataset_card.publish import MANIFEST, dry_run, publish
from ecocompute import folders
from validator import loading


def test_an_integer_too_long_to_read_is_named_at_its_place(tmp_path: Path) -> None:
    doc = synthetic.submission(seed=3)
    doc["measurements"][1]["batch_size"] = 123456789  # a marker, replaced by 5,000 nines in the text
    text = json.dumps(doc, indent=1).replace("123456789", "9" * 5000, 1)
    path = tmp_path / "big.json"
    path.write_text(text)
    [finding] = loading.load(path).findings
    line = text[: text.index("9" * 5000)].count("\n") + 1
    assert (finding.code, finding.pointer, finding.line) == ("json.syntax", "/measurements/1/batch_size", line)
    assert finding.message.startswith(f"an integer of 5000 digits at /measurements/1/batch_size (line {line}), ")
    assert "set_int_max_str_digits" not in finding.message and "write the value eco-collect recorded" in finding.message


@pytest.mark.parametrize(
    ("given", "why", "instead"),
    [
        ("submissions/alice", "lies inside submissions/alice", "submissions"),
        ("repo/submissions/Alice/run-1", "lies inside submissions/Alice", "repo/submissions"),
        ("results/alice", "ends in the handle alice", "results"),
    ],
)
def test_an_out_dir_that_is_the_handles_own_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, why: str, instead: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CollectOptionError) as caught:
        submission.check_out_dir(Path(given), "alice")
    assert str(caught.value) == (
        f"--out-dir {given} {why}: the file goes to a folder named after the handle inside --out-dir, here "
        f"{given}/alice, which CI refuses (file.path_policy); nothing measured: give --out-dir {instead}, the folder "
        "that holds the handles' folders"
    )
    for fine in ("submissions", "alice-results", "submissions/bob/../"):
        submission.check_out_dir(Path(fine), "alice")
    (tmp_path / "submissions" / "alice").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "submissions" / "alice")  # "." is the handle's folder too
    with pytest.raises(CollectOptionError, match=f"give --out-dir {tmp_path / 'submissions'}, "):
        submission.check_out_dir(Path("."), "alice")


def test_the_cli_refuses_the_handles_folder_in_one_line_before_anything(tmp_path: Path) -> None:
    out = tmp_path / "submissions" / "alice"
    args = ["run", "--model", "Qwen/Qwen2.5-3B-Instruct", "--weights", "random", "--handle", "alice"]
    result = CliRunner().invoke(cli.main, [*args, "--out-dir", str(out)])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"eco-collect: error: --out-dir {out} lies inside submissions/alice: ")
    assert line.endswith(f"give --out-dir {out.parent}, the folder that holds the handles' folders")
    assert not out.exists() and not (tmp_path / ".eco-collect").exists()


def _earlier_build(folder: Path) -> Path:
    (folder / "figures").mkdir(parents=True)
    (folder / "README.md").write_text("card")
    (folder / "figures" / "a.png").write_bytes(b"png")
    outdir.mark(folder)
    return folder


@pytest.mark.parametrize("inside", ["figures/x", "new", "new/deeper"])
def test_an_out_inside_an_earlier_build_is_refused_before_any_work(tmp_path: Path, inside: str) -> None:
    build = _earlier_build(tmp_path / "build" / "llm-energy")
    (tmp_path / "submissions").mkdir()
    out = build / inside
    args = ["build", "--submissions", str(tmp_path / "submissions"), "--legacy", str(ROOT / "legacy")]
    line = usage_error(CliRunner().invoke(dataset, [*args, "--out", str(out)]))
    assert line == (
        f"--out {out} lies inside {build}, an earlier eco-dataset build, whose next run would find files eco-dataset "
        f"did not write and refuse to replace it; nothing written: give a folder outside it, or {build} itself to "
        "replace it"
    )
    assert not out.exists() and outdir.BUILD.foreign(build) == []


def test_an_output_inside_another_kinds_output_is_refused(tmp_path: Path) -> None:
    build = _earlier_build(tmp_path / "build")
    with pytest.raises(folders.OutError, match=r"lies inside .*, an earlier eco-dataset build, .* outside it$"):
        REPORT.check(build / "report")  # a report written inside a build
    (tmp_path / "report").mkdir()
    REPORT.mark(tmp_path / "report")
    with pytest.raises(folders.OutError, match=r"lies inside .*, an earlier eco-advise report, .* outside it$"):
        outdir.check(tmp_path / "report" / "build")


def test_an_earlier_build_holding_an_input_is_refused(tmp_path: Path) -> None:
    build = _earlier_build(tmp_path / "build")  # --submissions its figures folder: the swap would replace it
    args = ["build", "--submissions", str(build / "figures"), "--legacy", str(ROOT / "legacy"), "--out", str(build)]
    line = usage_error(CliRunner().invoke(dataset, args))
    assert line == (
        f"--submissions {build / 'figures'} lies inside --out {build}, which the build replaces whole; nothing "
        "written: give an --out outside it (the default is build/llm-energy)"
    )


def test_a_full_disk_during_a_build_is_one_line_naming_the_file_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    def full(figure: Figure, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"\x89PNG")  # a part written, then the disk is full (PIL's error names no file)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    monkeypatch.setattr(advisor_report, "_DRAWN", OrderedDict())  # no copy of a figure an earlier test drew
    # neither the layout nor the checks are part of it: 0.4 s and 0.3 s (pandera's first import) saved
    monkeypatch.setattr(Figure, "tight_layout", lambda figure: None)
    monkeypatch.setattr(build, "_check", lambda tables: None)
    (tmp_path / "submissions").mkdir()
    out = tmp_path / "out" / "new"
    args = ["build", "--submissions", str(tmp_path / "submissions"), "--legacy", str(ROOT / "legacy")]
    result = CliRunner().invoke(dataset, [*args, "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    [line] = result.output.splitlines()
    said = (
        rf"eco-dataset: error: cannot write an eco-dataset build beside --out {re.escape(str(out))}: No space left on "
        r"device \(ENOSPC\), writing figures/report/[a-z0-9-]+\.png in "
        rf"{re.escape(str(out.parent))}/\.new\.tmp-[0-9a-f]{{8}}, the staging folder; nothing written, --out is as "
        r"it was: the disk is full: free space on it, or give an --out on another disk"
    )
    assert re.fullmatch(said, line), line
    assert not (tmp_path / "out").exists()  # the staging folder and the folder made for it are gone


def test_the_parquet_writer_names_its_file_on_a_disk_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    from dataset_card import writer

    def too_large(table: object, path: Path, **kwargs: object) -> None:
        raise OSError(errno.EFBIG, "Error writing bytes to file. Detail: [errno 27] File too large")  # pyarrow's

    monkeypatch.setattr(writer.pq, "write_table", too_large)
    out = tmp_path / "new"
    with pytest.raises(folders.FolderError) as caught:
        outdir.replace(out, lambda staging: writer.write(pa.table({"a": [1]}), staging, "trials"))
    assert re.fullmatch(
        rf"cannot write an eco-dataset build beside --out {re.escape(str(out))}: File too large \(EFBIG\), writing "
        r"trials/train-00000-of-00001\.parquet in .*/\.new\.tmp-[0-9a-f]{8}, the staging folder; nothing written, "
        r"--out is as it was: a file grew past the size this process \(ulimit -f\) or the file system allows: raise "
        r"the limit, or give an --out on another file system",
        str(caught.value),
    )
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_disk_under_a_report_keeps_the_earlier_one(tmp_path: Path) -> None:
    from ecocompute import diskerrors

    out = tmp_path / "report"
    out.mkdir()
    (out / "REPORT.md").write_text("the earlier report")
    REPORT.mark(out)
    with (
        pytest.raises(folders.FolderError) as caught,
        REPORT.replacing(out) as staging,
        diskerrors.writing(staging / "REPORT.md"),
    ):
        raise OSError(errno.EROFS, "Read-only file system")
    assert str(caught.value).startswith(f"cannot write an eco-advise report beside --out {out}: Read-only file ")
    assert "(EROFS), writing REPORT.md in " in str(caught.value)
    assert str(caught.value).endswith("the file system is read-only: give an --out on a writable one")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"] and (out / "REPORT.md").read_text().startswith(
        "the"
    )


def test_a_re_release_lists_and_uploads_only_what_changed(tmp_path: Path) -> None:
    hub = Hub({".gitattributes": GITATTRIBUTES})
    (tmp_path / "first").mkdir()
    publish(hub.api, "o/r", make_build(tmp_path / "first"), "1.0.0")
    (tmp_path / "second").mkdir()
    second = make_build(tmp_path / "second")  # the same rows: only the card differs (its version)
    (second / "README.md").write_text(card(ROWS) + "\nversion 1.1.0\n")
    plan = dry_run(hub.api, "o/r", second, "1.1.0")
    assert (plan.added, plan.replaced, plan.deleted) == ([], ["README.md"], [])
    assert plan.unchanged == [MANIFEST, PARQUET, SUBMISSIONS]  # a git blob and two LFS files, compared by their ids
    lines = plan.lines()
    assert lines[3].startswith("  replace (1): README.md (the card")
    assert lines[-2] == "  unchanged (3): the Hub holds the same bytes, not uploaded"
    publish(hub.api, "o/r", second, "1.1.0")
    assert [op.path_in_repo for op in hub.api.create_commit.call_args.kwargs["operations"]] == ["README.md"]
    assert hub.files == released(second) and hub.tags["v1.1.0"] == hub.head
