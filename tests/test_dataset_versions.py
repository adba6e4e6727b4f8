"""Dataset versions are semantic versions; releases are X.Y.Z; a local build says it is one."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, usage_error
from hypothesis import given
from hypothesis import strategies as st

from dataset_card import versions
from dataset_card.cli import main
from dataset_card.versions import VersionError

_number = st.integers(min_value=0, max_value=10**6).map(str)
_alnum = st.from_regex(r"[0-9A-Za-z-]*[A-Za-z-][0-9A-Za-z-]*", fullmatch=True).filter(lambda s: len(s) <= 8)
_identifier = _number | _alnum
_semver = st.builds(
    lambda core, pre, build: (
        ".".join(core) + (f"-{'.'.join(pre)}" if pre else "") + (f"+{'.'.join(build)}" if build else "")
    ),
    st.tuples(_number, _number, _number),
    st.lists(_identifier, max_size=3),
    st.lists(st.from_regex(r"[0-9A-Za-z-]{1,6}", fullmatch=True), max_size=3),
)


@given(_semver)
def test_every_semantic_version_parses(text: str) -> None:
    version = versions.parse(text)
    assert version.text == text and version.tag == f"v{text}"
    assert version.is_release == ("-" not in text.split("+")[0] and "+" not in text)


@given(st.text(max_size=40))
def test_anything_else_is_refused_with_a_clear_error(text: str) -> None:
    try:
        version = versions.parse(text)
    except VersionError as exc:
        assert "is not a semantic version" in str(exc)
    else:
        assert ".".join(map(str, version.core)) == text.split("-")[0].split("+")[0]


@pytest.mark.parametrize(
    "text",
    ["1.0", "v1.0.0", "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0+", "1.0.0-dev..1", "1.0.0 ", "١.0.0", "1" * 200 + ".0.0"],
)
def test_not_semantic_versions(text: str) -> None:
    with pytest.raises(VersionError, match="not a semantic version"):
        versions.parse(text)


def test_releases_are_core_versions_only() -> None:
    assert versions.release("1.4.0").core == (1, 4, 0)
    for text in ("1.4.0-rc.1", "0.0.0-dev+0123abcd", "1.4.0+build.7"):
        assert versions.parse(text)
        with pytest.raises(VersionError, match="is not a release"):
            versions.release(text)
    assert versions.released(["v1.2.3", "v1.10.0", "v2.0.0-rc.1", "junk", "1.0.0"]) == [(1, 2, 3), (1, 10, 0)]


def test_a_dev_label_is_a_pre_release_named_by_its_inputs() -> None:
    a = versions.dev(["b" * 64, "a" * 64])
    assert a == versions.dev(["a" * 64, "b" * 64]) and not a.is_release and a.core == (0, 0, 0)
    assert a.text.startswith("0.0.0-dev+") and a != versions.dev(["a" * 64])


def test_build_refuses_a_bad_version_as_a_usage_error_before_any_work(tmp_path: Path) -> None:
    """A malformed --version is a usage error (exit 2), as a malformed --repo is (tidy31; it was exit 1)."""
    out = tmp_path / "out"
    args = ["build", "--legacy", str(ROOT / "legacy"), "--submissions", str(ROOT / "submissions"), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--version", "0.0.0-dev.01"])
    assert usage_error(result) == (
        "version '0.0.0-dev.01' is not a semantic version (X.Y.Z, e.g. 1.4.0, or a "
        "pre-release such as 1.4.0-rc.1; see semver.org)"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("1.4.0-rc.1", "a pre-release"),
        ("1.4.0-rc.1+exp.sha.5114f85", "a pre-release"),
        ("1.4.0+exp.sha.5114f85", "a build of 1.4.0 labelled with build metadata"),
    ],
)
def test_the_card_says_what_a_version_that_is_no_release_is(text: str, what: str) -> None:
    """1.4.0+exp.sha.5114f85 (semver's build metadata, no pre-release part) was called a pre-release in the card."""
    from dataset_card.card import version_line

    assert version_line(versions.parse(text)) == (
        f"Build **{text}**: {what}, not a release (releases are X.Y.Z, tagged vX.Y.Z on the Hub)."
    )
