"""The suite file (``taskbench.yaml``): categories, weights, scorers, prompt, generation, schema, gates.

A directory holding ``taskbench.yaml`` is a *suite root*; case files are only
ever collected below one, so no other YAML or JSON in a repository is read as cases.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import DIFFICULTIES, Case, CaseFileContents, ScorerSpec, is_case_file_name, iter_case_files, load_case_file
from pytest_taskbench.generation.base import GenerationParams, Prompt
from pytest_taskbench.guards.files import FileProblem, parse_json, parse_yaml, read_text, unknown_keys, value_problem
from pytest_taskbench.verdict.analysis import AnalysisConfig, analysis_config

SUITE_FILE_NAME = "taskbench.yaml"
MAX_NEW_TOKENS = 1_000_000
MAX_TEMPERATURE = 10.0
DEFAULT_CASE_PATTERNS = ("*.jsonl", "*.yaml", "*.yml", "*.json")
DEFAULT_BANDS: tuple[tuple[float, str], ...] = (
    (0.90, "excellent"),
    (0.80, "good"),
    (0.70, "needs work"),
    (0.0, "significant issues"),
)
SUITE_KEYS = frozenset(
    {
        "name",
        "description",
        "categories",
        "difficulties",
        "pass_threshold",
        "prompt",
        "generation",
        "schema",
        "reference_date",
        "scoring",
        "gates",
        "bands",
        "case_files",
        "min_cases",
        "default_scorer",
        "analysis",
    }
)
# gates on the aggregate's interval and on the comparison with a baseline (see compare.py)
STAT_GATE_KEYS = frozenset(
    {
        "alpha",
        "min_aggregate_lower_bound",
        "max_aggregate_drop",
        "non_inferiority_margin",
        "fail_on_significant_regression",
        "fail_on_category_regression",
        "fail_on_critical_regression",
    }
)
GATE_KEYS = frozenset({"min_aggregate", "min_category", "min_pass_rate", "max_errors", "strict"}) | STAT_GATE_KEYS


class SuiteError(Exception):
    """The suite file is missing, unreadable or invalid."""


class WeightsNormalisedWarning(UserWarning):
    """Category weights did not sum to 1 and were normalised."""


@dataclass(frozen=True)
class Category:
    name: str
    weight: float
    scorer: ScorerSpec
    description: str = ""


@dataclass(frozen=True)
class GateConfig:
    """Thresholds that decide the CI verdict. ``None`` means the gate is off."""

    min_aggregate: float | None = None
    min_category: Mapping[str, float] = field(default_factory=dict)
    min_pass_rate: float | None = None
    max_errors: int | None = 0
    strict: bool = False
    alpha: float = 0.05  # significance level of regression tests; intervals are at 1 - alpha
    min_aggregate_lower_bound: float | None = None
    max_aggregate_drop: float | None = None
    non_inferiority_margin: float | None = None
    fail_on_significant_regression: bool = False
    fail_on_category_regression: bool = False
    fail_on_critical_regression: bool = False


@dataclass(frozen=True)
class Suite:
    """A loaded, validated suite file."""

    path: Path
    name: str
    categories: Mapping[str, Category]
    difficulties: tuple[str, ...] = DIFFICULTIES
    pass_threshold: float = 0.8
    system_prompt: str = ""
    prompt_template: str = "{input}"
    generation: GenerationParams = GenerationParams()
    schema: Mapping[str, Any] | None = None
    schema_path: Path | None = None
    reference_date: dt.date | None = None
    scoring: Mapping[str, Any] = field(default_factory=dict)
    gates: GateConfig = GateConfig()
    bands: tuple[tuple[float, str], ...] = DEFAULT_BANDS
    case_patterns: tuple[str, ...] = DEFAULT_CASE_PATTERNS
    min_cases: int | None = None
    weights_note: str = ""
    description: str = ""
    analysis: AnalysisConfig = AnalysisConfig()

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def weights(self) -> dict[str, float]:
        return {name: category.weight for name, category in self.categories.items()}

    def scorer_spec_for(self, case: Case) -> ScorerSpec:
        return case.scorer if case.scorer is not None else self.categories[case.category].scorer

    def scoring_context(self) -> dict[str, Any]:
        """Suite-wide values offered to scorer factories that declare a parameter of the same name."""
        context: dict[str, Any] = {"suite_dir": str(self.root), **self.scoring}
        if self.schema is not None:
            context["schema"] = self.schema
        if self.reference_date is not None:
            context["reference_date"] = self.reference_date
        return context

    def prompt_for(self, case: Case) -> Prompt:
        """Build the chat messages and the plain-text prompt for one case."""
        system = _fill(self.system_prompt, self, case.request_text)
        if case.messages is not None:
            messages = list(case.messages)
            if system and not any(m["role"] == "system" for m in messages):
                messages.insert(0, {"role": "system", "content": system})
            text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
            return Prompt(tuple(messages), text)
        user = _fill(self.prompt_template, self, case.input or "")
        chat = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        text = f"{system}\n\n{user}" if system else user
        return Prompt(tuple(chat), text)

    def band_for(self, value: float) -> str:
        for lower, label in self.bands:
            if value >= lower:
                return label
        return self.bands[-1][1]

    def holds_case_file(self, path: Path) -> bool:
        """Whether ``path`` is one of this suite's case files (not the suite file, not its schema, matching ``case_files``)."""
        resolved = path.resolve()
        if resolved == self.path.resolve() or (self.schema_path is not None and resolved == self.schema_path.resolve()):
            return False
        return is_case_file_name(path, self.root, self.case_patterns)

    def case_files(self) -> list[Path]:
        exclude = [self.path] + ([self.schema_path] if self.schema_path else [])
        return list(iter_case_files(self.root, self.case_patterns, exclude))

    def content_hash(self) -> str:
        """A hash of the suite file and every case file, to recognise the same suite later."""
        digest = hashlib.sha256()
        for file in [self.path, *self.case_files()]:
            digest.update((file.relative_to(self.root).as_posix() if file.is_relative_to(self.root) else file.name).encode())
            digest.update(file.read_bytes())
        return digest.hexdigest()

    def load_cases(self, path: Path, display_path: str | None = None) -> CaseFileContents:
        """Read one case file with this suite's categories and difficulties."""
        return load_case_file(path, categories=list(self.categories), difficulties=self.difficulties, display_path=display_path)

    def valid_cases(self, load: Callable[[Path], CaseFileContents] | None = None) -> list[Case]:
        """Every valid case of the whole suite, file by file.

        ``load`` reads one case file; pass a cached reader to avoid parsing files twice.
        """
        read = load or self.load_cases
        return [case for file in self.case_files() for case in read(file).cases]

    def count_cases(self, load: Callable[[Path], CaseFileContents] | None = None) -> int:
        """How many valid cases the whole suite holds (to tell a subset run from a full one)."""
        return len(self.valid_cases(load))


def _fill(template: str, suite: Suite, request: str) -> str:
    filled = template.replace("{input}", request)
    if suite.reference_date is not None:
        filled = filled.replace("{reference_date}", suite.reference_date.isoformat())
    return filled


def find_suite_file(path: Path) -> Path | None:
    """The nearest ``taskbench.yaml`` in ``path``'s directory or above it."""
    directory = path if path.is_dir() else path.parent
    for candidate_dir in (directory, *directory.parents):
        candidate = candidate_dir / SUITE_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file. Raises SuiteError naming the file and the problem."""
    suite_path = Path(path)
    try:
        data = parse_yaml(read_text(suite_path, str(suite_path)), str(suite_path))
    except FileProblem as exc:
        raise SuiteError(str(exc)) from None
    problem = value_problem(data)
    if problem is not None:
        raise SuiteError(f"{suite_path}: the suite file {problem}")
    return parse_suite(data or {}, suite_path)


def parse_suite(data: Any, suite_path: Path) -> Suite:
    def fail(message: str) -> SuiteError:
        return SuiteError(f"{suite_path}: {message}")

    if not isinstance(data, dict):
        raise fail("the suite file must be a mapping")
    unknown = unknown_keys(data, SUITE_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SUITE_KEYS))}")

    default_scorer = _scorer_spec(data.get("default_scorer", "exact_match"), "default_scorer", fail)
    categories, weights_note = _categories(data.get("categories"), default_scorer, fail)
    difficulties = data.get("difficulties", DIFFICULTIES)
    if not isinstance(difficulties, (list, tuple)) or not difficulties or not all(isinstance(d, str) and d for d in difficulties):
        raise fail(f"'difficulties' must be a non-empty list of names, got {difficulties!r}")
    if len(set(difficulties)) != len(difficulties):
        raise fail(f"'difficulties' names a level twice: {list(difficulties)}")
    for key in ("name", "description"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise fail(f"'{key}' must be a string, got {data[key]!r}")

    prompt = data.get("prompt") or {}
    if not isinstance(prompt, dict) or set(prompt) - {"system", "template", "chat_template"}:
        raise fail("'prompt' takes 'system', 'template' and 'chat_template'")
    for key in ("system", "template"):
        if prompt.get(key) is not None and not isinstance(prompt[key], str):
            raise fail(f"prompt.{key} must be a string, got {prompt[key]!r}")
    if not isinstance(prompt.get("chat_template", True), bool):
        raise fail(f"prompt.chat_template must be true or false, got {prompt['chat_template']!r}")
    generation = _generation(data.get("generation") or {}, prompt.get("chat_template", True), fail)

    schema, schema_path = _schema(data.get("schema"), suite_path, fail)
    reference_date = data.get("reference_date")
    if isinstance(reference_date, str):
        try:
            reference_date = dt.date.fromisoformat(reference_date)
        except ValueError:
            raise fail(f"reference_date must be an ISO date (YYYY-MM-DD), got {reference_date!r}") from None
    if reference_date is not None and not isinstance(reference_date, dt.date):
        raise fail("reference_date must be an ISO date (YYYY-MM-DD)")

    scoring = data.get("scoring") or {}
    if not isinstance(scoring, dict):
        raise fail("'scoring' must be a mapping of parameters offered to every scorer")

    patterns = data.get("case_files", DEFAULT_CASE_PATTERNS)
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, (list, tuple)) or not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise fail(f"'case_files' must be a glob pattern or a list of them, got {patterns!r}")
    min_cases = data.get("min_cases")
    if min_cases is not None and (isinstance(min_cases, bool) or not isinstance(min_cases, int) or min_cases < 1):
        raise fail(f"'min_cases' must be a positive integer, got {min_cases!r}")

    return Suite(
        path=suite_path,
        name=str(data.get("name") or suite_path.parent.name),
        description=str(data.get("description") or ""),
        categories=categories,
        difficulties=tuple(difficulties),
        pass_threshold=_unit_float(data.get("pass_threshold", 0.8), "pass_threshold", fail),
        system_prompt=str(prompt.get("system") or ""),
        prompt_template=str(prompt.get("template") or "{input}"),
        generation=generation,
        schema=schema,
        schema_path=schema_path,
        reference_date=reference_date,
        scoring=scoring,
        gates=_gates(data.get("gates") or {}, categories, fail),
        bands=_bands(data.get("bands"), fail),
        case_patterns=tuple(patterns),
        min_cases=min_cases,
        weights_note=weights_note,
        analysis=analysis_config(data.get("analysis"), fail),
    )


def _categories(value: Any, default_scorer: ScorerSpec, fail: Any) -> tuple[dict[str, Category], str]:
    if not isinstance(value, dict) or not value:
        raise fail("'categories' must map each category name to {weight, scorer}")
    categories: dict[str, Category] = {}
    for name, spec in value.items():
        spec = spec if isinstance(spec, dict) else {"weight": spec}
        extra = set(spec) - {"weight", "scorer", "description"}
        if extra:
            raise fail(f"category {name!r}: unknown key(s) {sorted(extra)}; use weight, scorer, description")
        weight = spec.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise fail(f"category {name!r}: weight must be a number >= 0, got {weight!r}")
        scorer = _scorer_spec(spec.get("scorer", default_scorer), f"category {name!r}: scorer", fail)
        if not isinstance(spec.get("description", ""), str):
            raise fail(f"category {name!r}: description must be a string")
        categories[str(name)] = Category(str(name), float(weight), scorer, str(spec.get("description", "")))
    total = sum(c.weight for c in categories.values())
    if total <= 0:
        raise fail("category weights must not all be 0")
    note = ""
    if abs(total - 1.0) > 1e-6:
        note = f"category weights sum to {total:g}, not 1; normalised to {', '.join(f'{n}={c.weight / total:.3f}' for n, c in categories.items())}"
        warnings.warn(WeightsNormalisedWarning(note), stacklevel=3)
        categories = {n: Category(c.name, c.weight / total, c.scorer, c.description) for n, c in categories.items()}
    return categories, note


def _scorer_spec(value: Any, where: str, fail: Any) -> ScorerSpec:
    """A scorer name, or a mapping with a string ``name`` and its parameters."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]:
        return value
    raise fail(f"{where} must be a scorer name or a mapping with 'name' and its parameters, got {value!r}")


def _generation(value: Any, chat_template: Any, fail: Any) -> GenerationParams:
    if not isinstance(value, dict) or set(value) - {"max_new_tokens", "stop", "temperature"}:
        raise fail("'generation' takes max_new_tokens, stop and temperature")
    max_new_tokens = value.get("max_new_tokens", 128)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise fail(f"generation.max_new_tokens must be a whole number from 1 to {MAX_NEW_TOKENS}, got {max_new_tokens!r}")
    stop = value.get("stop", [])
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise fail("generation.stop must be a string or a list of strings")
    temperature = value.get("temperature", 0.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= MAX_TEMPERATURE:
        raise fail(f"generation.temperature must be a number from 0 (greedy) to {MAX_TEMPERATURE:g}, got {temperature!r}")
    return GenerationParams(max_new_tokens=max_new_tokens, stop=tuple(stop), temperature=float(temperature), use_chat_template=bool(chat_template))


def _schema(value: Any, suite_path: Path, fail: Any) -> tuple[dict[str, Any] | None, Path | None]:
    if value is None:
        return None, None
    if isinstance(value, dict):
        return value, None
    if not isinstance(value, str) or not value:
        raise fail(f"schema must be a JSON Schema mapping or the path of a JSON file, got {value!r}")
    schema_path = suite_path.parent / value
    try:
        schema = parse_json(read_text(schema_path, str(schema_path)), str(schema_path))
    except FileProblem as exc:
        where = f" (line {exc.line})" if exc.line > 1 else ""
        raise fail(f"schema {value!r}: cannot read JSON Schema{where}: {exc.message}") from None
    if not isinstance(schema, dict):
        raise fail(f"schema {value!r} must hold a JSON object")
    problem = value_problem(schema)
    if problem is not None:
        raise fail(f"schema {value!r} {problem}")
    return schema, schema_path


def _unit_float(value: Any, key: str, fail: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise fail(f"{key} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _gates(value: Any, categories: Mapping[str, Category], fail: Any) -> GateConfig:
    if not isinstance(value, dict):
        raise fail("'gates' must be a mapping")
    unknown = unknown_keys(value, GATE_KEYS)
    if unknown:
        raise fail(f"unknown gate(s) {', '.join(unknown)}; known: {', '.join(sorted(GATE_KEYS))}")
    min_category = value.get("min_category") or {}
    if isinstance(min_category, (int, float)) and not isinstance(min_category, bool):
        min_category = {name: min_category for name in categories}
    if not isinstance(min_category, dict):
        raise fail("gates.min_category must be a number (every category) or a mapping of category to minimum")
    for name, threshold in min_category.items():
        if name not in categories:
            raise fail(f"gates.min_category names unknown category {name!r}")
        _unit_float(threshold, f"gates.min_category.{name}", fail)
    max_errors = value.get("max_errors", 0)
    if max_errors is not None and (isinstance(max_errors, bool) or not isinstance(max_errors, int) or max_errors < 0):
        raise fail("gates.max_errors must be a non-negative integer or null")
    if not isinstance(value.get("strict", False), bool):
        raise fail(f"gates.strict must be true or false, got {value['strict']!r}")
    return GateConfig(
        min_aggregate=None if value.get("min_aggregate") is None else _unit_float(value["min_aggregate"], "gates.min_aggregate", fail),
        min_category={str(k): float(v) for k, v in min_category.items()},
        min_pass_rate=None if value.get("min_pass_rate") is None else _unit_float(value["min_pass_rate"], "gates.min_pass_rate", fail),
        max_errors=max_errors,
        strict=bool(value.get("strict", False)),
        **_stat_gates(value, fail),
    )


def _stat_gates(value: dict[str, Any], fail: Any) -> dict[str, Any]:
    gates: dict[str, Any] = {}
    for key in ("min_aggregate_lower_bound", "max_aggregate_drop", "non_inferiority_margin"):
        if value.get(key) is not None:
            gates[key] = _unit_float(value[key], f"gates.{key}", fail)
    alpha = value.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 0.5:
        raise fail(f"gates.alpha must be a number above 0 and at most 0.5 (e.g. 0.05), got {alpha!r}")
    gates["alpha"] = float(alpha)
    for key in ("fail_on_significant_regression", "fail_on_category_regression", "fail_on_critical_regression"):
        if not isinstance(value.get(key, False), bool):
            raise fail(f"gates.{key} must be true or false, got {value[key]!r}")
        gates[key] = value.get(key, False)
    return gates


def _bands(value: Any, fail: Any) -> tuple[tuple[float, str], ...]:
    if value is None:
        return DEFAULT_BANDS
    if not isinstance(value, dict) or not value:
        raise fail("'bands' must map each label to its lower bound, e.g. {excellent: 0.9, good: 0.8}")
    for label, lower in value.items():
        _unit_float(lower, f"bands.{label}", fail)
    bands = sorted(((float(lower), str(label)) for label, lower in value.items()), reverse=True)
    return tuple(bands)
