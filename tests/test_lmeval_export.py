"""Exporting a suite as an lm-eval task: the exported YAML reads back with the same prompts and targets."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from pytest_taskbench.cases import load_case_file
from pytest_taskbench.cli.main import main
from pytest_taskbench.lmeval.suite import load_lm_eval_suite
from pytest_taskbench.suite import load_suite

SUITE = """\
name: Task API
reference_date: 2026-03-01
prompt:
  system: "Today is {reference_date}. Reply with one JSON object like {{\\"action\\": ...}}."
  template: "Request: {input}\\n{% not jinja %} Answer:"
generation:
  max_new_tokens: 40
  stop: ["\\n\\n"]
categories:
  lookup: {weight: 0.75, scorer: {name: exact_match, ignore_case: true}}
  action: {weight: 0.25, scorer: json_fields}
"""
CASES = [
    {"id": "l1", "input": "who am {i}?", "expected": "Alice", "category": "lookup", "difficulty": "simple"},
    {"id": "l2", "input": "capital of France", "expected": " Paris ", "category": "lookup", "difficulty": "moderate"},
    {"id": "a1", "input": "make a task", "expected": {"action": "create"}, "category": "action", "difficulty": "simple"},
]


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "suite"
    directory.mkdir()
    (directory / "taskbench.yaml").write_text(textwrap.dedent(SUITE))
    (directory / "cases.jsonl").write_text("".join(json.dumps(case) + "\n" for case in CASES))
    return directory


def test_export_round_trip_gives_the_same_prompts_targets_and_settings(suite_dir: Path, tmp_path: Path) -> None:
    assert main(["export-lm-eval", str(suite_dir), str(tmp_path / "out"), "--category", "lookup", "--task-name", "api_lookup"]) == 0
    suite = load_suite(suite_dir / "taskbench.yaml")
    original = [c for c in load_case_file(suite_dir / "cases.jsonl", categories=list(suite.categories)).cases if c.category == "lookup"]
    exported = load_lm_eval_suite(tmp_path / "out" / "api_lookup.yaml", cwd=tmp_path)
    assert [exported.prompt_for(c).text for c in exported.cases] == [suite.prompt_for(c).text for c in original]
    assert [c.expected for c in exported.cases] == ["Alice", "Paris"]
    assert [c.category for c in exported.cases] == ["lookup", "lookup"]
    assert (exported.generation.stop, exported.generation.max_new_tokens, exported.generation.temperature) == (("\n\n",), 40, 0.0)
    assert exported.pass_threshold == suite.pass_threshold
    config = yaml.safe_load((tmp_path / "out" / "api_lookup.yaml").read_text())
    assert config["metric_list"][0]["ignore_case"] is True
    assert config["filter_list"][0]["filter"][0] == {"function": "remove_whitespace"}  # our exact_match strips outputs
    assert Path(config["dataset_kwargs"]["data_files"]["test"]).is_absolute()


def test_exported_scoring_matches_the_suite_scorer(suite_dir: Path, tmp_path: Path) -> None:
    from pytest_taskbench.scoring.registry import build_scorer

    main(["export-lm-eval", str(suite_dir), str(tmp_path / "out"), "--category", "lookup"])
    exported = load_lm_eval_suite(tmp_path / "out" / "task_api_lookup.yaml", cwd=tmp_path)
    lm_scorer = build_scorer(exported.categories["lookup"].scorer, packs=exported.scorer_packs)
    ours = build_scorer({"name": "exact_match", "ignore_case": True})
    for case in exported.cases:
        for output in ["  alice\n", "PARIS", "Paris!", "Bob"]:
            assert lm_scorer(output, case).value == ours(output, case).value


def test_json_scored_category_exports_with_a_warning(suite_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-lm-eval", str(suite_dir), str(tmp_path / "out"), "--category", "action"]) == 0
    assert "partial credit is lost" in capsys.readouterr().err
    exported = load_lm_eval_suite(tmp_path / "out" / "task_api_action.yaml", cwd=tmp_path)
    assert [c.expected for c in exported.cases] == ['{"action": "create"}']


def test_mixed_scorers_and_unknown_categories_are_refused(suite_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-lm-eval", str(suite_dir), str(tmp_path / "out")]) == 1
    assert "export one --category at a time" in capsys.readouterr().err
    assert main(["export-lm-eval", str(suite_dir), str(tmp_path / "out"), "--category", "nope"]) == 1
    assert "unknown category 'nope'" in capsys.readouterr().err


def test_system_prompt_with_the_input_in_it_exports_per_document(tmp_path: Path) -> None:
    directory = tmp_path / "suite"
    directory.mkdir()
    (directory / "taskbench.yaml").write_text(
        'name: echo\nprompt:\n  system: "Classify {input} (as of {reference_date}); {{braces}} stay."\n  template: "{input}"\n'
        "reference_date: 2026-03-01\ncategories:\n  echo: {weight: 1, scorer: exact_match}\n"
    )
    (directory / "cases.jsonl").write_text(
        "".join(
            json.dumps({"id": f"c{i}", "input": text, "expected": "x", "category": "echo", "difficulty": "simple"}) + "\n"
            for i, text in enumerate(["one", "two {%"])
        )
    )
    assert main(["export-lm-eval", str(directory), str(tmp_path / "out"), "--task-name", "echo"]) == 0
    suite = load_suite(directory / "taskbench.yaml")
    exported = load_lm_eval_suite(tmp_path / "out" / "echo.yaml", cwd=tmp_path)
    original = load_case_file(directory / "cases.jsonl", categories=list(suite.categories)).cases
    assert len(exported.cases) == len(original) == 2
    assert [exported.prompt_for(c).text for c in exported.cases] == [suite.prompt_for(c).text for c in original]
    assert exported.prompt_for(exported.cases[1]).text.startswith("Classify two {% (as of 2026-03-01); {{braces}} stay.")
