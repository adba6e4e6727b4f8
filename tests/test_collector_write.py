"""Where eco-collect writes: a rejected document stays in the state folder under a new name, and every
handle the arguments accept makes a submission id the schema accepts, whatever the board is called."""

from __future__ import annotations

import copy
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import synthetic
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.errors import CollectError
from collector.submission import keep_rejected, submission_id, write
from validator.contract import load_schema

_FAST = settings(max_examples=60, deadline=None)
_SCHEMA = load_schema()
HANDLE_PATTERN = _SCHEMA["properties"]["contributor"]["properties"]["handle"]["pattern"]
_VALID = synthetic.submission(0, n_measurements=1)


_ID_RULE = jsonschema_rs.Draft202012Validator(_SCHEMA["properties"]["submission_id"])


@_FAST
@given(handle=st.from_regex(HANDLE_PATTERN, fullmatch=True), gpu_name=st.text(max_size=80))
@example(handle="a" * 39, gpu_name="NVIDIA GeForce RTX 4090 Laptop GPU")
def test_every_accepted_handle_makes_an_id_the_schema_accepts(handle: str, gpu_name: str) -> None:
    """The board's name is known only once the run has started: a long one must not push the id past
    the schema's length (a 39-letter handle and "NVIDIA GeForce RTX 4090 Laptop GPU" made 83 characters)."""
    made = submission_id(handle, gpu_name, datetime(2026, 11, 22, 0, 17, 8))
    assert _ID_RULE.is_valid(made), made
    assert made.startswith(handle.lower() + "-") and made.endswith("-20261122-001708")


def _rejected_doc(submission_id: str) -> dict[str, Any]:
    doc = copy.deepcopy(_VALID)
    doc["submission_id"] = submission_id
    doc["measurements"] = []  # a schema violation
    return doc


def test_a_rejected_file_stays_in_the_state_folder_and_overwrites_nothing(tmp_path: Path) -> None:
    state, out = tmp_path / "repo" / ".eco-collect", tmp_path / "repo" / "submissions"
    planted = tmp_path / "evil-h100.rejected.json"  # where ../../evil-h100 landed before
    planted.write_text("theirs", encoding="utf-8")
    doc = _rejected_doc("../../evil-h100")
    with pytest.raises(CollectError, match="does not pass eco-validate") as first:
        write(doc, out, state)
    assert planted.read_text(encoding="utf-8") == "theirs"
    kept = state / "evil-h100.rejected.json"
    assert str(kept) in str(first.value) and json.loads(kept.read_text(encoding="utf-8")) == doc
    with pytest.raises(CollectError, match=r"rejected-2\.json"):
        write(doc, out, state)  # the same id again: a new file beside the first
    assert json.loads(kept.read_text(encoding="utf-8")) == doc
    assert sorted(p.name for p in state.iterdir()) == ["evil-h100.rejected-2.json", "evil-h100.rejected.json"]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["evil-h100.rejected.json", "repo"]


@_FAST
@given(raw_id=st.text(max_size=120))
def test_any_id_is_kept_inside_the_state_folder(raw_id: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state"
        kept = keep_rejected(_rejected_doc(raw_id), state)
        assert kept.parent == state and kept.name.endswith(".rejected.json") and "\n" not in kept.name
        assert [p.name for p in Path(folder).iterdir()] == ["state"]


def test_the_file_written_is_the_text_checked_serialised_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of 5 MB was serialised twice, once to be checked and once to be written: the bytes
    written are the bytes eco-validate's checks read, from one serialisation (accepted or rejected)."""
    from collector import submission

    made: list[str] = []

    def counted(doc: dict[str, Any]) -> str:
        made.append(real(doc))
        return made[-1]

    real = submission.dumps
    monkeypatch.setattr(submission, "dumps", counted)
    written = write(copy.deepcopy(_VALID), tmp_path / "submissions", tmp_path / "state")
    assert len(made) == 1 and written.read_text(encoding="utf-8") == made[0]
    rejected = copy.deepcopy(_VALID)
    rejected["measurements"][0]["summary"]["power_w_mean"] *= 2
    with pytest.raises(CollectError, match="kept for inspection"):
        write(rejected, tmp_path / "submissions", tmp_path / "state")
    (kept,) = (tmp_path / "state").glob("*.rejected.json")
    assert len(made) == 2 and kept.read_text(encoding="utf-8") == made[1]
