"""GitHub automation: triggers, permissions, pinning, injection hygiene, and the two linters."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from validator.fieldref import codes_table

WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in wf["jobs"].values() for s in job["steps"]]


def test_pr_validation_is_read_only_and_secretless() -> None:
    wf = _load("validate-submission.yml")
    assert set(wf["on"]) == {"pull_request"}  # never pull_request_target
    assert wf["on"]["pull_request"]["paths"] == ["submissions/**"]
    assert wf["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in wf["jobs"].values())
    text = (WORKFLOWS / "validate-submission.yml").read_text()
    assert "secrets." not in text and "GITHUB_TOKEN" not in text


def test_pr_code_is_data_only() -> None:
    steps = _steps(_load("validate-submission.yml"))
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert [c["with"]["path"] for c in checkouts] == ["base", "pr"]
    assert checkouts[0]["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert all(c["with"]["persist-credentials"] is False for c in checkouts)
    installs = [s["run"] for s in steps if "pip install" in s.get("run", "")]
    assert installs == ["python -m pip install ./base"]
    validate = next(s for s in steps if "eco-validate" in s.get("run", ""))
    assert (
        validate["working-directory"] == "pr" and "--base" in validate["run"] and "--format github" in validate["run"]
    )
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in steps)


def test_pr_author_is_held_to_their_own_folder_unless_a_maintainer(tmp_path: Path) -> None:
    """The validate step's shell, run with a fake eco-validate on PATH: an outside author's login
    reaches --author (as one argument, whatever it holds); a maintainer's association passes none."""
    step = next(s for s in _steps(_load("validate-submission.yml")) if "eco-validate" in s.get("run", ""))
    fake = tmp_path / "eco-validate"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)

    def args(association: str) -> list[str]:
        env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "BASE_SHA": "abc", "RUNNER_TEMP": str(tmp_path)}
        env |= {"PR_AUTHOR": "mallory $(x)", "PR_AUTHOR_ASSOCIATION": association}
        done = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, check=True)
        return done.stdout.splitlines()

    assert args("FIRST_TIME_CONTRIBUTOR")[:4] == ["--base", "abc", "--author", "mallory $(x)"]
    assert args("CONTRIBUTOR")[2:4] == ["--author", "mallory $(x)"]
    assert "--author" not in args("MEMBER") and "--author" not in args("OWNER")


@pytest.mark.parametrize("name", ["validate-submission.yml", "tests.yml", "publish.yml"])
def test_no_expression_in_run_lines_and_actions_pinned(name: str) -> None:
    for step in _steps(_load(name)):
        assert "${{" not in step.get("run", ""), step  # untrusted text reaches the shell only via env
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_tests_workflow_triggers() -> None:
    wf = _load("tests.yml")
    assert set(wf["on"]) == {"pull_request", "push"} and wf["permissions"] == {"contents": "read"}


def test_publish_is_the_only_place_with_credentials() -> None:
    wf = _load("publish.yml")
    assert wf["on"]["push"] == {"branches": ["main"], "paths": ["submissions/**"]}
    assert "workflow_dispatch" in wf["on"]
    assert wf["concurrency"] == {"group": "publish-dataset", "cancel-in-progress": False}
    assert wf["permissions"] == {"contents": "read"}
    env = next(s["env"] for s in _steps(wf) if "eco-dataset publish" in s.get("run", ""))
    assert env["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    for other in ("validate-submission.yml", "tests.yml"):
        assert "secrets." not in (WORKFLOWS / other).read_text()


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(__import__("sys").executable).parent))
    assert path, f"{name} is not installed: pip install -e '.[dev]'"
    return path


def test_actionlint_is_clean() -> None:
    result = subprocess.run(
        [_tool("actionlint"), *sorted(map(str, WORKFLOWS.glob("*.yml")))], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_is_clean_even_pedantic() -> None:
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--persona=pedantic", str(WORKFLOWS)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_contributing_explains_every_code() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    block = text.split("-->\n", 1)[1].split("<!-- codes:end -->")[0] if "codes:start" in text else ""
    assert block == codes_table(), "regenerate the table from validator.fieldref.codes_table()"


def test_pre_commit_hook_runs_the_validator() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "eco-validate" and hook["files"] == r"^submissions/.*\.json$"
    owners = (ROOT / ".github" / "CODEOWNERS").read_text()
    for path in ("/schema/", "/validator/", "/.github/"):
        assert re.search(rf"^{re.escape(path)}\s+@", owners, re.M)
