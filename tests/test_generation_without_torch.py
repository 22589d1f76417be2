"""Without torch and transformers (``pip install pytest-taskbench``, no ``[hf]`` extra): every model but a checkpoint works.

Each run is a fresh Python whose ``sitecustomize`` refuses to import torch and
transformers (as if they were not installed) and logs every attempt, run on the
shipped 500-case suite in ``cases/`` exactly as a user would from the repository root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("torch", "transformers")
BLOCKER = f"""\
import os
import sys

BLOCKED = {BLOCKED!r}


class RefuseHeavyImports:
    \"\"\"A meta-path finder in front of every other: these packages are 'not installed'.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            with open(os.environ["TASKBENCH_BLOCKED_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, RefuseHeavyImports())
"""
GUESSING_MODEL = """\
import json


def respond(prompts):
    return [json.dumps({"action": "create", "title": prompt.rsplit(":", 1)[-1].strip()[:40]}) for prompt in prompts]
"""


class NoTorch:
    """Runs commands in a Python where torch and transformers cannot be imported."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "sitecustomize.py").write_text(BLOCKER)
        (directory / "guessing_model.py").write_text(GUESSING_MODEL)
        self.log = directory / "blocked.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(directory), str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "TASKBENCH_BLOCKED_LOG": str(self.log),
            "HF_HUB_OFFLINE": "1",
        }

    def python(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)

    def pytest(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.python("-m", "pytest", "cases", "-p", "no:cacheprovider", "-q", "--tb=no", *args)

    def attempts(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []


@pytest.fixture
def no_torch(tmp_path: Path) -> NoTorch:
    env = NoTorch(tmp_path)
    refused = env.python("-c", "import torch")
    assert "ModuleNotFoundError: No module named 'torch'" in refused.stderr, refused.stderr  # the blocker works ...
    assert env.python("-c", "import transformers").returncode == 1
    assert env.attempts() == ["torch", "transformers"]  # ... and logs
    env.log.unlink()
    return env


def outputs_file(directory: Path) -> Path:
    """A saved output for every shipped case: its expected JSON (a few cases expect a non-JSON answer)."""
    lines = []
    for case_file in sorted((ROOT / "cases").glob("*.jsonl")):
        for line in case_file.read_text().splitlines():
            case = json.loads(line)
            if "id" in case:
                lines.append(json.dumps({"id": case["id"], "output": json.dumps(case.get("expected"))}))
    path = directory / "outputs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_a_whole_run(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    assert "500 of 500 cases ran" in result.stdout
    assert any(line.startswith("verdict: ") for line in result.stdout.splitlines()), result.stdout[-3000:]


@pytest.mark.slow  # runs pytest in a subprocess
def test_saved_outputs_score_the_shipped_suite_without_torch(no_torch: NoTorch) -> None:
    result = no_torch.pytest(f"--taskbench-outputs={outputs_file(no_torch.directory)}")
    assert_a_whole_run(result)
    assert no_torch.attempts() == []


@pytest.mark.slow  # runs pytest in a subprocess
def test_a_function_model_runs_the_shipped_suite_without_torch(no_torch: NoTorch) -> None:
    result = no_torch.pytest("--taskbench-model=guessing_model:respond")
    assert_a_whole_run(result)
    # the 500 Task API requests and, for the nested conversation suite, one output per turn (every turn is played)
    outputs = 500 + sum(len(case["turns"]) for case in conversation_cases())
    assert f"{len(conversation_cases())} of {len(conversation_cases())} cases ran" in result.stdout
    assert f"generation: {outputs} outputs ({outputs} generated, 0 from cache)" in result.stdout
    assert no_torch.attempts() == []


def conversation_cases() -> list[dict[str, Any]]:
    """The shipped conversation suite's cases, read as plain YAML (independently of the plugin's loader)."""
    cases: list[dict[str, Any]] = []
    for case_file in sorted((ROOT / "cases" / "conversations").glob("*.yaml")):
        if case_file.name != "taskbench.yaml":
            data = yaml.safe_load(case_file.read_text(encoding="utf-8"))
            cases.extend(data["cases"] if isinstance(data, dict) else data)
    return cases


@pytest.mark.slow  # a Python process of its own: about a second
def test_a_checkpoint_without_torch_is_one_usage_error_saying_what_to_install(no_torch: NoTorch) -> None:
    result = no_torch.pytest("--taskbench-model=models/task-api-tiny")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.strip() == (
        "ERROR: taskbench: models/task-api-tiny is a local transformers checkpoint, which needs PyTorch and transformers "
        '(not installed: torch, transformers): pip install "pytest-taskbench[hf]" (on CPU first: pip install torch==2.13.0)'
    )
    assert "passed" not in result.stdout and "failed" not in result.stdout
    assert set(no_torch.attempts()) == {"torch", "transformers"}  # looked up (find_spec), never imported


def test_checking_any_model_spec_imports_neither_torch_nor_transformers() -> None:
    """With both installed, the checks before the first item still only look them up: configuring stays fast."""
    code = (
        "import sys; from pytest_taskbench.generation import check_model_spec; [check_model_spec(spec) for spec in sys.argv[1:]]; "
        "print(sorted(name for name in ('torch', 'transformers') if name in sys.modules))"
    )
    specs = ["models/task-api-tiny", "hf:models/task-api-tiny", "http://localhost:8000/v1", "json:dumps"]
    result = subprocess.run([sys.executable, "-c", code, *specs], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_hf_extra_holds_what_hf_py_imports() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {requirement.split(">")[0].split("=")[0].split("[")[0] for requirement in project["dependencies"]}
    extra = {requirement.split(">")[0].split("=")[0] for requirement in project["optional-dependencies"]["hf"]}
    assert {"torch", "transformers", "safetensors", "tokenizers"} <= extra
    assert not core & extra  # a bare install pulls none of them
    assert "pytest-taskbench[hf]" in project["optional-dependencies"]["test"]
