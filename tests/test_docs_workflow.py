"""The GitHub Actions workflow the docs show (docs/examples/files/taskbench.yml) is one that works.

GitHub cannot run here, so these check what can be checked: the file parses, torch
is installed before the package and the package does not come from PyPI, every
``--taskbench-*`` flag exists, every file the run writes is uploaded, the cached
directory is the one the plugin fills, and the run step's exact pytest
options, pointed at a small suite, pass against a baseline and write those files.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_taskbench.settings import OPTIONS

WORKFLOW = Path(__file__).resolve().parents[1] / "docs" / "examples" / "files" / "taskbench.yml"
WRITES = ("--taskbench-report", "--taskbench-markdown", "--taskbench-log-samples", "--taskbench-comparison-file", "--junitxml")


def steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as true
    return list(workflow["jobs"]["taskbench"]["steps"])


def step(name: str) -> dict[str, Any]:
    return next(s for s in steps() if s.get("name") == name)


def pytest_arguments() -> list[str]:
    command = shlex.split(step("Run the suite against the committed baseline")["run"])
    assert command[0] == "pytest"
    return command[1:]


def option_value(arguments: list[str], flag: str) -> str:
    return next(argument.split("=", 1)[1] for argument in arguments if argument.startswith(flag + "="))


def test_torch_comes_first_and_the_package_not_from_pypi() -> None:
    lines = [line.strip() for line in step("Install torch (CPU) and pytest-taskbench")["run"].splitlines() if line.strip()]
    assert lines[0].startswith("python -m pip install torch==") and "--index-url https://download.pytorch.org/whl/cpu" in lines[0]
    assert lines[1] == 'python -m pip install "pytest-taskbench[hf] @ git+https://github.com/OWNER/pytest-taskbench"'


def test_every_taskbench_flag_exists() -> None:
    known = {option.flag for option in OPTIONS}
    used = {argument.split("=", 1)[0] for argument in pytest_arguments() if argument.startswith("--taskbench-")}
    assert used and used <= known, used - known


def test_every_file_the_run_writes_is_uploaded() -> None:
    arguments = pytest_arguments()
    written = {option_value(arguments, flag) for flag in WRITES}
    uploaded = set(step("Upload the report, the samples log and the JUnit XML")["with"]["path"].split())
    assert written == uploaded


def test_the_cache_is_restored_and_saved_at_the_same_key_and_path() -> None:
    restore, save = step("Restore the generation cache"), step("Save the generation cache")
    assert restore["uses"].startswith("actions/cache/restore@") and save["uses"].startswith("actions/cache/save@")
    assert restore["with"]["path"] == save["with"]["path"] == ".pytest_cache/d/taskbench"
    assert restore["with"]["key"] == save["with"]["key"]
    assert save["if"] == "always()"


def test_the_run_steps_options_work_against_a_baseline(pytester: pytest.Pytester, demo_suite: Path) -> None:
    arguments = [argument for argument in pytest_arguments() if not argument.startswith("--taskbench-model=")]
    model = "--taskbench-model=model:respond"
    pytester.runpytest("cases", model, "--taskbench-save-baseline", "-p", "cacheprovider")  # the committed baseline
    result = pytester.runpytest(*arguments, model, "-p", "cacheprovider")
    assert result.ret == 0, result.stdout.str()
    for flag in WRITES:
        assert (pytester.path / option_value(arguments, flag)).is_file(), flag
    assert list((pytester.path / ".pytest_cache" / "d" / "taskbench").rglob("*.json")), "the cached directory is where outputs go"


TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial" / "files"


@pytest.mark.slow  # two in-process pytest runs of the tutorial's suite
def test_the_tutorials_workflow_passes_on_the_tutorials_own_files(pytester: pytest.Pytester) -> None:
    """A reader who commits what the tutorial says gets a green first pull request."""
    workflow = yaml.safe_load((TUTORIAL / ".github" / "workflows" / "taskbench.yml").read_text(encoding="utf-8"))
    (command,) = [s["run"] for s in workflow["jobs"]["route"]["steps"] if str(s.get("run", "")).startswith("pytest ")]
    for path in TUTORIAL.rglob("*"):
        if path.is_file():
            target = pytester.path / path.relative_to(TUTORIAL)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    saved = pytester.runpytest("cases", "--taskbench-model=router_fixed:route", "--taskbench-save-baseline", "-p", "no:cacheprovider")
    assert saved.ret == 0
    ci = pytester.runpytest(*shlex.split(command)[1:], "-p", "no:cacheprovider")
    assert ci.ret == 0, ci.stdout.str()[-2000:]
    assert (pytester.path / "report.html").is_file()
