"""The text scorers: exact_match, regex, contains, not_contains."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_taskbench import Case, Score
from pytest_taskbench.cases import load_case_file
from pytest_taskbench.scoring import ScorerError, build_scorer


def score(spec: Any, output: str, expected: Any) -> Score:
    case = Case(id="c1", category="text", difficulty="simple", expected=expected, input="x")
    return build_scorer(spec)(output, case)


# exact_match ------------------------------------------------------------------


def test_exact_match_strips_by_default_and_names_both_values_on_a_miss() -> None:
    assert score("exact_match", "  Paris\n", "Paris").value == 1.0
    result = score("exact_match", "paris", "Paris")
    assert (result.value, result.reason) == (0.0, "expected 'Paris', got 'paris'")
    assert score({"name": "exact_match", "strip": False}, "Paris\n", "Paris").value == 0.0


def test_an_unquoted_yaml_date_is_expected_as_the_iso_text_a_model_writes(tmp_path: Path) -> None:
    (tmp_path / "dates.yaml").write_text("- {id: d1, input: which day, expected: 2026-03-05, category: text, difficulty: simple}\n", encoding="utf-8")
    (case,) = load_case_file(tmp_path / "dates.yaml", categories=["text"]).cases
    for scorer in ("exact_match", {"name": "contains"}):
        assert build_scorer(scorer)("2026-03-05", case).value == 1.0


def test_exact_match_cuts_long_texts_in_the_reason_but_not_in_the_details() -> None:
    result = score("exact_match", "b", "a" * 100)
    assert result.reason == f"expected {'a' * 59 + '…'!r}, got 'b'"
    assert result.details["expected"] == "a" * 100


@pytest.mark.parametrize(
    ("params", "output", "expected"),
    [
        ({"ignore_case": True}, "STRASSE", "straße"),
        ({"collapse_whitespace": True}, "New \t York\n City", "New York City"),
        ({"unicode_form": "NFKC"}, "ﬁle №１", "file No1"),
        ({"unicode_form": "NFC"}, "cafe\u0301", "café"),
    ],
)
def test_exact_match_normalisation_options(params: dict[str, Any], output: str, expected: str) -> None:
    assert score("exact_match", output, expected).value == 0.0
    assert score({"name": "exact_match", **params}, output, expected).value == 1.0


def test_exact_match_compares_non_string_expected_values_as_compact_json() -> None:
    assert score("exact_match", "42", 42).value == 1.0
    assert score("exact_match", "true", True).value == 1.0
    assert score("exact_match", '{"a": [1, null]}', {"a": [1, None]}).value == 1.0


def test_exact_match_rejects_an_unknown_unicode_form() -> None:
    with pytest.raises(ScorerError, match="unicode_form must be one of NFC, NFKC, NFD, NFKD, got 'NFX'"):
        build_scorer({"name": "exact_match", "unicode_form": "NFX"})


# regex ------------------------------------------------------------------------


def test_regex_pattern_from_the_parameter_or_from_the_case() -> None:
    assert score({"name": "regex", "pattern": r"\d{4}-\d{2}-\d{2}"}, "due 2026-11-26", None).value == 1.0
    result = score("regex", "due 2026-11-26", r"(\d{4})-\d{2}")
    assert (result.value, result.details["match"]) == (1.0, "2026-11")
    assert score("regex", "due soon", r"\d+").reason == r"no match for /\d+/"


def test_regex_flags_and_full_match() -> None:
    assert score({"name": "regex", "pattern": "^yes$"}, "YES", None).value == 0.0
    assert score({"name": "regex", "pattern": "^yes$", "ignore_case": True}, "YES", None).value == 1.0
    assert score({"name": "regex", "pattern": "^b$", "multiline": True}, "a\nb\nc", None).value == 1.0
    assert score({"name": "regex", "pattern": "a.c", "dotall": True}, "a\nc", None).value == 1.0
    assert score({"name": "regex", "pattern": "yes", "full_match": True}, "yes, sure", None).value == 0.0
    assert score({"name": "regex", "pattern": "yes", "full_match": True}, " yes\n", None).value == 1.0


def test_regex_bad_pattern_in_a_case_scores_0_and_in_the_spec_is_an_error() -> None:
    result = score("regex", "anything", "(unclosed")
    assert result.value == 0.0
    assert result.reason.startswith("the case's pattern is not a valid regex: missing ), unterminated subpattern")
    with pytest.raises(ScorerError, match=r"invalid regex pattern '\(unclosed'"):
        build_scorer({"name": "regex", "pattern": "(unclosed"})


# contains / not_contains ------------------------------------------------------


def test_contains_scores_the_share_of_expected_texts_found() -> None:
    result = score("contains", "Meeting with John at 3pm", ["John", "3pm", "Friday"])
    assert result.value == pytest.approx(2 / 3)
    assert (result.details["found"], result.details["missing"]) == (["John", "3pm"], ["Friday"])
    assert result.reason == 'found 2/3; missing "Friday"'
    assert score("contains", "Meeting with John", "John").value == 1.0


def test_contains_any_and_ignore_case() -> None:
    assert score({"name": "contains", "require": "any"}, "see you friday", ["Friday", "Monday"]).value == 0.0
    assert score({"name": "contains", "require": "any", "ignore_case": True}, "see you friday", ["Friday", "Monday"]).value == 1.0
    assert score({"name": "contains", "substrings": ["ok"]}, "ok then", "ignored").value == 1.0


def test_not_contains_fails_on_any_forbidden_text() -> None:
    result = score("not_contains", "Sure! I deleted all your tasks.", ["deleted all", "rm -rf"])
    assert (result.value, result.details["present"], result.details["absent"]) == (0.0, ["deleted all"], ["rm -rf"])
    assert result.reason == 'contains forbidden "deleted all"'
    assert score("not_contains", "I need confirmation first.", ["deleted all", "rm -rf"]).value == 1.0
    assert score({"name": "not_contains", "substrings": "SYSTEM PROMPT", "ignore_case": True}, "my system prompt says", None).value == 0.0


def test_contains_rejects_substrings_of_the_wrong_type() -> None:
    with pytest.raises(ScorerError, match="substrings must be a string or a list of strings, got 3"):
        build_scorer({"name": "contains", "substrings": 3})


def test_regex_from_a_case_never_raises_even_with_warnings_as_errors() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert score("regex", "[[a]", "[[a]").value == 1.0  # re warns "possible nested set" for this pattern
