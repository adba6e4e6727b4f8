"""Attack v5: rows measured together share the idle windows measured around them, and the run's
interleaved label says so (validator/groups.py); a data-centre board's clocks are its own (hardware.py)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ecocompute import domain, reference, stats
from validator import groups, hardware, timeline
from validator.check import check_data

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "submissions" / "ecocompute-bot"
# interleaved, one group, every row finished in the last round
H200 = "ecocompute-bot-h200-20261124-002637.json"
# interleaved, one group, rows finished in three rounds (rows 2-5 in one, 0 and 1 in others)
H100_ROUNDS = "ecocompute-bot-h100-80gb-hbm3-20261123-161639.json"
H100 = "ecocompute-bot-h100-80gb-hbm3-20261124-043029.json"


def _real(name: str) -> dict[str, Any]:
    return json.loads((SUBMISSIONS / name).read_text(encoding="utf-8"))


def _codes(doc: dict[str, Any]) -> set[str]:
    return {f.code for f in check_data(doc, "attack-v5.json").findings if f.severity == "error"}


def _idle(m: dict[str, Any], before: float | None = None, after: float | None = None) -> None:
    idle = m["idle"]
    if before is not None:
        idle["power_before_w"], idle["power_per_gpu_before_w"] = before, [before]
    if after is not None:
        idle["power_after_w"], idle["power_per_gpu_after_w"] = after, [after]
    summary = stats.summarize(
        [domain.Trial.from_dict(t) for t in m["trials"]], (idle["power_before_w"] + idle["power_after_w"]) / 2
    )
    assert summary is not None
    m["summary"] = summary.to_dict()  # the trials stay where they were: interleaved with the other rows'


def test_no_real_file_contradicts_its_groups() -> None:
    files = sorted((ROOT / "submissions").rglob("*.json"))
    assert files
    for f in files:
        sub = domain.parse(json.loads(f.read_text(encoding="utf-8")))
        if sub.session is not None:
            assert groups.check(sub, f.name, timeline.trial_spans(sub)) == [], f.name


def test_one_rows_idle_before_raised_in_an_interleaved_group_is_named() -> None:
    """eco-collect measures one idle window before every configuration of an interleaved run: a row
    whose before alone is 45 W higher (a third less net energy) contradicts the rest."""
    doc = _real(H200)
    assert _codes(doc) == set()
    m = doc["measurements"][2]
    _idle(m, before=m["idle"]["power_before_w"] + 45)
    assert _codes(doc) == {"protocol.idle_window"}


def test_one_rows_idle_after_raised_among_rows_that_finished_together_is_named() -> None:
    doc = _real(H100_ROUNDS)
    m = doc["measurements"][3]  # finished in the round of rows 2, 4 and 5
    _idle(m, after=m["idle"]["power_after_w"] + 30)
    assert _codes(doc) == {"protocol.idle_window"}


def test_rows_that_finished_in_other_rounds_keep_their_own_idle_after() -> None:
    sub = domain.parse(_real(H100_ROUNDS))
    afters = {m.idle.power_after_w for m in sub.measurements if m.idle is not None}
    assert len(afters) == 3  # three rounds ended rows, three windows: none asked to agree with another
    assert groups.check(sub, "f.json", timeline.trial_spans(sub)) == []


def test_a_sequential_label_over_rows_that_alternate_is_named() -> None:
    doc = _real(H200)
    doc["protocol"]["interleaved"] = False
    assert _codes(doc) == {"protocol.session_time"}


def test_rows_one_after_another_may_say_either() -> None:
    """A sequential file's rows, and an interleaved run's groups of one (a resumed run, one configuration
    left), have windows of their own."""
    doc = _real("ecocompute-bot-h100-80gb-hbm3-20261123-232842.json")
    assert doc["protocol"]["interleaved"] is False
    doc["protocol"]["interleaved"] = True
    sub = domain.parse(doc)
    assert groups.check(sub, "f.json", timeline.trial_spans(sub)) == []


@pytest.mark.parametrize(
    ("source", "board", "memory_mib", "limit_w"),
    [
        (H200, "NVIDIA H100 80GB HBM3", 81559, None),  # HBM3e at 3,201 MHz: 1.22 x an H100's
        (H100, "NVIDIA H200", 143771, None),  # HBM3 at 2,619 MHz: 0.84 x an H200's
        (H100, "NVIDIA H100 NVL", 95830, 400.0),  # 1,980 MHz SM: 1.11 x its rated 1,785
        (H200, "NVIDIA H200 NVL", None, 600.0),
    ],
)
def test_a_data_centre_file_relabelled_as_another_board_is_named(
    source: str, board: str, memory_mib: int | None, limit_w: float | None
) -> None:
    doc = _real(source)
    gpu = doc["environment"]["gpu"]
    gpu["name"] = board
    if memory_mib is not None:
        gpu["memory_total_mib"] = memory_mib
    if limit_w is not None:
        gpu["power_limit_default_w"] = gpu["power_limit_enforced_w"] = gpu["power_limit_max_w"] = limit_w
    assert _codes(doc) == {"physics.clocks"}


def test_a_table_without_the_data_centre_column_keeps_the_desktop_limits(tmp_path: Path) -> None:
    folder = tmp_path / "reference"
    folder.mkdir()
    for name in ("gpus.json", "models.json", "prompts.json", "collectors.json", "accepted.json"):
        text = (ROOT / "ecocompute" / "reference" / name).read_text(encoding="utf-8")
        if name == "gpus.json":
            table = json.loads(text)
            for row in table["gpus"]:
                row.pop("data_centre")
            text = json.dumps(table)
        (folder / name).write_text(text, encoding="utf-8")
    without = reference.load(folder)
    doc = _real(H200)
    doc["environment"]["gpu"].update(name="NVIDIA H100 80GB HBM3", memory_total_mib=81559)
    sub = domain.parse(doc)
    assert without.gpus["NVIDIA H100 80GB HBM3"].data_centre is None
    assert "physics.clocks" not in {f.code for f in hardware.check(sub, "f.json", without)}
    assert "physics.clocks" in {f.code for f in hardware.check(sub, "f.json", reference.default())}


def test_desktop_boards_keep_their_overclocking_room() -> None:
    """GeForce and RTX workstation boards boost past their rating and are overclocked by hand."""
    table = reference.default().gpus
    assert all(not g.data_centre for name, g in table.items() if "GeForce" in name or name.startswith("NVIDIA RTX"))
    assert all(g.data_centre for name, g in table.items() if "H100" in name or "A100" in name or "H200" in name)
    doc = copy.deepcopy(_real(H100))
    rtx = table["NVIDIA GeForce RTX 4090"]
    doc["environment"]["gpu"].update(
        name=rtx.name, architecture=rtx.architecture, compute_capability=rtx.compute_capability
    )
    for m in doc["measurements"]:
        for t in m["trials"]:
            t["sm_clock_mhz_mean"] = 1.3 * (rtx.boost_clock_mhz or 0)
            t["mem_clock_mhz_mean"] = 1.19 * (rtx.memory_clock_mhz or 0)
    sub = domain.parse(doc)
    board = table[rtx.name]
    found = [
        f.code for i, m in enumerate(sub.measurements) for f in hardware._board_power(sub, m, board, f"/m/{i}", "f")
    ]
    assert "physics.clocks" not in found


def _resumed(doc: dict[str, Any], rows: list[int], note: str) -> dict[str, Any]:
    """``doc``'s run as eco-collect 0.1.0-0.5.0 wrote it resumed: its first session interleaved the other
    rows and was interrupted before ``rows`` finished (an unfinished row is not checkpointed); an hour later
    'auto' found too little free memory and measured ``rows`` one after another, each between idle windows
    of its own, and put its session's ``note`` first on each (collector/schedule.py ``_close``)."""
    doc = copy.deepcopy(doc)
    ms, idle_s = doc["measurements"], doc["protocol"]["idle_window_s"]
    clock = 3600.0 + max(
        t["started_at_s"] + t["duration_s"] for i, m in enumerate(ms) if i not in rows for t in m["trials"]
    )
    for i in rows:
        clock += idle_s
        for t in ms[i]["trials"]:
            t["started_at_s"], clock = clock, clock + t["duration_s"] + 0.01
        clock += idle_s
        ms[i]["notes"].insert(0, note)
    doc["session"]["wall_s"] = clock + 0.5
    started = datetime.strptime(doc["session"]["started_at"], "%Y-%m-%dT%H:%M:%SZ")
    created = started + timedelta(seconds=round(clock + 0.5))
    doc["created_at"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    # eco-collect names the file from the second it writes as created_at (provenance.submission_id)
    doc["submission_id"] = f"{doc['submission_id'][:-15]}{created:%Y%m%d-%H%M%S}"
    return doc


def _sequential_note() -> str:
    from collector.schedule import SEQUENTIAL_NOTE

    assert SEQUENTIAL_NOTE == groups.RESUMED_SEQUENTIAL_NOTE
    return f"{SEQUENTIAL_NOTE}: all 3 precisions at once need about 60 GiB of GPU memory, free: 20 GiB"


@pytest.mark.parametrize("rows", [[4, 5], [5], [2, 3, 4, 5]])
def test_a_run_resumed_where_auto_chose_one_after_another_is_held_to_its_idle_windows_not_its_label(
    rows: list[int],
) -> None:
    """eco-collect 0.1.0-0.5.0 labelled a resumed run by its last session: rows its first session
    interleaved, the rest measured one after another where 'auto' found too little free memory (their
    note says so), written interleaved: false (review 21). Its groups still share their idle windows."""
    doc = _real(H200)
    doc["protocol"]["interleaved"] = False
    doc = _resumed(doc, rows, _sequential_note())
    assert _codes(doc) == set()
    m = doc["measurements"][0]  # the first session's group: rows 0 and 1 at least
    _idle(m, before=m["idle"]["power_before_w"] + 45)
    assert _codes(doc) == {"protocol.idle_window"}


def test_the_resumed_run_note_excuses_the_sequential_label_of_old_releases_only() -> None:
    """eco-collect 0.6.0 labels such a run interleaved (review 21): its file with the note and
    interleaved: false over alternating rows is a label that contradicts its trials."""
    doc = _real(H200)
    doc["protocol"]["interleaved"] = False
    doc = _resumed(doc, [4, 5], _sequential_note())
    doc["collector"]["version"] = "0.6.0"
    assert "protocol.session_time" in _codes(doc)


@pytest.mark.parametrize("noted", [[0], [5], [1, 4, 5]])
def test_the_note_on_a_row_that_alternates_excuses_nothing(noted: list[int]) -> None:
    """The note is a session's, on the rows it measured one after another (attack v26 F2): on a row whose
    trials alternate with others' (an interleaved file's, or a resumed file's first session) no release
    wrote it, and the group's interleaved: false is named as without it."""
    note = _sequential_note()
    doc = _real(H200)  # every row alternates
    doc["protocol"]["interleaved"] = False
    for i in noted:
        doc["measurements"][i]["notes"].append(note)
    assert _codes(doc) == {"protocol.session_time"}
    doc = _resumed(_real(H200), [4, 5], note)
    doc["protocol"]["interleaved"] = False
    doc["measurements"][0]["notes"].insert(0, note)  # a first-session row: rows 0-3 alternate
    assert _codes(doc) == {"protocol.session_time"}
