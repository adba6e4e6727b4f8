"""huggingface_hub's own ValueError (dsattack40): an answer it cannot read (HF_ENDPOINT or a proxy answering for the
Hub with an HTML page where JSON was due: JSONDecodeError; a KeyError for JSON of another shape) or a request it
refuses (an LFS batch error) ended
eco-dataset publish, its --dry-run and eco-advise --dataset owner/name@rev in a traceback. Now one line naming the
call, exit 1; a ValueError of the tools' own code (a bug) keeps its traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import huggingface_hub
import pytest
from click.testing import CliRunner
from fake_hub import GITATTRIBUTES, Hub, make_build, released
from huggingface_hub.errors import BadRequestError, HFValidationError

from advisor import data
from advisor.reading import DatasetError
from dataset_card import cli, publish
from dataset_card.publish import PublishError, dry_run

HTML = "<html><body>Sign in to the proxy</body></html>"


def _unreadable() -> json.JSONDecodeError:
    return json.JSONDecodeError("Expecting value", HTML, 0)


def _hub(tmp_path: Path) -> tuple[Hub, Path]:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    hub = Hub({".gitattributes": GITATTRIBUTES, **released(make_build(tmp_path / "old"))})
    hub.tags["v1.0.0"] = hub.head
    return hub, make_build(tmp_path / "new", extra={"figures/new.png": b"new"})


def _publish(monkeypatch: pytest.MonkeyPatch, hub: Hub, build_dir: Path, *args: str) -> object:
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: hub.api)
    monkeypatch.setattr(cli, "_run_build", lambda *a, **k: shutil.copytree(build_dir, a[3]))
    return CliRunner().invoke(cli.main, ["publish", "--repo", "o/r", *args])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("create_repo", _unreadable()),
        ("list_repo_refs", _unreadable()),
        ("repo_info", _unreadable()),
        ("create_commit", ValueError("LFS batch API returned errors:\n- x.parquet: quota exceeded")),
        ("list_repo_refs", KeyError("branches")),  # a mirror answering JSON of another shape ({})
    ],
)
def test_a_library_value_error_in_publish_is_one_line_naming_the_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, call: str, error: Exception
) -> None:
    hub, build_dir = _hub(tmp_path)
    before = dict(hub.files)
    getattr(hub.api, call).side_effect = error
    result = _publish(monkeypatch, hub, build_dir, "--version", "1.1.0")
    assert result.exit_code == 1 and not isinstance(result.exception, ValueError)  # type: ignore[attr-defined]
    lines = result.output.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith(f"eco-dataset: error: huggingface_hub's {call} on o/r failed (")
    assert type(error).__name__ in lines[0] and hub.files == before and hub.tags == {"v1.0.0": "0" * 40}


def test_a_listing_unreadable_while_it_is_paged_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """list_repo_tree pages lazily: its error is raised while the listing is read, after the call returned."""
    hub, build_dir = _hub(tmp_path)

    def pages(*args: object, **kwargs: object) -> object:
        yield from hub._listing(*args, **kwargs)[:1]  # type: ignore[arg-type]
        raise _unreadable()

    hub.api.list_repo_tree.side_effect = pages
    result = _publish(monkeypatch, hub, build_dir, "--version", "1.1.0")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert "huggingface_hub's list_repo_tree on o/r failed (JSONDecodeError" in result.output  # type: ignore[attr-defined]
    assert hub.commits == 0


def test_a_dry_run_shows_the_local_half_when_the_answer_cannot_be_read(tmp_path: Path) -> None:
    """As without a network: the Hub's side unknown, saying why, and every file listed as added."""
    hub, build_dir = _hub(tmp_path)
    hub.api.list_repo_refs.side_effect = _unreadable()
    plan = dry_run(hub.api, "o/r", build_dir, "1.1.0")
    assert plan.exists is None and plan.unknown.startswith("huggingface_hub's list_repo_refs on o/r failed")
    assert "figures/new.png" in plan.added


def test_next_minor_that_cannot_read_the_tags_says_to_give_the_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hub, build_dir = _hub(tmp_path)
    hub.api.list_repo_refs.side_effect = _unreadable()
    result = _publish(monkeypatch, hub, build_dir, "--version", "next-minor", "--dry-run")
    assert result.exit_code == 1 and result.output.count("\n") == 1  # type: ignore[attr-defined]
    assert result.output.rstrip().endswith(
        "give the version as X.Y.Z (with --dry-run, the local half of the plan is shown offline)"
    )  # type: ignore[attr-defined]


def test_a_repository_id_the_library_refuses_and_a_bug_of_ours_keep_their_own_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not every ValueError is the Hub's answer: huggingface_hub's validators' (the callers name the option) and one
    raised by the tools' code around the calls (a bug: its traceback stays)."""
    hub, build_dir = _hub(tmp_path)
    hub.api.repo_info.side_effect = HFValidationError("Repo id must be in the form 'namespace/repo_name'")
    with pytest.raises(HFValidationError):
        publish.publish(hub.api, "o/r", build_dir, "1.1.0")
    hub.api.repo_info.side_effect = lambda *a, **k: SimpleNamespace(sha=hub.head)
    monkeypatch.setattr(publish, "check_version", lambda tags, version: int("not a number"))
    result = _publish(monkeypatch, hub, build_dir, "--version", "1.1.0")
    assert isinstance(result.exception, ValueError) and "not a number" in str(result.exception)  # type: ignore[attr-defined]


def test_eco_advise_reading_a_revision_says_the_answer_could_not_be_read() -> None:
    hub = Hub({})
    hub.api.repo_info.side_effect = _unreadable()
    with pytest.raises(DatasetError) as raised:
        data.load("o/r@v1.0.0", api=hub.api)
    assert str(raised.value).startswith("o/r@v1.0.0 cannot be read from the Hub (huggingface_hub's repo_info on o/r")


def test_the_hubs_http_errors_that_are_value_errors_stay_the_hubs(tmp_path: Path) -> None:
    """A 400 is huggingface_hub's BadRequestError, an HfHubHTTPError and a ValueError: still the Hub's answer, told
    by its status (a failed commit says so), never 'an answer it could not read'."""
    hub, build_dir = _hub(tmp_path)
    response = mock.MagicMock(status_code=400, headers={})
    hub.api.create_commit.side_effect = BadRequestError("400 Bad Request: invalid path", response=response)
    with pytest.raises(PublishError, match=r"^commit to o/r failed: 400 Bad Request: invalid path"):
        publish.publish(hub.api, "o/r", build_dir, "1.1.0")
    assert hub.commits == 0
