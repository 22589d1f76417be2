"""The suite file (``taskbench.yaml``): categories, weights, scorers, prompt, generation, schema, gates.

A directory holding ``taskbench.yaml`` is a *suite root*; case files are only
ever collected below one, so no other YAML or JSON in a repository is read as cases.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pytest_taskbench import defaults
from pytest_taskbench.calls import Tool, load_tools_file, located_tools, narrowed
from pytest_taskbench.cases import DIFFICULTIES, Case, CaseFileContents, ScorerSpec, load_case_file, scorer_spec
from pytest_taskbench.discovery import is_case_file_name, iter_case_files
from pytest_taskbench.environments.conversation import ConversationSetup, checked_conversations, parse_conversation_setup
from pytest_taskbench.generation.base import GenerationParams, Prompt
from pytest_taskbench.generation.judges import JudgeModel, parse_judge
from pytest_taskbench.guards import validation
from pytest_taskbench.guards.files import FileProblem, compose_yaml, parse_json, read_text, value_problem
from pytest_taskbench.results import Policy, parse_policy
from pytest_taskbench.scoring.registry import PACKS
from pytest_taskbench.verdict.analysis import AnalysisConfig
from pytest_taskbench.verdict.gates import GateConfig, parse_gates

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
        "scorer_packs",
        "analysis",
        "tools",
        "tool_choice",
        "judges",
        "embeddings",
        "repeats",
        "policy",
        "pass_at_k",
        *("environment", "conversation_policy"),
    }
)
TOOL_CHOICES = ("auto", "none", "required")
MAX_REPEATS = 1000
ANALYSIS_KEYS = ("strength", "weakness", "confusion_field")
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class SuiteError(Exception):
    """The suite file is missing, unreadable or invalid."""


class _Located(validation.Invalid):
    """A suite file problem whose message already names its file and line (a tool list entry)."""


class WeightsNormalisedWarning(UserWarning):
    """Category weights did not sum to 1 and were normalised."""


@dataclass(frozen=True)
class Category:
    name: str
    weight: float
    scorer: ScorerSpec
    description: str = ""
    tools: tuple[str, ...] | None = None  # the suite's tools this category's cases may call (None: all of them)
    repeats: int | None = None  # None: the suite's
    policy: Policy | None = None


@dataclass(frozen=True)
class Suite:
    """A loaded, validated suite file."""

    path: Path
    name: str
    categories: Mapping[str, Category]
    difficulties: tuple[str, ...] = DIFFICULTIES
    pass_threshold: float = defaults.PASS_THRESHOLD
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
    scorer_packs: tuple[str, ...] = ()  # the packs of scorers this suite names (scoring/registry.py)
    tools: tuple[Tool, ...] = ()  # the functions offered to the model (``tools:``); empty: not a tool-call suite
    tools_path: Path | None = None
    tool_choice: str | Mapping[str, Any] | None = None  # sent as the request's tool_choice when set
    judges: Mapping[str, JudgeModel] = field(default_factory=dict)  # name -> the judge model (generation/judges.py)
    embeddings: Mapping[str, str] = field(default_factory=dict)  # name -> an embedding model spec (generation/embeddings.py)
    repeats: int = 1  # samples per case (a category's or a case's own ``repeats`` wins)
    policy: Policy = Policy()  # how a case's samples become its score and pass/fail
    pass_at_k: tuple[int, ...] = ()  # the k of pass@k and pass^k to report; empty: 1 and the most samples a case had
    conversation: ConversationSetup = ConversationSetup()  # environment, conversation policy, turn and observation templates

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def weights(self) -> dict[str, float]:
        return {name: category.weight for name, category in self.categories.items()}

    def repeats_for(self, case: Case) -> int:
        """Samples to draw for ``case``: its own ``repeats``, else its category's, else the suite's."""
        category = self.categories.get(case.category)
        return case.repeats or (category.repeats if category is not None else None) or self.repeats

    def policy_for(self, case: Case) -> Policy:
        category = self.categories.get(case.category)
        return case.policy or (category.policy if category is not None else None) or self.policy

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

    def category_tools(self) -> dict[str, tuple[Tool, ...]] | None:
        """The tools each category's cases may call (None: the suite has no ``tools:``)."""
        if not self.tools:
            return None
        return {name: self.tools if c.tools is None else narrowed(self.tools, c.tools, name) for name, c in self.categories.items()}

    def prompt_for(self, case: Case) -> Prompt:
        """Build the chat messages and the plain-text prompt for one case (with the tools it may call)."""
        system = _fill(self.system_prompt, self, case.request_text)
        tools = tuple(tool.as_openai() for tool in case.tools)
        tool_choice = self.tool_choice if tools else None
        if case.messages is not None:
            messages = list(case.messages)
            if system and not any(m["role"] == "system" for m in messages):
                messages.insert(0, {"role": "system", "content": system})
            text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
            return Prompt(tuple(messages), text, tools, tool_choice)
        user = _fill(self.prompt_template, self, case.request_text)  # a conversation: its first turn
        chat = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        text = f"{system}\n\n{user}" if system else user
        return Prompt(tuple(chat), text, tools, tool_choice)

    def band_for(self, value: float) -> str:
        for lower, label in self.bands:
            if value >= lower:
                return label
        return self.bands[-1][1]

    def _own_files(self) -> list[Path]:
        """The suite file and the files it names (schema, tools): never case files."""
        return [self.path, *(path for path in (self.schema_path, self.tools_path) if path is not None)]

    def holds_case_file(self, path: Path) -> bool:
        """Whether ``path`` is one of this suite's case files (not the suite file, its schema or tools, matching ``case_files``)."""
        resolved = path.resolve()
        if any(resolved == own.resolve() for own in self._own_files()):
            return False
        return is_case_file_name(path, self.root, self.case_patterns)

    def case_files(self) -> list[Path]:
        """The suite's case files, in sorted order; a folder below it with its own taskbench.yaml is another suite."""
        return list(iter_case_files(self.root, self.case_patterns, self._own_files(), nested_suite=SUITE_FILE_NAME))

    def content_hash(self) -> str:
        """A hash of the suite file, its tool list file and every case file, to recognise the same suite later."""
        digest = hashlib.sha256()
        for file in [self.path, *([self.tools_path] if self.tools_path is not None else []), *self.case_files()]:
            digest.update((file.relative_to(self.root).as_posix() if file.is_relative_to(self.root) else file.name).encode())
            digest.update(file.read_bytes())
        return digest.hexdigest()

    def load_cases(self, path: Path, display_path: str | None = None) -> CaseFileContents:
        """Read one case file with this suite's categories and difficulties."""
        contents = load_case_file(
            path, categories=list(self.categories), difficulties=self.difficulties, display_path=display_path, tools=self.category_tools()
        )
        return checked_conversations(contents, self.conversation)

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
        document = compose_yaml(read_text(suite_path, str(suite_path)), str(suite_path))
    except FileProblem as exc:
        raise SuiteError(str(exc)) from None
    data = document.value
    problem = value_problem(data)
    if problem is not None:
        raise SuiteError(f"{suite_path}: the suite file {problem}")
    return parse_suite(data or {}, suite_path, tool_lines=_tool_lines(document.node, document.lines.of))


def _tool_lines(node: yaml.Node | None, line_of: Callable[[Any], int]) -> list[int]:
    """The line of each entry of an inline ``tools:`` list (for errors that name one)."""
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if key.value == "tools" and isinstance(value, yaml.SequenceNode):
            return [line_of(item.start_mark) for item in value.value]
        if key.value == "tools":
            return [line_of(value.start_mark)]
    return []


def parse_suite(data: Any, suite_path: Path, tool_lines: list[int] | None = None) -> Suite:
    """Validate a suite file's mapping; raises SuiteError naming the file, the key, the value and what was expected."""
    try:
        return _parse(data, suite_path, tool_lines or [])
    except _Located as exc:
        raise SuiteError(str(exc)) from None
    except validation.Invalid as exc:
        raise SuiteError(f"{suite_path}: {exc}") from None


def _parse(data: Any, suite_path: Path, tool_lines: list[int]) -> Suite:
    data = validation.mapping("the suite file", data)
    validation.only_keys("", data, SUITE_KEYS)
    default_scorer = scorer_spec("default_scorer", data.get("default_scorer", "exact_match"))
    categories, weights_note = _categories(data.get("categories"), default_scorer)
    difficulties = validation.texts("'difficulties'", data.get("difficulties", DIFFICULTIES), single=False, empty=False)
    if len(set(difficulties)) != len(difficulties) or not all(difficulties):
        raise validation.Invalid(f"'difficulties' must name each level once, got {list(difficulties)}")
    for key in ("name", "description"):
        if data.get(key) is not None:
            validation.text(f"'{key}'", data[key], empty=True)

    prompt = validation.mapping("'prompt'", data.get("prompt") or {})
    validation.only_keys("prompt", prompt, ("system", "template", "chat_template", "turn_template", "observation_template"))
    system, template = (validation.text(f"prompt.{key}", prompt.get(key) or "", empty=True) for key in ("system", "template"))
    generation = _generation(
        validation.mapping("'generation'", data.get("generation") or {}), validation.flag("prompt.chat_template", prompt.get("chat_template", True))
    )
    schema, schema_path = _schema(data.get("schema"), suite_path)
    scoring = validation.mapping("'scoring'", data.get("scoring") or {}, what="a mapping of parameters offered to every scorer")
    patterns = validation.texts("'case_files'", data.get("case_files", DEFAULT_CASE_PATTERNS), empty=False)
    if not all(patterns):
        raise validation.Invalid(f"'case_files' must be glob patterns, got {list(patterns)}")
    min_cases = data.get("min_cases")
    tools, tools_path = _tools(data.get("tools"), suite_path, tool_lines)
    if tools and not generation.use_chat_template:
        raise validation.Invalid("tools reach a model through its chat template: remove prompt.chat_template: false, or the tools")
    for category in categories.values():
        if category.tools is not None:
            if not tools:
                raise validation.Invalid(f"category {category.name!r}: tools needs the suite's own 'tools:' list")
            narrowed(tools, category.tools, f"category {category.name!r}: tools")
    return Suite(
        path=suite_path,
        name=str(data.get("name") or suite_path.parent.name),
        description=str(data.get("description") or ""),
        categories=categories,
        difficulties=difficulties,
        pass_threshold=validation.unit("pass_threshold", data.get("pass_threshold", defaults.PASS_THRESHOLD)),
        system_prompt=system,
        prompt_template=template or "{input}",
        generation=generation,
        schema=schema,
        schema_path=schema_path,
        reference_date=_reference_date(data.get("reference_date")),
        scoring=scoring,
        gates=parse_gates(data.get("gates"), list(categories)),
        bands=_bands(data.get("bands")),
        case_patterns=patterns,
        min_cases=None if min_cases is None else validation.whole("'min_cases'", min_cases, minimum=1),
        weights_note=weights_note,
        analysis=_analysis(data.get("analysis")),
        scorer_packs=_packs(data.get("scorer_packs", [])),
        tools=tools,
        tools_path=tools_path,
        tool_choice=_tool_choice(data.get("tool_choice"), tools),
        judges=_named("judges", data.get("judges"), parse_judge),
        embeddings=_named("embeddings", data.get("embeddings"), lambda where, value: validation.text(where, value).strip()),
        repeats=validation.whole("repeats", data.get("repeats", 1), minimum=1, maximum=MAX_REPEATS),
        policy=parse_policy("policy", data.get("policy", "mean")),
        pass_at_k=_pass_at_k(data.get("pass_at_k")),
        conversation=parse_conversation_setup(data, prompt),
    )


def _named(key: str, value: Any, parse: Callable[[str, Any], Any]) -> dict[str, Any]:
    """``judges:`` or ``embeddings:``: a mapping of names to models."""
    value = validation.mapping(f"'{key}'", value or {}, what="a mapping of names to model specs")
    named = {}
    for name, spec in value.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise validation.Invalid(f"{key}: name {name!r} must be letters, digits, '_' and '-', starting with a letter")
        named[name] = parse(f"{key}.{name}", spec)
    return named


def _pass_at_k(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, list) or not items:
        raise validation.Invalid(f"pass_at_k must be a list of whole numbers >= 1 (the k of pass@k), got {value!r}")
    return tuple(sorted({validation.whole("pass_at_k", item, minimum=1, maximum=MAX_REPEATS) for item in items}))


def _categories(value: Any, default_scorer: ScorerSpec) -> tuple[dict[str, Category], str]:
    if not isinstance(value, dict) or not value:
        raise validation.Invalid(f"'categories' must map each category name to {{weight, scorer}}, got {value!r}")
    categories: dict[str, Category] = {}
    for name, spec in value.items():
        spec = spec if isinstance(spec, dict) else {"weight": spec}
        where = f"category {name!r}"
        validation.only_keys(where, spec, ("weight", "scorer", "description", "tools", "repeats", "policy"))
        weight = validation.number(f"{where}: weight", spec.get("weight", 1.0), minimum=0)
        scorer = scorer_spec(f"{where}: scorer", spec.get("scorer", default_scorer))
        description = validation.text(f"{where}: description", spec.get("description", ""), empty=True)
        tools = validation.texts(f"{where}: tools", spec["tools"], empty=False) if "tools" in spec else None
        repeats = None if spec.get("repeats") is None else validation.whole(f"{where}: repeats", spec["repeats"], minimum=1, maximum=MAX_REPEATS)
        policy = None if spec.get("policy") is None else parse_policy(f"{where}: policy", spec["policy"])
        categories[str(name)] = Category(str(name), weight, scorer, description, tools=tools, repeats=repeats, policy=policy)
    total = sum(c.weight for c in categories.values())
    if total <= 0:
        raise validation.Invalid("category weights must not all be 0")
    note = ""
    if abs(total - 1.0) > 1e-6:
        note = f"category weights sum to {total:g}, not 1; normalised to {', '.join(f'{n}={c.weight / total:.3f}' for n, c in categories.items())}"
        warnings.warn(WeightsNormalisedWarning(note), stacklevel=4)
        categories = {n: replace(c, weight=c.weight / total) for n, c in categories.items()}
    return categories, note


def _generation(value: dict[Any, Any], chat_template: bool) -> GenerationParams:
    validation.only_keys("generation", value, ("max_new_tokens", "stop", "temperature", "top_p", "top_k", "seed"))
    top_p, top_k, seed = (value.get(key) for key in ("top_p", "top_k", "seed"))
    return GenerationParams(
        max_new_tokens=validation.whole("generation.max_new_tokens", value.get("max_new_tokens", defaults.MAX_NEW_TOKENS), minimum=1, maximum=MAX_NEW_TOKENS),
        stop=validation.texts("generation.stop", value.get("stop", [])),
        temperature=validation.number("generation.temperature", value.get("temperature", 0.0), minimum=0, maximum=MAX_TEMPERATURE),
        use_chat_template=chat_template,
        top_p=None if top_p is None else validation.number("generation.top_p", top_p, above=0, maximum=1),
        top_k=None if top_k is None else validation.whole("generation.top_k", top_k, minimum=1),
        seed=None if seed is None else validation.whole("generation.seed", seed, minimum=0, maximum=2**63 - 1),
    )


def _reference_date(value: Any) -> dt.date | None:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    raise validation.Invalid(f"reference_date must be an ISO date (YYYY-MM-DD), got {value!r}")


def _schema(value: Any, suite_path: Path) -> tuple[dict[str, Any] | None, Path | None]:
    if value is None:
        return None, None
    if isinstance(value, dict):
        return value, None
    name = validation.text("schema", value)
    schema_path = suite_path.parent / name
    try:
        schema = parse_json(read_text(schema_path, str(schema_path)), str(schema_path))
    except FileProblem as exc:
        where = f" (line {exc.line})" if exc.line > 1 else ""
        raise validation.Invalid(f"schema {name!r}: cannot read JSON Schema{where}: {exc.message}") from None
    if not isinstance(schema, dict):
        raise validation.Invalid(f"schema {name!r} must hold a JSON object")
    problem = value_problem(schema)
    if problem is not None:
        raise validation.Invalid(f"schema {name!r} {problem}")
    return schema, schema_path


def _tools(value: Any, suite_path: Path, lines: list[int]) -> tuple[tuple[Tool, ...], Path | None]:
    """``tools:``: a list of OpenAI function schemas, or a JSON/YAML file of them next to the suite file."""
    if value is None:
        return (), None
    try:
        if isinstance(value, str):
            tools_path = suite_path.parent / validation.text("tools", value)
            return load_tools_file(tools_path, str(tools_path)), tools_path
        return located_tools(value, str(suite_path), lines), None
    except FileProblem as exc:
        raise _Located(str(exc)) from None


def _tool_choice(value: Any, tools: tuple[Tool, ...]) -> str | Mapping[str, Any] | None:
    """``tool_choice:``: auto, none, required, the name of one of the tools, or an OpenAI tool_choice object (sent as is)."""
    if value is None:
        return None
    if not tools:
        raise validation.Invalid("tool_choice needs the suite's 'tools:' list")
    if isinstance(value, dict):
        return value
    names = [tool.name for tool in tools]
    choice = validation.choice("tool_choice", value, [*TOOL_CHOICES, *names])
    return choice if choice in TOOL_CHOICES else {"type": "function", "function": {"name": choice}}


def _bands(value: Any) -> tuple[tuple[float, str], ...]:
    if value is None:
        return DEFAULT_BANDS
    if not isinstance(value, dict) or not value:
        raise validation.Invalid(f"'bands' must map each label to its lower bound, e.g. {{excellent: 0.9, good: 0.8}}, got {value!r}")
    return tuple(sorted(((validation.unit(f"bands.{label}", lower), str(label)) for label, lower in value.items()), reverse=True))


def _packs(value: Any) -> tuple[str, ...]:
    packs = validation.texts("scorer_packs", value)
    for pack in packs:
        validation.choice("scorer_packs", pack, list(PACKS))
    return packs


def _analysis(value: Any) -> AnalysisConfig:
    """The ``analysis:`` mapping: strength and weakness thresholds and the confusion matrix's field."""
    if value is None:
        return AnalysisConfig()
    value = validation.mapping("'analysis'", value, what="a mapping with strength, weakness and confusion_field")
    validation.only_keys("analysis", value, ANALYSIS_KEYS)
    strength = validation.unit("analysis.strength", value.get("strength", defaults.STRENGTH))
    weakness = validation.unit("analysis.weakness", value.get("weakness", defaults.WEAKNESS))
    if weakness > strength:
        raise validation.Invalid(f"analysis.weakness ({weakness:g}) must not be above analysis.strength ({strength:g})")
    confusion_field = value.get("confusion_field", AnalysisConfig.confusion_field)
    if confusion_field is not None and (not isinstance(confusion_field, str) or not confusion_field.strip()):
        raise validation.Invalid(f"analysis.confusion_field must be a field name or null, got {confusion_field!r}")
    return AnalysisConfig(strength, weakness, confusion_field)
