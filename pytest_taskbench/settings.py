"""Run settings: the option table (one place for flags, ini keys, types, defaults, help) and parsing.

Every option is a ``--taskbench-*`` flag and an ini key named after its ``dest``
(``taskbench_min_aggregate``). The command line wins over the ini file, which
wins over the default. Values that shape the suite itself (categories, prompt,
schema) live in the suite file instead; gate options here override its gates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any


class SettingsError(ValueError):
    """A bad option value; the message names the flag, the ini key, the value and what was expected."""


@dataclass(frozen=True)
class OptionSpec:
    dest: str
    kind: str  # "str" | "float" | "int" | "bool" | "list" | "name" (a str flag whose value may be left out: "default")
    help: str
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--taskbench-" + self.dest.replace("_", "-")

    @property
    def ini_name(self) -> str:
        return "taskbench_" + self.dest

    @property
    def ini_type(self) -> str:
        return {"bool": "bool", "list": "linelist"}.get(self.kind, "string")


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "model", "str", "the model: a local transformers checkpoint directory, or package.module:function (prompts in, outputs out)", "PATH|MODULE:FUNC"
    ),
    OptionSpec("pass_threshold", "float", "score at which a case passes (overrides the suite's pass_threshold; default 0.8)", "SCORE"),
    OptionSpec("min_aggregate", "float", "gate: fail the run when the weighted aggregate is below this", "SCORE"),
    OptionSpec("min_category", "list", "gate: CATEGORY=SCORE minimum mean for a category (repeatable; '*=SCORE' for every category)", "CAT=SCORE"),
    OptionSpec("min_pass_rate", "float", "gate: fail the run when the share of passing cases is below this", "RATE"),
    OptionSpec("max_errors", "int", "gate: most cases the model may fail to answer (default 0)", "N"),
    OptionSpec("strict", "bool", "any case below the pass threshold fails the run, not only the gates"),
    # statistics, baselines and regression gates (stats.py, baseline.py, compare.py)
    OptionSpec("seed", "int", "seed for the bootstrap and permutation resampling (default 20240601): the same results give the same intervals", "N"),
    OptionSpec("alpha", "float", "significance level of the regression tests; intervals are at 1 - alpha (overrides gates.alpha; default 0.05)", "ALPHA"),
    OptionSpec("min_aggregate_lower_bound", "float", "gate: fail the run when the lower bound of the aggregate's interval is below this", "SCORE"),
    OptionSpec(
        "save_baseline",
        "name",
        "store this run as baseline NAME (ROOTDIR/.taskbench/baselines/NAME.json; NAME defaults to 'default') or at PATH.json",
        "NAME|PATH",
    ),
    OptionSpec("compare", "str", "compare this run case by case with baseline NAME or PATH.json and apply the regression gates", "NAME|PATH"),
    OptionSpec("update_baseline", "bool", "rewrite the baseline named by --taskbench-compare (or 'default') with this run; review its diff"),
    OptionSpec("compare_shared_only", "bool", "compare with a baseline from a changed suite on the cases both share"),
    OptionSpec("comparison_file", "str", "also write the comparison with the baseline as JSON to PATH", "PATH"),
    OptionSpec("fail_on_significant_regression", "bool", "gate: fail the run when the aggregate drops significantly against the baseline"),
    OptionSpec("max_aggregate_drop", "float", "gate: fail the run when the aggregate drops significantly and by more than this", "POINTS"),
    OptionSpec("non_inferiority_margin", "float", "gate: fail unless the lower bound of the aggregate's change is above -MARGIN", "MARGIN"),
    OptionSpec("fail_on_category_regression", "bool", "gate: fail the run when any category regresses significantly (Holm-adjusted)"),
    OptionSpec("fail_on_critical_regression", "bool", "gate: fail the run when a case marked critical passed in the baseline and fails now"),
    OptionSpec("no_chat_template", "bool", "do not apply the tokenizer's chat template, even when it has one"),
    OptionSpec("batch_size", "int", "prompts per generation batch, or auto: sized from the prompts' token lengths and free memory (default 8)", "N|auto"),
    OptionSpec("device", "str", "device for a transformers model: cpu, cuda, mps or auto (default cpu)", "DEVICE"),
    OptionSpec("dtype", "str", "torch dtype for a transformers model: auto, float32, float16, bfloat16 (default auto)", "DTYPE"),
    OptionSpec(
        "threads",
        "int",
        "CPU threads for a transformers model (default: torch's choice; under pytest-xdist, the CPUs divided among the workers)",
        "N",
    ),
    OptionSpec("max_new_tokens", "int", "most tokens generated per case (overrides the suite's generation.max_new_tokens)", "N"),
    OptionSpec("cache_dir", "str", "generation cache directory (default: taskbench/ in pytest's cache directory)", "DIR"),
    OptionSpec("no_cache", "bool", "neither read nor write the generation cache"),
    OptionSpec("refresh_cache", "bool", "regenerate every output and overwrite its cache entry"),
    OptionSpec("clear_cache", "bool", "delete the generation cache (every model) before the run"),
    OptionSpec("outputs", "str", 'score saved outputs instead of running a model: JSON lines {"id": CASE_ID, "output": TEXT}', "FILE.jsonl"),
    OptionSpec("check_batching", "int", "regenerate N sampled outputs one at a time and report those that differ from the batched output", "N"),
    OptionSpec("http_endpoint", "str", "for an http(s):// model: chat (/chat/completions) or completions (/completions) (default chat)", "chat|completions"),
    OptionSpec("http_model", "str", "for an http(s):// model: the model name sent to the server (default: the only one /models lists)", "NAME"),
    OptionSpec("http_api_key_env", "str", "for an http(s):// model: environment variable holding the API key (default TASKBENCH_API_KEY)", "VAR"),
    OptionSpec("http_concurrency", "int", "for an http(s):// model: requests in flight at once (default 8)", "N"),
    OptionSpec(
        "http_timeout",
        "int",
        "for an http(s):// model: deadline in seconds for each request as a whole, from connecting to the last byte of the answer (default 120)",
        "SECONDS",
    ),
    OptionSpec("http_retries", "int", "for an http(s):// model: retries after 429, 5xx, a timeout or a connection error, with backoff (default 3)", "N"),
    OptionSpec("report", "str", "write a self-contained HTML report (charts, failure analysis, every case) to this file", "PATH.html"),
    OptionSpec(
        "markdown", "str", "write a short Markdown summary for a pull request comment to this file ($GITHUB_STEP_SUMMARY gets it automatically)", "PATH.md"
    ),
    OptionSpec("log_samples", "str", "write every case (prompt, output, expected, score, details) to this JSON Lines file", "PATH.jsonl"),
    # lm-evaluation-harness task YAML (lmeval.py)
    OptionSpec("no_lm_eval", "bool", "do not collect lm-evaluation-harness task YAML files as benchmark cases"),
    OptionSpec(
        "lm_eval_chat_template",
        "bool",
        "apply the tokenizer's chat template to lm-eval task prompts (lm_eval --apply_chat_template); off by default, as in lm-eval",
    ),
    OptionSpec("lm_eval_allow_functions", "bool", "let lm-eval task YAML `!function` tags import and run Python code next to the task file"),
)
POSITIVE_INTS = frozenset({"batch_size", "threads", "max_new_tokens", "http_concurrency", "http_timeout"})
OPTIONS_BY_DEST: Mapping[str, OptionSpec] = {option.dest: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """Resolved run options. ``None`` means "not set here: use the suite's value"."""

    model: str | None = None
    pass_threshold: float | None = None
    min_aggregate: float | None = None
    min_category: Mapping[str, float] = field(default_factory=dict)
    min_pass_rate: float | None = None
    max_errors: int | None = None
    strict: bool = False
    seed: int | None = None
    alpha: float | None = None
    min_aggregate_lower_bound: float | None = None
    save_baseline: str | None = None
    compare: str | None = None
    update_baseline: bool = False
    compare_shared_only: bool = False
    comparison_file: str | None = None
    fail_on_significant_regression: bool = False
    max_aggregate_drop: float | None = None
    non_inferiority_margin: float | None = None
    fail_on_category_regression: bool = False
    fail_on_critical_regression: bool = False
    no_chat_template: bool = False
    batch_size: int = 8
    device: str = "cpu"
    dtype: str = "auto"
    threads: int | None = None
    max_new_tokens: int | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    refresh_cache: bool = False
    clear_cache: bool = False
    outputs: str | None = None
    check_batching: int = 0
    http_endpoint: str = "chat"
    http_model: str | None = None
    http_api_key_env: str = "TASKBENCH_API_KEY"
    http_concurrency: int = 8
    http_timeout: int = 120
    http_retries: int = 3
    report: str | None = None
    markdown: str | None = None
    log_samples: str | None = None
    no_lm_eval: bool = False
    lm_eval_chat_template: bool = False
    lm_eval_allow_functions: bool = False

    @classmethod
    def from_lookup(cls, lookup: Callable[[OptionSpec], Any]) -> Settings:
        """Build settings from ``lookup(option)``, which returns the raw CLI-or-ini value or None."""
        values: dict[str, Any] = {}
        for option in OPTIONS:
            raw = lookup(option)
            if raw is None or raw == "" or raw == []:
                continue
            values[option.dest] = _convert(option, raw)
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def _convert(option: OptionSpec, raw: Any) -> Any:
    where = f"{option.flag} / ini {option.ini_name}"
    if option.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{where}: expected true or false, got {raw!r}")
    if option.kind == "float":
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected a number between 0 and 1, got {raw!r}") from None
        if not 0.0 <= value <= 1.0:
            raise SettingsError(f"{where}: expected a number between 0 and 1, got {raw!r}")
        if option.dest == "alpha" and not 0.0 < value <= 0.5:
            raise SettingsError(f"{where}: expected a significance level above 0 and at most 0.5 (e.g. 0.05), got {raw!r}")
        return value
    if option.kind == "int":
        if option.dest == "batch_size" and str(raw).strip().lower() == "auto":
            return 0  # 0 means auto
        try:
            number = int(str(raw))
        except ValueError:
            raise SettingsError(f"{where}: expected a whole number, got {raw!r}") from None
        positive = option.dest in POSITIVE_INTS
        if number < 0 or (positive and number < 1):
            raise SettingsError(f"{where}: expected a {'positive' if positive else 'non-negative'} whole number, got {raw!r}")
        return number
    if option.kind == "list":
        return _category_thresholds(option, raw if isinstance(raw, (list, tuple)) else [raw])
    if option.dest == "device" and raw not in ("cpu", "cuda", "mps", "auto") and not str(raw).startswith("cuda:"):
        raise SettingsError(f"{where}: expected cpu, cuda, cuda:N, mps or auto, got {raw!r}")
    if option.dest == "http_endpoint" and raw not in ("chat", "completions"):
        raise SettingsError(f"{where}: expected chat or completions, got {raw!r}")
    if option.dest == "dtype" and raw not in ("auto", "float32", "float16", "bfloat16"):
        raise SettingsError(f"{where}: expected auto, float32, float16 or bfloat16, got {raw!r}")
    return str(raw)


def _category_thresholds(option: OptionSpec, items: Sequence[Any]) -> dict[str, float]:
    thresholds: dict[str, float] = {}
    for item in items:
        name, separator, value = str(item).partition("=")
        if not separator or not name.strip():
            raise SettingsError(f"{option.flag} / ini {option.ini_name}: expected CATEGORY=SCORE, got {item!r}")
        thresholds[name.strip()] = _convert(OptionSpec(option.dest, "float", ""), value.strip())
    return thresholds


def options_markdown() -> str:
    """The options reference as a Markdown table (the README's copy is checked against it)."""
    rows = ["| option | ini key | meaning |", "| --- | --- | --- |"]
    for option in OPTIONS:
        flag = option.flag if option.kind == "bool" or not option.metavar else f"{option.flag}={option.metavar}"
        meaning = option.help.replace("|", "\\|")
        rows.append(f"| `{flag.replace('|', chr(92) + '|')}` | `{option.ini_name}` | {meaning} |")
    return "\n".join(rows)
