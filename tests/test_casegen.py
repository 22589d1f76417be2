"""The case generator (casegen) and the ``taskbench add-case`` / ``generate`` commands."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_taskbench.cases import DIFFICULTIES, load_case_file
from pytest_taskbench.cli.case_files import GENERATED_TAG, CasegenError, check_new_case, merge_generated, write_case_file
from pytest_taskbench.cli.casegen import CaseTemplate, Slot, SlotValue, generate_stratified, load_spec, quotas_for
from pytest_taskbench.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ("alpha", "beta")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action", "title"],
    "properties": {
        "action": {"enum": ["create", "delete"]},
        "title": {"type": "string", "minLength": 1},
        "due_date": {"type": "string", "pattern": "^2026-03-[0-9]{2}$"},
        "filter": {"type": "object", "properties": {"tag": {"type": "string"}}, "additionalProperties": False},
    },
}

THING = Slot(
    "thing",
    values=tuple(SlotValue(f"thing {n}", {"title": f"Thing {n}"}, klass=f"class{n % 3}") for n in range(12)),
    boundary=(SlotValue("x", {"title": "X"}, klass="boundary"),),
)
DAY = Slot(
    "day",
    values=tuple(SlotValue(f"on March {n}", {"due_date": f"2026-03-{n:02d}"}, klass="calendar") for n in range(10, 16)),
    boundary=(SlotValue("on March 31", {"due_date": "2026-03-31"}, klass="boundary"),),
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
TAG = Slot("tag", values=(SlotValue("red", {"filter.tag": "red"}), SlotValue("blue", {"filter.tag": "blue"})))
SLOTS = {"thing": THING, "day": DAY, "tag": TAG}


def templates_for(categories: tuple[str, ...] = CATEGORIES) -> list[CaseTemplate]:
    return [
        template
        for category in categories
        for difficulty in DIFFICULTIES
        for template in (
            # The stratum in the text gives every stratum its own inputs: a shared text would let the quotas ask for
            # more distinct boundary inputs (about 20 in all) than the slots can make, whatever the seed.
            CaseTemplate(
                f"{category}_{difficulty}_add", category, difficulty, f"add {{thing}} {{day}} [{category} {difficulty}]", {"action": "create"}, "adds {thing}"
            ),
            CaseTemplate(
                f"{category}_{difficulty}_del",
                category,
                difficulty,
                f"delete {{thing}} ({{tag}}) [{category} {difficulty}]",
                {"action": "delete"},
                "deletes {thing}",
            ),
        )
    ]


quota_strategy = st.fixed_dictionaries(
    {category: st.fixed_dictionaries({difficulty: st.integers(0, 6) for difficulty in DIFFICULTIES}) for category in CATEGORIES}
)


@given(total=st.integers(0, 2000), ratios=st.dictionaries(st.sampled_from(DIFFICULTIES), st.floats(0.01, 10), min_size=1))
def test_quotas_sum_to_total_and_stay_within_one_of_the_share(total: int, ratios: dict[str, float]) -> None:
    counts = quotas_for(total, ratios)
    assert sum(counts.values()) == total
    weight = sum(ratios.values())
    for name, ratio in ratios.items():
        assert abs(counts[name] - total * ratio / weight) < 1


def test_default_quotas_are_40_30_20_10() -> None:
    assert quotas_for(100) == {"simple": 40, "moderate": 30, "complex": 20, "adversarial": 10}
    assert quotas_for(7) == {"simple": 3, "moderate": 2, "complex": 1, "adversarial": 1}


@settings(max_examples=40, deadline=None)
@given(quotas=quota_strategy, seed=st.integers(0, 2**32), share=st.sampled_from([0.0, 0.2, 0.5]))
def test_generated_cases_meet_every_quota_exactly(quotas: dict[str, dict[str, int]], seed: int, share: float) -> None:
    cases = generate_stratified(templates_for(), SLOTS, quotas, seed, boundary_share=share)
    counts = Counter((case["category"], case["difficulty"]) for case in cases)
    for category, per_difficulty in quotas.items():
        for difficulty, wanted in per_difficulty.items():
            assert counts[(category, difficulty)] == wanted
            bounded = [c for c in cases if (c["category"], c["difficulty"]) == (category, difficulty) and "boundary" in c["metadata"]]
            assert len(bounded) == round(wanted * share)


@settings(max_examples=25, deadline=None)
@given(quotas=quota_strategy, seed=st.integers(0, 2**32))
def test_generated_cases_are_valid_case_files_with_valid_expected_outputs(
    tmp_path_factory: pytest.TempPathFactory, quotas: dict[str, dict[str, int]], seed: int
) -> None:
    cases = generate_stratified(templates_for(), SLOTS, quotas, seed)
    directory = tmp_path_factory.mktemp("generated")
    for category in CATEGORIES:
        path = directory / f"{category}.jsonl"
        write_case_file(path, [case for case in cases if case["category"] == category])
        loaded = load_case_file(path, categories=list(CATEGORIES))
        assert loaded.errors == []
        assert len(loaded.cases) == sum(quotas[category].values())
        for case in loaded.cases:
            VALIDATOR.validate(case.expected)
            assert case.rationale and GENERATED_TAG in case.tags
    assert len({case["input"] for case in cases}) == len(cases)
    assert len({case["id"] for case in cases}) == len(cases)


@settings(max_examples=25, deadline=None)
@given(quotas=quota_strategy, seed=st.integers(0, 2**32))
def test_the_same_seed_gives_the_same_cases(quotas: dict[str, dict[str, int]], seed: int) -> None:
    first = generate_stratified(templates_for(), SLOTS, quotas, seed)
    assert generate_stratified(templates_for(), SLOTS, quotas, seed) == first
    assert json.dumps(first) == json.dumps(generate_stratified(templates_for(), SLOTS, quotas, seed))


def test_slot_values_set_the_expected_fields_they_imply() -> None:
    cases = generate_stratified(templates_for(("alpha",)), SLOTS, {"alpha": {"simple": 20}}, seed=3)
    checked = Counter[str]()
    for case in cases:
        number = case["input"].split()[2] if case["input"].startswith("add thing") else None
        if number is not None:
            assert case["expected"]["title"] == f"Thing {number}"
            checked["add"] += 1
        if case["expected"]["action"] == "delete":
            assert case["expected"]["filter"]["tag"] in case["input"]
            checked["delete"] += 1
    assert checked["add"] > 0 and checked["delete"] > 0  # both branches really ran


def test_every_equivalence_class_is_exercised() -> None:
    cases = generate_stratified(templates_for(("alpha",)), SLOTS, {"alpha": {"simple": 40}}, seed=11, boundary_share=0.0)
    seen = {case["metadata"]["classes"]["thing"] for case in cases}
    assert seen == {"class0", "class1", "class2"}


def test_avoided_inputs_are_never_produced() -> None:
    first = generate_stratified(templates_for(("alpha",)), SLOTS, {"alpha": {"simple": 10}}, seed=5)
    again = generate_stratified(templates_for(("alpha",)), SLOTS, {"alpha": {"simple": 10}}, seed=5, avoid_inputs=[c["input"] for c in first])
    assert not {c["input"] for c in first} & {c["input"] for c in again}


def test_ids_follow_the_format_prefix_and_start() -> None:
    cases = generate_stratified(
        templates_for(("alpha",)), SLOTS, {"alpha": {"simple": 2, "moderate": 1}}, seed=1, prefixes={"alpha": "a"}, id_start={"alpha": 7}
    )
    assert [case["id"] for case in cases] == ["a_007", "a_008", "a_009"]


def test_a_stratum_without_template_is_an_error() -> None:
    with pytest.raises(CasegenError, match="no template for category 'gamma'"):
        generate_stratified(templates_for(), SLOTS, {"gamma": {"simple": 1}}, seed=0)


def test_an_unknown_slot_is_an_error() -> None:
    template = CaseTemplate("t", "alpha", "simple", "add {nothing}", {"action": "create"}, "r")
    with pytest.raises(CasegenError, match=r"unknown slot \{nothing\}"):
        generate_stratified([template], SLOTS, {"alpha": {"simple": 1}}, seed=0)


def test_too_few_distinct_inputs_is_an_error_not_a_hang() -> None:
    template = CaseTemplate("t", "alpha", "simple", "delete {tag}", {"action": "delete", "title": "T"}, "r")
    with pytest.raises(CasegenError, match="produced only 2 distinct inputs of the 5 asked"):
        generate_stratified([template], SLOTS, {"alpha": {"simple": 5}}, seed=0)


def test_merge_generated_keeps_hand_written_lines(tmp_path: Path) -> None:
    path = tmp_path / "alpha.jsonl"
    path.write_text(
        '{"defaults": {"difficulty": "simple"}}\n'
        '{"id": "old_gen", "input": "gone", "expected": 1, "tags": ["generated"]}\n'
        '{"id": "mine", "input": "kept", "expected": 2}\n',
        encoding="utf-8",
    )
    cases = generate_stratified(templates_for(("alpha",)), SLOTS, {"alpha": {"simple": 2}}, seed=1)
    assert merge_generated(path, cases) == (2, 1)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"defaults": {"difficulty": "simple"}}'
    assert lines[-1] == '{"id": "mine", "input": "kept", "expected": 2}'
    assert "old_gen" not in path.read_text(encoding="utf-8")
    assert all('"category"' not in line for line in lines)


def test_the_shipped_spec_loads_and_its_slots_all_resolve() -> None:
    spec = load_spec(ROOT / "scripts" / "task_api_templates.yaml")
    assert set(spec.quotas) == {"action_recognition", "entity_extraction", "default_handling", "edge_cases", "format_compliance"}
    assert all(set(per) <= {"simple", "moderate"} for per in spec.quotas.values())


def test_a_bad_spec_names_the_file_and_problem(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("templates:\n  - {category: a, difficulty: simple, text: 'x {y}', expected: {}, rationale: r}\n", encoding="utf-8")
    with pytest.raises(CasegenError, match=r"spec.yaml: .*unknown slot \{y\}"):
        load_spec(spec)


# --------------------------------------------------------------------------- the commands

SUITE_YAML = """\
name: mini
categories:
  alpha: {weight: 1, scorer: exact_match}
schema: out.schema.json
"""


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    (tmp_path / "taskbench.yaml").write_text(SUITE_YAML, encoding="utf-8")
    (tmp_path / "out.schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    (tmp_path / "alpha.jsonl").write_text(
        '{"id": "a1", "input": "add thing 1", "expected": {"action": "create", "title": "Thing 1"}, "difficulty": "simple"}\n', encoding="utf-8"
    )
    return tmp_path


def add_case(path: Path, *extra: str, case_id: str = "a2", text: str = "delete thing 2", expected: str = '{"action": "delete", "title": "Thing 2"}') -> int:
    return main(["add-case", str(path), "--id", case_id, "--input", text, "--expected", expected, "--difficulty", "moderate", *extra])


def test_add_case_appends_one_valid_line(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = suite_dir / "alpha.jsonl"
    assert add_case(path, "--rationale", "prod incident 42", "--tags", "regression,prod", "--critical") == 0
    assert "added case 'a2'" in capsys.readouterr().out
    loaded = load_case_file(path, categories=["alpha"])
    assert loaded.errors == []
    new = loaded.cases[-1]
    assert (new.id, new.category, new.difficulty, new.critical, new.tags) == ("a2", "alpha", "moderate", True, ("regression", "prod"))
    assert new.expected == {"action": "delete", "title": "Thing 2"}
    assert path.read_text(encoding="utf-8").count("\n") == 2


def test_a_new_case_is_checked_with_the_suites_own_difficulties(suite_dir: Path) -> None:
    (suite_dir / "taskbench.yaml").write_text(SUITE_YAML + "difficulties: [easy, hard]\n", encoding="utf-8")
    (suite_dir / "alpha.jsonl").write_text(
        '{"id": "a1", "input": "add thing 1", "expected": {"action": "create", "title": "Thing 1"}, "difficulty": "easy"}\n', encoding="utf-8"
    )
    case = {"id": "a1", "input": "add thing 1", "expected": {"action": "create", "title": "Thing 1"}, "difficulty": "hard"}
    problems = check_new_case(suite_dir / "alpha.jsonl", case)
    assert not any("difficulty must be one of" in problem for problem in problems)
    assert any("duplicate case id 'a1'" in problem for problem in problems)  # the existing case was read with the suite's rules
    assert any("duplicate input: case 'a1'" in problem for problem in problems)
    assert len(problems) == 2


def test_add_case_takes_the_suites_own_difficulties_and_refuses_others(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (suite_dir / "taskbench.yaml").write_text(SUITE_YAML + "difficulties: [easy, hard]\n", encoding="utf-8")
    (suite_dir / "alpha.jsonl").write_text(
        '{"id": "a1", "input": "add thing 1", "expected": {"action": "create", "title": "Thing 1"}, "difficulty": "easy"}\n', encoding="utf-8"
    )
    path = suite_dir / "alpha.jsonl"
    assert (
        main(
            ["add-case", str(path), "--id", "a2", "--input", "delete thing 2", "--expected", '{"action": "delete", "title": "Thing 2"}', "--difficulty", "hard"]
        )
        == 0
    )
    assert (
        main(
            [
                "add-case",
                str(path),
                "--id",
                "a3",
                "--input",
                "delete thing 3",
                "--expected",
                '{"action": "delete", "title": "Thing 3"}',
                "--difficulty",
                "moderate",
            ]
        )
        == 1
    )
    assert "difficulty must be one of easy, hard, got 'moderate'" in capsys.readouterr().err


def test_add_case_rejects_an_expected_output_that_breaks_the_schema(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = suite_dir / "alpha.jsonl"
    before = path.read_text(encoding="utf-8")
    assert add_case(path, expected='{"action": "archive", "title": "Thing 2"}') == 1
    err = capsys.readouterr().err
    assert f"{path}: 'expected' does not follow out.schema.json" in err
    assert "'archive' is not one of" in err
    assert path.read_text(encoding="utf-8") == before


def test_add_case_rejects_a_duplicate_id_with_its_location(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = suite_dir / "alpha.jsonl"
    assert add_case(path, case_id="a1") == 1
    assert f"duplicate case id 'a1': already defined at {path}:1" in capsys.readouterr().err


def test_add_case_rejects_an_input_the_suite_already_asks(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = suite_dir / "more" / "alpha.jsonl"
    other.parent.mkdir()
    assert add_case(other, text="add thing 1", expected='{"action": "create", "title": "Thing 1"}') == 1
    assert "duplicate input: case 'a1'" in capsys.readouterr().err
    assert not other.exists()


def test_add_case_refuses_a_yaml_file_with_a_message_not_a_traceback(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = suite_dir / "alpha.yaml"
    path.write_text("- {id: y1, input: add thing 9, expected: {action: create, title: Thing 9}, difficulty: simple}\n", encoding="utf-8")
    before = path.read_text(encoding="utf-8")
    assert add_case(path) == 1
    assert f"{path}: cases can only be appended to a .jsonl file" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == before


def test_add_case_rejects_an_unknown_category(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert add_case(suite_dir / "alpha.jsonl", "--category", "omega") == 1
    assert "unknown category 'omega'; the suite defines alpha" in capsys.readouterr().err


def test_add_case_outside_a_suite_needs_a_category(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loose.jsonl"
    assert add_case(path) == 1
    assert "missing 'category'" in capsys.readouterr().err
    assert add_case(path, "--category", "anything") == 0
    assert load_case_file(path).cases[0].category == "anything"


def test_add_case_reports_invalid_json_as_a_usage_error(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        add_case(suite_dir / "alpha.jsonl", expected="{action: delete}")
    assert exit_info.value.code == 2
    assert "--expected: not valid JSON" in capsys.readouterr().err


def test_generate_writes_loadable_case_files(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "seed: 4\n"
        "quotas: {alpha: 10}\n"
        "slots:\n"
        "  thing: {classes: {a: [{text: one, set: {title: One}}, {text: two, set: {title: Two}}], b: [three, four]}, boundary: [{text: '', set: {title: '?'}}]}\n"
        "  day: [today, tomorrow, 'on Friday']\n"
        "templates:\n"
        + "".join(
            f"  - {{category: alpha, difficulty: {d}, text: '{d} {{thing}} {{day}}', expected: {{action: create, title: T}}, rationale: 'r {{thing}}'}}\n"
            for d in DIFFICULTIES
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["generate", str(spec), "--out", str(out)]) == 0
    loaded = load_case_file(out / "alpha.jsonl", categories=["alpha"])
    assert loaded.errors == []
    assert Counter(case.difficulty for case in loaded.cases) == {"simple": 4, "moderate": 3, "complex": 2, "adversarial": 1}
    assert main(["generate", str(spec), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "alpha.jsonl").read_text(encoding="utf-8") == (out / "alpha.jsonl").read_text(encoding="utf-8")


def test_generate_reports_a_bad_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("quotas: {alpha: {simple: 1}}\n", encoding="utf-8")
    assert main(["generate", str(spec), "--out", str(tmp_path)]) == 1
    assert "no template for category 'alpha'" in capsys.readouterr().err


def test_generate_merge_keeps_hand_written_cases_and_avoids_their_inputs(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "quotas: {alpha: {simple: 2}}\n"
        "slots:\n  thing: [one, two, three]\n"
        "templates:\n  - {category: alpha, difficulty: simple, text: 'add {thing}', expected: {action: create}, rationale: r}\n",
        encoding="utf-8",
    )
    out = tmp_path / "suite"
    out.mkdir()
    hand_written = '{"id": "mine", "input": "add two", "expected": {"action": "create"}, "difficulty": "simple", "category": "alpha"}\n'
    (out / "alpha.jsonl").write_text(hand_written, encoding="utf-8")
    assert main(["generate", str(spec), "--out", str(out), "--merge"]) == 0
    loaded = load_case_file(out / "alpha.jsonl", categories=["alpha"])
    assert loaded.errors == []
    assert sorted(case.input for case in loaded.cases) == ["add one", "add three", "add two"]
    assert (out / "alpha.jsonl").read_text(encoding="utf-8").endswith(hand_written)
