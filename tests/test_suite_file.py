"""Unit tests for taskbench.yaml validation and prompt building."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pytest_taskbench.cases import Case
from pytest_taskbench.suite import SuiteError, WeightsNormalisedWarning, load_suite


def suite_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taskbench.yaml"
    path.write_text(text)
    return path


def test_full_suite_file_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "s.schema.json").write_text('{"type": "object"}')
    suite = load_suite(
        suite_file(
            tmp_path,
            "name: t\ncategories:\n  a: {weight: 0.7, scorer: exact_match}\n  b: {weight: 0.3}\npass_threshold: 0.9\n"
            "prompt: {system: 'Today is {reference_date}', template: 'Q: {input} {\"json\": 1}'}\n"
            'generation: {max_new_tokens: 12, stop: "\\n"}\nschema: s.schema.json\nreference_date: 2026-03-04\n'
            "gates: {min_aggregate: 0.8, min_category: 0.5}\nbands: {great: 0.95, fine: 0.5, bad: 0}\n",
        )
    )
    assert suite.weights == {"a": 0.7, "b": 0.3}
    assert suite.categories["b"].scorer == "exact_match"
    assert suite.generation.max_new_tokens == 12 and suite.generation.stop == ("\n",)
    assert suite.schema == {"type": "object"} and suite.reference_date == dt.date(2026, 3, 4)
    assert suite.gates.threshold("min_category") == {"a": 0.5, "b": 0.5}
    assert [suite.band_for(v) for v in (0.96, 0.95, 0.6, 0.1)] == ["great", "great", "fine", "bad"]
    prompt = suite.prompt_for(Case(id="x", category="a", difficulty="simple", expected=1, input="list {all}"))
    assert prompt.messages == ({"role": "system", "content": "Today is 2026-03-04"}, {"role": "user", "content": 'Q: list {all} {"json": 1}'})
    assert prompt.text == 'Today is 2026-03-04\n\nQ: list {all} {"json": 1}'


def test_weights_are_normalised_with_a_warning(tmp_path: Path) -> None:
    with pytest.warns(WeightsNormalisedWarning, match="sum to 2"):
        suite = load_suite(suite_file(tmp_path, "categories:\n  a: 1\n  b: 1\n"))
    assert suite.weights == {"a": 0.5, "b": 0.5}
    assert "normalised to a=0.500, b=0.500" in suite.weights_note


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories: {}\n", "'categories' must map each category name"),
        ("categories: {a: 1}\ncolour: red\n", "unknown key(s) colour"),
        ("categories: {a: {weight: x}}\n", "category 'a': weight must be a number >= 0"),
        ("categories: {a: 0}\n", "category weights must not all be 0"),
        ("categories: {a: 1}\npass_threshold: 2\n", "pass_threshold must be a number from 0 to 1, got 2"),
        ("categories: {a: 1}\nreference_date: soon\n", "reference_date must be an ISO date"),
        ("categories: {a: 1}\ngates: {min_category: {z: 0.5}}\n", "gates.min_category names unknown category 'z'"),
        ("categories: {a: 1}\ngates: {speed: 1}\n", "unknown gate(s) speed"),
        ("categories: {a: 1}\ngeneration: {max_new_tokens: 0}\n", "generation.max_new_tokens must be a whole number from 1 to 1000000, got 0"),
        ("categories: {a: 1}\nschema: missing.json\n", "schema 'missing.json': cannot read JSON Schema"),
        ("categories: [a\n", "invalid YAML"),
        # wrong types that once escaped as tracebacks or were accepted silently
        ("categories: {a: {weight: 1, scorer: [1]}}\n", "category 'a': scorer must be a scorer name or a mapping with 'name' and its parameters, got [1]"),
        ("categories: {a: {weight: 1, scorer: .inf}}\n", "category 'a': scorer must be a scorer name or a mapping with 'name' and its parameters, got inf"),
        ("categories: {a: 1}\ndefault_scorer: {params: 1}\n", "default_scorer must be a scorer name or a mapping"),
        ("categories: {a: 1}\ngeneration: {max_new_tokens: true}\n", "generation.max_new_tokens must be a whole number from 1 to 1000000, got True"),
        ("categories: {a: 1}\ngeneration: {temperature: 1.0e+30}\n", "generation.temperature must be a number from 0 to 10, got 1e+30"),
        ("categories: {a: 1}\ndifficulties: 3\n", "'difficulties' must be a non-empty list of strings, got 3"),
        ("categories: {a: 1}\ndifficulties: [easy, easy]\n", "'difficulties' must name each level once, got ['easy', 'easy']"),
        ("categories: {a: 1}\nbands: {good: high}\n", "bands.good must be a number from 0 to 1, got 'high'"),
        ("categories: {a: 1}\ncase_files: 7\n", "'case_files' must be a string or a non-empty list of strings, got 7"),
        ("categories: {a: 1}\nmin_cases: true\n", "'min_cases' must be a whole number >= 1, got True"),
        ("categories: {a: 1}\ngates: {strict: yes please}\n", "gates.strict must be true or false, got 'yes please'"),
        ("categories: {a: 1}\n1: one\n", "unknown key(s) 1"),
        ("categories: {a: 1}\nprompt: {system: [x]}\n", "prompt.system must be a string, got ['x']"),
        ("categories: {a: 1}\nname: demo\nname: other\n", ":3: invalid YAML: duplicate key 'name': already given at line 2 of the same mapping"),
        ('categories: {a: 1}\nname: "\x1c"\n', ":2: invalid YAML: control character U+001C is not allowed in YAML"),
        (
            "categories: {a: 1}\nscoring: {x: &a [1,1,1,1,1,1,1,1,1,1], y: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], z: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], w: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], v: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]}\n",
            "the suite file expands to more than 100000 values",
        ),
    ],
)
def test_invalid_suite_files_name_the_file_and_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SuiteError) as excinfo:
        load_suite(suite_file(tmp_path, text))
    assert str(excinfo.value).startswith(str(tmp_path / "taskbench.yaml"))
    assert message in str(excinfo.value)
