"""Attack v5: a data-centre board's clocks are its own (hardware.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ecocompute import domain, reference
from validator import hardware
from validator.check import check_data

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "submissions" / "ecocompute-bot"
H200 = "ecocompute-bot-h200-20261124-002637.json"
H100 = "ecocompute-bot-h100-80gb-hbm3-20261124-043029.json"


def _real(name: str) -> dict[str, Any]:
    return json.loads((SUBMISSIONS / name).read_text(encoding="utf-8"))


def _codes(doc: dict[str, Any]) -> set[str]:
    return {f.code for f in check_data(doc, "attack-v5.json").findings if f.severity == "error"}


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
