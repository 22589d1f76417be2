"""Naming scorers: the registry, dotted paths, entry points, configuration errors and the documented example."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from pytest_taskbench import Case, Score, scorer
from pytest_taskbench.scoring import ENTRY_POINT_GROUP, ScorerError, build_scorer, registered_scorers, registry
from tests.helpers.scorers import ISSUE_4_SCORERS

ROOT = Path(__file__).resolve().parents[1]

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


def test_an_entry_point_clashing_with_a_conftest_scorer_is_an_error_naming_both(
    factory_module: str, isolated_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = EntryPoint(name="exact_match", value=f"{factory_module}:shouting", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [published] if group == ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(ScorerError, match=r"scorer 'exact_match' is registered twice: by pytest_taskbench\.scoring\.general.* and by shout_scorers"):
        build_scorer("exact_match")


def test_bad_parameters_name_the_scorer_the_problem_and_what_it_takes() -> None:
    with pytest.raises(ScorerError) as info:
        build_scorer({"name": "format_compliance", "extract_json": True}, {"schema": {"type": "object"}}, packs=["task_api"])
    assert str(info.value) == (
        "bad parameters for scorer 'format_compliance': format_compliance() got an unexpected keyword argument 'extract_json'; it takes extract, schema"
    )


# the documentation ------------------------------------------------------------


def test_the_reference_table_has_a_row_for_every_issue_4_scorer() -> None:
    """The generated table of docs/reference/scorers.md (the how-to's example runs as a docs example)."""
    page = (ROOT / "docs" / "reference" / "scorers.md").read_text(encoding="utf-8")
    table = page[page.index("<!-- generated:scorers -->") : page.index("<!-- /generated:scorers -->")]
    rows = re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE)
    assert set(ISSUE_4_SCORERS) <= set(rows) <= set(registered_scorers())
