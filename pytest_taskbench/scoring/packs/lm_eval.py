"""lm-evaluation-harness's filters and exact_match, reimplemented so scores agree with lm-eval.

lm-eval scores a ``generate_until`` document by running each ``filter_list``
pipeline over the model's response and then each ``metric_list`` metric over
the filtered text. This module does the same for the pieces we support:

* filters ``regex`` (``regex_pattern``, ``group_select``, ``fallback``),
  ``take_first``, ``lowercase``, ``uppercase``, ``remove_whitespace``
  (lm_eval/filters/extraction.py, selection.py, transformation.py);
* the metric ``exact_match`` with ``regexes_to_ignore``, ``ignore_case``,
  ``ignore_punctuation`` and ``ignore_numbers``, applied in that order, as HF
  evaluate's exact_match (ported in lm_eval/api/metrics.py) applies them.

The scorer ``lm_eval_exact_match`` takes the task's ``filters`` and ``metrics``
as written in the YAML; its score is exact_match under the first filter
pipeline (or ``primary_filter``), and ``details`` holds every
``metric,filter`` value under lm-eval's own key names.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_taskbench.guards.limits import BoundedPattern, compile_pattern
from pytest_taskbench.guards.validation import unknown_keys
from pytest_taskbench.scoring.registry import scorer
from pytest_taskbench.scoring.score import Score, Scorer

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case

SUPPORTED_FILTERS = ("regex", "take_first", "lowercase", "uppercase", "remove_whitespace")
SUPPORTED_METRICS = ("exact_match",)
EXACT_MATCH_OPTIONS = ("regexes_to_ignore", "ignore_case", "ignore_punctuation", "ignore_numbers")
# Keys of a metric_list entry that configure lm-eval's aggregation, not the metric function.
METRIC_META_KEYS = ("metric", "aggregation", "higher_is_better", "hf_evaluate")
DEFAULT_FILTERS: tuple[Mapping[str, Any], ...] = ({"name": "none", "filter": [{"function": "take_first"}]},)
DEFAULT_METRICS: tuple[Mapping[str, Any], ...] = ({"metric": "exact_match"},)
REGEX_DEFAULTS: Mapping[str, Any] = {"regex_pattern": r"#### (\-?[0-9\.\,]+)", "group_select": 0, "fallback": "[invalid]"}
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_DIGITS = str.maketrans("", "", string.digits)


@dataclass(frozen=True)
class FilterStep:
    function: str
    regex: BoundedPattern | None = None
    group_select: int = 0
    fallback: str = "[invalid]"

    def apply(self, responses: list[str]) -> list[str]:
        if self.function == "take_first":
            return responses[:1]
        if self.function == "lowercase":
            return [r.lower() for r in responses]
        if self.function == "uppercase":
            return [r.upper() for r in responses]
        if self.function == "remove_whitespace":
            return [r.strip() for r in responses]
        return [self._extract(r) for r in responses]

    def _extract(self, response: str) -> str:
        """lm-eval's RegexFilter: findall, pick ``group_select``, first non-empty group of a tuple, strip."""
        assert self.regex is not None
        matches = self.regex.findall(response if isinstance(response, str) else "")
        if not matches:
            return self.fallback
        match = matches[self.group_select]  # an out-of-range group_select raises in lm-eval too
        if isinstance(match, tuple):
            non_empty = [group for group in match if group]
            match = non_empty[0] if non_empty else self.fallback
        return str(match).strip()


@dataclass(frozen=True)
class FilterPipeline:
    name: str
    steps: tuple[FilterStep, ...]

    def apply(self, response: str) -> str:
        responses = [response]
        for step in self.steps:
            responses = step.apply(responses)
        # With one response per document (repeats: 1), a pipeline without take_first scores the same.
        return responses[0] if responses else ""


@dataclass(frozen=True)
class ExactMatch:
    regexes_to_ignore: tuple[str, ...] = ()
    ignore_case: bool = False
    ignore_punctuation: bool = False
    ignore_numbers: bool = False

    def normalise(self, text: str) -> str:
        for pattern in self.regexes_to_ignore:
            text = compile_pattern(pattern).sub("", text)
        if self.ignore_case:
            text = text.lower()
        if self.ignore_punctuation:
            text = text.translate(_PUNCTUATION)
        if self.ignore_numbers:
            text = text.translate(_DIGITS)
        # numpy string arrays (which HF evaluate compares) drop trailing NUL characters
        return text.rstrip("\x00")

    def __call__(self, prediction: str, reference: str) -> float:
        return 1.0 if self.normalise(prediction) == self.normalise(reference) else 0.0


def parse_filters(value: Any) -> tuple[FilterPipeline, ...]:
    """Validate a ``filter_list``; raises ValueError naming the offending entry."""
    if value is None:
        value = DEFAULT_FILTERS
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("filter_list must be a non-empty list of {name, filter: [...]}")
    pipelines = []
    for position, entry in enumerate(value):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("filter"), list):
            raise ValueError(f"filter_list[{position}] must be a mapping with 'name' and a 'filter' list")
        steps = tuple(_filter_step(f"filter_list[{position}].filter[{index}]", step) for index, step in enumerate(entry["filter"]))
        pipelines.append(FilterPipeline(entry["name"], steps))
    return tuple(pipelines)


def _filter_step(where: str, step: Any) -> FilterStep:
    if not isinstance(step, Mapping) or "function" not in step:
        raise ValueError(f"{where} must be a mapping with 'function'")
    function = step["function"]
    options = {key: item for key, item in step.items() if key != "function"}
    if function not in SUPPORTED_FILTERS:
        raise ValueError(f"{where}: filter function {function!r} is not supported (supported: {', '.join(SUPPORTED_FILTERS)})")
    if function != "regex":
        if options:
            raise ValueError(f"{where}: filter {function!r} takes no options, got {sorted(options)}")
        return FilterStep(function)
    unknown = unknown_keys(options, REGEX_DEFAULTS)
    if unknown:
        raise ValueError(f"{where}: unsupported regex filter option(s) {', '.join(unknown)}; supported: {', '.join(REGEX_DEFAULTS)}")
    settings = {**REGEX_DEFAULTS, **options}
    try:
        pattern = compile_pattern(str(settings["regex_pattern"]))
    except re.error as exc:
        raise ValueError(f"{where}: invalid regex_pattern {settings['regex_pattern']!r}: {exc}") from None
    if isinstance(settings["group_select"], bool) or not isinstance(settings["group_select"], int):
        raise ValueError(f"{where}: group_select must be an integer, got {settings['group_select']!r}")
    return FilterStep("regex", pattern, settings["group_select"], str(settings["fallback"]))


def parse_metrics(value: Any) -> tuple[ExactMatch, ...]:
    """Validate a ``metric_list``; raises ValueError naming the unsupported metric or option."""
    if value is None:
        value = DEFAULT_METRICS
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("metric_list must be a non-empty list of {metric: ...}")
    metrics = []
    for position, entry in enumerate(value):
        if not isinstance(entry, Mapping) or "metric" not in entry:
            raise ValueError(f"metric_list[{position}] must be a mapping with 'metric'")
        if entry["metric"] not in SUPPORTED_METRICS:
            raise ValueError(f"metric_list[{position}]: metric {entry['metric']!r} is not supported (supported: {', '.join(SUPPORTED_METRICS)})")
        options = {key: item for key, item in entry.items() if key not in METRIC_META_KEYS}
        unknown = unknown_keys(options, EXACT_MATCH_OPTIONS)
        if unknown:
            raise ValueError(f"metric_list[{position}]: unsupported exact_match option(s) {', '.join(unknown)}; supported: {', '.join(EXACT_MATCH_OPTIONS)}")
        ignore = options.get("regexes_to_ignore") or ()
        ignore = (ignore,) if isinstance(ignore, str) else tuple(ignore)
        if not all(isinstance(pattern, str) for pattern in ignore):
            raise ValueError(f"metric_list[{position}]: regexes_to_ignore must be a list of regular expressions")
        for pattern in ignore:
            try:
                compile_pattern(pattern)
            except re.error as exc:
                raise ValueError(f"metric_list[{position}]: invalid regexes_to_ignore entry {pattern!r}: {exc}") from None
        flags = {name: options.get(name, False) for name in EXACT_MATCH_OPTIONS[1:]}
        for name, flag in flags.items():
            if not isinstance(flag, bool):
                raise ValueError(f"metric_list[{position}]: {name} must be true or false, got {flag!r}")
        metrics.append(ExactMatch(ignore, **flags))
    return tuple(metrics)


def references(target: Any) -> list[str]:
    """lm-eval's gold for generate_until: a list target means "any of these"; other values are cast to str."""
    if isinstance(target, (list, tuple)):
        return [item if isinstance(item, str) else str(item) for item in target]
    return [target if isinstance(target, str) else str(target)]


def score_response(
    response: str,
    target: Any,
    pipelines: Sequence[FilterPipeline],
    metrics: Sequence[ExactMatch],
) -> dict[str, Any]:
    """Every ``exact_match,<filter>`` value lm-eval would log for one document, plus the filtered texts."""
    golds = references(target)
    # lm-eval keys metric functions by name, so the last exact_match entry is the one that counts
    metric = metrics[-1]
    values: dict[str, Any] = {}
    for pipeline in pipelines:
        filtered = pipeline.apply(response)
        values[f"filtered,{pipeline.name}"] = filtered
        values[f"exact_match,{pipeline.name}"] = max((metric(filtered, gold) for gold in golds), default=0.0)
    return values


@scorer("lm_eval_exact_match", pack="lm_eval")
def lm_eval_exact_match(
    *,
    filters: Sequence[Mapping[str, Any]] | None = None,
    metrics: Sequence[Mapping[str, Any]] | None = None,
    primary_filter: str | None = None,
) -> Scorer:
    """exact_match as lm-evaluation-harness computes it, after the task's filter pipelines.

    Args:
        filters: the task's ``filter_list`` (default: lm-eval's ``none`` pipeline, take_first).
        metrics: the task's ``metric_list``; only exact_match entries (default: plain exact_match).
        primary_filter: the pipeline whose exact_match is the score (default: the first).
    """
    pipelines = parse_filters(filters)
    parsed = parse_metrics(metrics)
    names = [pipeline.name for pipeline in pipelines]
    primary = primary_filter if primary_filter is not None else names[0]
    if primary not in names:
        raise ValueError(f"primary_filter {primary!r} names no filter pipeline; the task has {', '.join(names)}")

    def score(output: str, case: Case) -> Score:
        values = score_response(output, case.expected, pipelines, parsed)
        value = float(values[f"exact_match,{primary}"])
        filtered = values[f"filtered,{primary}"]
        golds = references(case.expected)
        if value == 1.0:
            reason = f"exact match ({primary})"
        else:
            wanted = golds[0] if len(golds) == 1 else golds
            reason = f"expected {wanted!r}, got {filtered!r} after filter {primary!r}"
        return Score(value, reason, values)

    return score
