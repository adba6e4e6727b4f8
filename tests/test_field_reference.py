from conftest import ROOT

from validator.fieldref import render


def test_field_reference_is_in_sync_with_schema() -> None:
    committed = (ROOT / "docs" / "submission-fields.md").read_text(encoding="utf-8")
    assert committed == render(), "run: python -m validator.fieldref > docs/submission-fields.md"


def test_every_schema_field_is_documented() -> None:
    text = render()
    for field in ("/measurements/[]/trials/[]/energy_j", "/environment/gpu/power_limit_enforced_w", "/protocol/gates"):
        assert f"`{field}`" in text
