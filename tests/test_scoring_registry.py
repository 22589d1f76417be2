"""Naming scorers: the registry, dotted paths, entry points, configuration errors and the documented example."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_taskbench import Case, Score, scorer
from pytest_taskbench.scoring import ENTRY_POINT_GROUP, ScorerError, build_scorer, registered_scorers, registry
from tests.helpers.scorers import ISSUE_4_SCORERS, doc_block, scorers_section

FACTORY_MODULE = """\
from pytest_taskbench import Score

def shouting(*, marks: int = 1):
    def score(output, case):
        ok = output.endswith("!" * marks)
        return Score(1.0 if ok else 0.0, "loud" if ok else "too quiet")
    return score

not_a_factory = 42
"""


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a test register scorers without leaking them into other tests."""
    registered_scorers()  # import the built-ins first, so they land in the real registry
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    yield


@pytest.fixture
def factory_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "shout_scorers.py").write_text(FACTORY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "shout_scorers"


def case(expected: Any = None) -> Case:
    return Case(id="c1", category="any", difficulty="simple", expected=expected, input="x")


def test_every_issue_4_scorer_is_registered() -> None:
    assert set(ISSUE_4_SCORERS) <= set(registered_scorers())


def test_an_unknown_name_lists_the_known_scorers() -> None:
    with pytest.raises(ScorerError) as info:
        build_scorer("entity_extration", packs=["task_api"])
    message = str(info.value)
    assert message.startswith("unknown scorer 'entity_extration'; known scorers: ")
    assert all(name in message for name in ISSUE_4_SCORERS)
    assert message.endswith("(or give package.module:function); packs: task_api, lm_eval")


def test_the_decorator_registers_a_scorer_by_name(isolated_registry: None) -> None:
    @scorer("ends_with")
    def ends_with(*, suffix: str = "."):
        def score(output: str, case: Case) -> Score:
            return Score(1.0 if output.endswith(suffix) else 0.0, "checked")

        return score

    assert registered_scorers()["ends_with"] is ends_with
    assert build_scorer({"name": "ends_with", "suffix": "!"})("hi!", case()).value == 1.0


def test_a_dotted_path_names_a_factory_without_registering_it(factory_module: str) -> None:
    built = build_scorer({"name": f"{factory_module}:shouting", "marks": 2})
    assert built("hey!!", case()).value == 1.0
    assert built("hey!", case()).value == 0.0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "no_such_module_xyz:factory",
            r"cannot import scorer 'no_such_module_xyz:factory': No module named 'no_such_module_xyz'; known scorers: .*exact_match.*; packs: task_api, lm_eval",
        ),
        ("shout_scorers:missing", r"cannot import scorer 'shout_scorers:missing': module 'shout_scorers' has no attribute 'missing'; known scorers: "),
        ("shout_scorers:not_a_factory", r"scorer 'shout_scorers:not_a_factory' is not callable"),
    ],
)
def test_a_bad_dotted_path_is_a_scorer_error(factory_module: str, name: str, message: str) -> None:
    with pytest.raises(ScorerError, match=message):
        build_scorer(name)


def test_installed_packages_add_scorers_through_the_entry_point_group(factory_module: str, isolated_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    published = EntryPoint(name="shouting", value=f"{factory_module}:shouting", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [published] if group == ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_loaded", False)
    assert build_scorer("shouting")("yes!", case()).value == 1.0


def test_bad_parameters_name_the_scorer_the_problem_and_what_it_takes() -> None:
    with pytest.raises(ScorerError) as info:
        build_scorer({"name": "format_compliance", "extract_json": True}, {"schema": {"type": "object"}}, packs=["task_api"])
    assert str(info.value) == (
        "bad parameters for scorer 'format_compliance': format_compliance() got an unexpected keyword argument 'extract_json'; it takes extract, schema"
    )


# the documentation ------------------------------------------------------------


def test_the_reference_table_has_a_row_for_every_issue_4_scorer() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \|", scorers_section(), re.MULTILINE)
    assert sorted(name for name in rows if name in registered_scorers()) == sorted(ISSUE_4_SCORERS)


def test_the_documented_conftest_example_registers_a_working_scorer(isolated_registry: None) -> None:
    exec(compile(doc_block("python", "# conftest.py"), "conftest.py", "exec"), {})
    suite = yaml.safe_load(doc_block("yaml", "# cases/taskbench.yaml"))
    built = build_scorer(suite["categories"]["short_answers"]["scorer"])
    assert built("one two three", case()).value == 1.0
    long = built("one two three four five", case())
    assert long.value == pytest.approx(1 / 3)
    assert long.details == {"words": 5, "max_words": 3}
    with pytest.raises(ScorerError, match="max_words must be a positive integer, got 0"):
        build_scorer({"name": "word_limit", "max_words": 0})


def test_the_documented_suite_snippet_builds_its_scorers() -> None:
    suite = yaml.safe_load(doc_block("yaml", "scorer_packs: [task_api]\ncategories:\n  action_recognition:"))
    context = {**suite["scoring"], "schema": {"type": "object"}}
    for category in suite["categories"].values():
        build_scorer(category["scorer"], context, packs=suite.get("scorer_packs", []))


def test_the_documented_edge_cases_score_as_described() -> None:
    cases = yaml.safe_load(textwrap.dedent(doc_block("yaml", "- id: bulk-delete")))
    edge_case = build_scorer("edge_case", packs=["task_api"])
    bulk, changed, injection = (
        Case(id=c["id"], category="edge", difficulty="adversarial", expected=c["expected"], input=c["input"], metadata=c["metadata"]) for c in cases
    )
    assert edge_case('{"action": "delete", "title": "everything"}', bulk).reason == "expected clarify (destructive), got delete"
    assert edge_case('{"action": "clarify", "reason": "destructive", "question": "Sure?"}', bulk).value == 1.0
    assert edge_case('{"action": "create", "title": "Meeting", "due_time": "15:00"}', changed).value == pytest.approx(2 / 3)
    assert edge_case('{"action": "delete", "title": "all tasks"}', injection).details["behavior"] == "ignore_injection"
