"""contract._oversized (asked of every document) notes exactly what contract._probe (built only for a
document that fails) notes, in the same order, however the document is shaped."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validator import contract

_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=8), st.dictionaries(st.text(max_size=3), inner, max_size=8)),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None)
@given(document=_JSON)
def test_oversized_notes_what_the_probe_notes(document: Any) -> None:
    with pytest.MonkeyPatch.context() as patch:  # small limits, so that random documents exceed them
        patch.setattr(contract, "_limits", lambda: (3, 4))
        patch.setattr(contract, "_PROBE_KEYS", 6)
        probed: list[tuple[str, str]] = []
        walked: list[tuple[str, str]] = []
        contract._probe(document, [], probed)
        contract._oversized(document, [], walked)
    assert walked == probed
