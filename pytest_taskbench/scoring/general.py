"""Text scorers usable by any suite: exact_match, regex, contains, not_contains.

A non-string ``case.expected`` is compared as its compact JSON text
(``{"a": 1}``, ``3``, ``true``), so a case may state any value.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import TYPE_CHECKING, Any

from pytest_taskbench.guards.limits import WorkLimitExceeded, compile_pattern
from pytest_taskbench.scoring import params
from pytest_taskbench.scoring.extract import clip, jsonable, short
from pytest_taskbench.scoring.registry import scorer
from pytest_taskbench.scoring.score import Score, Scorer

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case

UNICODE_FORMS = ("NFC", "NFKC", "NFD", "NFKD")
_WHITESPACE = re.compile(r"\s+")


def expected_text(value: Any) -> str:
    """A case's expected value as text: strings as they are (a YAML date as its ISO text), anything else as compact JSON."""
    plain = jsonable(value)
    if isinstance(plain, str):
        return plain
    return json.dumps(plain, ensure_ascii=False)


@scorer("exact_match")
def exact_match(*, strip: bool = True, ignore_case: bool = False, collapse_whitespace: bool = False, unicode_form: str | None = None) -> Scorer:
    """1 when the output equals the expected text after normalisation, else 0.

    Args:
        strip: drop leading and trailing whitespace (on by default).
        ignore_case: compare case-folded text ("Straße" equals "STRASSE").
        collapse_whitespace: turn every run of whitespace into one space.
        unicode_form: apply Unicode normalisation first: NFC, NFKC, NFD or NFKD
            (NFKC makes full-width and ligature characters equal to their plain forms).
    """
    do_strip = params.flag("strip", strip)
    fold = params.flag("ignore_case", ignore_case)
    collapse = params.flag("collapse_whitespace", collapse_whitespace)
    form = None if unicode_form is None else params.choice("unicode_form", unicode_form, UNICODE_FORMS)

    def normalise(text: str) -> str:
        if form is not None:
            text = unicodedata.normalize(form, text)  # type: ignore[arg-type]
        if collapse:
            text = _WHITESPACE.sub(" ", text)
        if do_strip:
            text = text.strip()
        return text.casefold() if fold else text

    def score(output: str, case: Case) -> Score:
        expected = normalise(expected_text(case.expected))
        got = normalise(str(output))
        details = {"expected": expected, "got": got}
        if got == expected:
            return Score(1.0, "exact match", details)
        return Score(0.0, f"expected {_brief(expected)}, got {_brief(got)}", details)

    return score


def _brief(text: str) -> str:
    return repr(clip(text, 60))


@scorer("regex")
def regex(*, pattern: str | None = None, ignore_case: bool = False, multiline: bool = False, dotall: bool = False, full_match: bool = False) -> Scorer:
    """1 when the pattern matches the output, else 0.

    Args:
        pattern: a Python regular expression; without it, ``case.expected`` is the pattern.
        ignore_case / multiline / dotall: the ``re`` flags of the same names.
        full_match: the whole (trimmed) output must match, not just a part of it.
    """
    flags = (
        (re.IGNORECASE if params.flag("ignore_case", ignore_case) else 0)
        | (re.MULTILINE if params.flag("multiline", multiline) else 0)
        | (re.DOTALL if params.flag("dotall", dotall) else 0)
    )
    whole = params.flag("full_match", full_match)
    if pattern is not None:
        try:
            compile_pattern(params.text("pattern", pattern), flags)
        except re.error as exc:
            raise ValueError(f"invalid regex pattern {pattern!r}: {exc}") from None

    def score(output: str, case: Case) -> Score:
        source = pattern if pattern is not None else expected_text(case.expected)
        details: dict[str, Any] = {"pattern": source, "match": None}
        try:
            compiled = compile_pattern(source, flags)
        except re.error as exc:
            return Score(0.0, f"the case's pattern is not a valid regex: {exc}", details)
        text = str(output)
        try:
            found = compiled.fullmatch(text.strip()) if whole else compiled.search(text)
        except WorkLimitExceeded as exc:
            return Score(0.0, str(exc), details)
        if found is None:
            return Score(0.0, f"no match for /{source}/", details)
        details["match"] = found.group(0)[:200]
        return Score(1.0, f"matches /{source}/", details)

    return score


def _needles(substrings: Any, case: Case) -> list[str]:
    """The texts to look for: the scorer's ``substrings``, else the case's expected string or list."""
    source = case.expected if substrings is None else substrings
    items = source if isinstance(source, (list, tuple)) else [source]
    return [expected_text(item) for item in items]


def _check_substrings(substrings: Any) -> None:
    if substrings is not None and not isinstance(substrings, (str, list, tuple)):
        raise ValueError(f"substrings must be a string or a list of strings, got {substrings!r}")


def _split(needles: list[str], output: str, fold: bool) -> tuple[list[str], list[str]]:
    """(needles found in the output, needles not found)."""
    haystack = str(output).casefold() if fold else str(output)
    found = [needle for needle in needles if (needle.casefold() if fold else needle) in haystack]
    return found, [needle for needle in needles if needle not in found]


@scorer("contains")
def contains(*, substrings: str | list[str] | None = None, ignore_case: bool = False, require: str = "all") -> Scorer:
    """Credit for each expected substring in the output.

    Args:
        substrings: the texts to find; without it, ``case.expected`` (a string or a list of strings).
        ignore_case: compare case-folded text.
        require: "all" scores the share found (1 only when every one is there);
            "any" scores 1 when at least one is there.
    """
    _check_substrings(substrings)
    fold = params.flag("ignore_case", ignore_case)
    mode = params.choice("require", require, ("all", "any"))

    def score(output: str, case: Case) -> Score:
        needles = _needles(substrings, case)
        found, missing = _split(needles, output, fold)
        details = {"found": found, "missing": missing}
        if not needles:
            return Score(1.0, "nothing to look for", details)
        if mode == "any":
            value = 1.0 if found else 0.0
        else:
            value = len(found) / len(needles)
        if not missing:
            return Score(value, f"contains all {len(needles)} expected text(s)", details)
        return Score(value, f"found {len(found)}/{len(needles)}; missing {', '.join(short(m) for m in missing[:5])}", details)

    return score


@scorer("not_contains")
def not_contains(*, substrings: str | list[str] | None = None, ignore_case: bool = False) -> Scorer:
    """1 when none of the forbidden substrings appears in the output, else 0.

    Args:
        substrings: the forbidden texts; without it, ``case.expected`` (a string or a list of strings).
        ignore_case: compare case-folded text.
    """
    _check_substrings(substrings)
    fold = params.flag("ignore_case", ignore_case)

    def score(output: str, case: Case) -> Score:
        present, absent = _split(_needles(substrings, case), output, fold)
        details = {"present": present, "absent": absent}
        if present:
            return Score(0.0, f"contains forbidden {', '.join(short(p) for p in present[:5])}", details)
        return Score(1.0, "none of the forbidden texts appears", details)

    return score
