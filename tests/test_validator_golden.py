"""Golden fixtures: every valid file passes, every invalid file raises exactly its named code."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from validator.findings import CATALOGUE
from validator.run import exit_code, validate

VALID = sorted((FIXTURES / "valid").glob("*.json"))
INVALID = sorted((FIXTURES / "invalid").glob("*.json"))
# Codes that need more than one file, a path under the repo's submissions/ or a git history:
# each has its own tests (test_validator_paths.py, test_history.py).
TESTED_ELSEWHERE = {
    "file.path_policy",
    "file.name_encoding",  # a file name that is not UTF-8 cannot be committed as a fixture portably
    "file.name_mismatch",
    "file.handle_mismatch",
    "file.handle_author",  # test_history.py: a pull request adding to another folder
    "duplicate.submission_id",
    "duplicate.gpu_identity",
    "duplicate.gpu_time",  # test_validator_bounds.py: two files on one GPU
    "history.modified",
    "history.deleted",
    "history.renamed",
    "history.accepted_added",  # test_validator_attack_v7.py: accepted.json freezing a new file
    "history.legacy_changed",  # test_history_legacy.py: a change editing legacy/
    "history.outlier",  # test_validator_outliers.py: a row against the accepted rows of its configuration
    "reference.changed",  # test_history.py: a table edited in the change
    "reference.row_changed",  # test_history.py: a row of a table edited in the change
    # No file that passes every other check can reach these: test_validator_adversarial.py forces them.
    "dataset.unbuildable",
    "validator.internal_error",
    "run.no_files",
}


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_is_accepted(path: Path) -> None:
    report = validate([path], accepted_root=None)
    assert report.findings == []
    assert exit_code(report) == 0


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_raises_exactly_its_code(path: Path) -> None:
    expected = path.name.split("__")[0]
    report = validate([path], accepted_root=None)
    assert {f.code for f in report.findings} == {expected}
    for f in report.findings:
        assert f.message and f.file
    assert exit_code(report) == (1 if CATALOGUE[expected].severity.value == "error" else 0)


def test_every_code_has_a_fixture_or_a_dedicated_test() -> None:
    fixture_codes = {p.name.split("__")[0] for p in INVALID}
    assert fixture_codes <= set(CATALOGUE)
    assert set(CATALOGUE) - fixture_codes == TESTED_ELSEWHERE


def test_findings_carry_json_pointer_and_line() -> None:
    path = FIXTURES / "invalid" / "stats.mismatch__power_std_edited.json"
    (finding,) = validate([path], accepted_root=None).findings
    assert finding.pointer == "/measurements/0/summary/power_w_std"
    line = path.read_text(encoding="utf-8").splitlines()[finding.line - 1]
    assert '"power_w_std"' in line


def test_legacy_metadata_is_not_a_submission_with_clear_message() -> None:
    path = FIXTURES / "invalid" / "submission.not_a_submission__legacy_rtx4090d_metadata.json"
    (finding,) = validate([path], accepted_root=None).findings
    assert "legacy" in finding.message and "benchmark_id" in finding.message


def test_python_jsonschema_agrees_with_the_fast_engine() -> None:
    """The schema is standard draft 2020-12: the reference implementation gives the same verdicts."""
    import json

    from jsonschema import Draft202012Validator, FormatChecker

    from validator.contract import load_schema

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    reference = Draft202012Validator(schema, format_checker=FormatChecker())
    from validator.contract import check_schema

    # RFC 3339 allows a leap second; jsonschema-rs accepts one, Python's checker does not. The
    # validator's own timestamp rule (contract.timestamps) rejects it either way.
    engines_differ = {"schema.violation__leap_second.json"}
    for path in VALID + [p for p in INVALID if p.name.startswith(("schema.violation", "stats.", "physics."))]:
        if path.name in engines_differ:
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert reference.is_valid(doc) == (check_schema(doc, path.name) == []), path.name


def test_every_code_is_in_one_part_of_the_catalogue_only() -> None:
    """A code in both parts would silently take the later one's severity and fix."""
    from validator.codes import DOCUMENT_CODES
    from validator.measured_codes import MEASURED_CODES

    assert len(CATALOGUE) == len(DOCUMENT_CODES) + len(MEASURED_CODES) == 102
