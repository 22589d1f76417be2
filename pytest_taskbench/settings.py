"""Run settings: every option declared once, as a field of ``Settings``.

A field's ``option(...)`` gives its help line, metavar and checks; its type
annotation gives its kind (text, whole number, number, switch); its default is
its default (written into the help line). From these fields and from the gate
table (``verdict/gates.py``: one option per gate) come the ``--taskbench-*``
flags, the ini keys named after them (``taskbench_<name>``), ``--help``, the
options reference in the docs and the parsing here. The command line wins over
the ini file, which wins over the default. Values that shape the suite itself
(categories, prompt, schema) live in the suite file; gate options override its
``gates:``.

Domain code: no pytest import.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Literal, Union

from pytest_taskbench import defaults
from pytest_taskbench.guards import validation
from pytest_taskbench.shards import Shard
from pytest_taskbench.verdict.gates import GATES

Kind = Literal["str", "int", "float", "bool", "name", "list"]
Role = Literal["score", "finish", None]
DEFAULT_HISTORY_DIR = ".taskbench/history"  # what a bare --taskbench-history records to (below the root directory)
DEFAULT_BASELINE_NAME = "default"  # what --taskbench-save-baseline stores as when no NAME follows it


class SettingsError(ValueError):
    """A bad option value; the message names the flag, the ini key, the value and what was expected."""


@dataclass(frozen=True)
class Option:
    """One ``--taskbench-*`` flag and its ini key."""

    dest: str
    kind: Kind
    help: str
    metavar: str | None = None
    parse: Callable[[str, Any], Any] | None = None  # (name, raw) -> value; raises validation.Invalid
    default: Any = None
    optional_value: Any = None  # for kind "name": the value when the flag is given bare
    role: Role = None  # see ``option(role=...)``

    @property
    def flag(self) -> str:
        return "--taskbench-" + self.dest.replace("_", "-")

    @property
    def ini_name(self) -> str:
        return "taskbench_" + self.dest

    @property
    def ini_type(self) -> str:
        return {"bool": "bool", "list": "linelist"}.get(self.kind, "string")

    @property
    def where(self) -> str:
        return f"{self.flag} / ini {self.ini_name}"


def option(
    help: str,
    default: Any = None,
    *,
    metavar: str | None = None,
    choices: Sequence[str] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    words: Mapping[str, Any] | None = None,
    bare: Any = None,
    check: Callable[[str, str], Any] | None = None,
    role: Role = None,
) -> Any:
    """A ``Settings`` field that is an option.

    Args:
        help: the help line; ``{default}`` in it is replaced by the default.
        default: the value when neither the command line nor the ini file sets it.
        metavar: how the value is shown in ``--help``.
        choices: the only texts allowed.
        minimum, maximum, above: bounds for numbers (``above`` exclusive).
        words: texts that stand for a value (``{"auto": 0}`` for a batch size).
        bare: for an optional-value flag, the value when it is given with none.
        check: for a text, a check of its own: ``(name, text) -> value``, raising ``validation.Invalid``.
        role: what a results file does with the value: ``"score"`` (it changes a case's score: every
            shard of a run must have the same), ``"finish"`` (the verdict or a report reads it: the
            merge applies it), or None (it only concerns this process).
    """
    spec = {
        "help": help,
        "metavar": metavar,
        "choices": tuple(choices),
        "minimum": minimum,
        "maximum": maximum,
        "above": above,
        "words": dict(words or {}),
        "bare": bare,
        "check": check,
        "role": role,
    }
    return field(default=default, metadata={"option": spec})


def _shard(name: str, text: str) -> str:
    return str(Shard.parse(name, text))


def _device(name: str, text: str) -> str:
    if text in ("cpu", "cuda", "mps", "auto") or re.fullmatch(r"cuda:\d+", text):
        return text
    raise validation.Invalid(f"{name} must be cpu, cuda, cuda:N, mps or auto, got {text!r}")


@dataclass(frozen=True)
class Settings:
    """Resolved run options. ``None`` means "not set here: use the suite's value"."""

    model: str | None = option(
        "the model: a local transformers checkpoint directory (needs the hf extra), an http(s):// server URL, package.module:function,"
        " or NAME:ARGS for a registered backend (transformers, openai, callable or your own @backend)",
        metavar="PATH|URL|MODULE:FUNC|NAME:ARGS",
    )
    pass_threshold: float | None = option(
        f"score at which a case passes (overrides the suite's pass_threshold; default {defaults.PASS_THRESHOLD})",
        metavar="SCORE",
        minimum=0,
        maximum=1,
        role="score",
    )
    # statistics and baselines (verdict/stats.py, baseline.py, verdict/compare.py)
    seed: int | None = option(
        f"seed for the bootstrap and permutation resampling (default {defaults.SEED}): the same results give the same intervals",
        metavar="N",
        minimum=0,
        role="finish",
    )
    alpha: float | None = option(
        f"significance level of the regression tests; intervals are at 1 - alpha (overrides gates.alpha; default {defaults.ALPHA})",
        metavar="ALPHA",
        above=0,
        maximum=0.5,
        role="finish",
    )
    save_baseline: str | None = option(
        f"store this run as baseline NAME (ROOTDIR/.taskbench/baselines/NAME.json; NAME defaults to '{DEFAULT_BASELINE_NAME}') or at PATH.json",
        metavar="NAME|PATH",
        bare=DEFAULT_BASELINE_NAME,
        role="finish",
    )
    compare: str | None = option(
        "compare this run case by case with baseline NAME or PATH.json and apply the regression gates", metavar="NAME|PATH", role="finish"
    )
    update_baseline: bool = option(
        f"rewrite the baseline named by --taskbench-compare (or '{DEFAULT_BASELINE_NAME}') with this run; review its diff", False, role="finish"
    )
    compare_shared_only: bool = option("compare with a baseline from a changed suite on the cases both share", False, role="finish")
    comparison_file: str | None = option("also write the comparison with the baseline as JSON to PATH", metavar="PATH", role="finish")
    # generation (generation/)
    no_chat_template: bool = option("do not apply the tokenizer's chat template, even when it has one", False, role="score")
    batch_size: int = option(
        "prompts per generation batch, or auto: sized from the prompts' token lengths and free memory (default {default})",
        defaults.BATCH_SIZE,
        metavar="N|auto",
        minimum=1,
        words={"auto": 0},
    )
    device: str = option(
        "device for a transformers model: cpu, cuda, cuda:N, mps or auto (default {default})", defaults.DEVICE, metavar="DEVICE", check=_device
    )
    dtype: str = option(
        "torch dtype for a transformers model: auto, float32, float16, bfloat16 (default {default})",
        defaults.DTYPE,
        metavar="DTYPE",
        choices=("auto", "float32", "float16", "bfloat16"),
        role="score",
    )
    decoding: str = option(
        "how a transformers model decodes greedy batches: auto (finished rows leave the batch, where that gives what generate gives) or generate (transformers' generate, as before) (default {default})",
        defaults.DECODING,
        metavar="HOW",
        choices=("auto", "generate"),
    )
    threads: int | None = option(
        "CPU threads for a transformers model (default: torch's choice; under pytest-xdist, the CPUs divided among the workers)", metavar="N", minimum=1
    )
    max_new_tokens: int | None = option(
        "most tokens generated per case (overrides the suite's generation.max_new_tokens)", metavar="N", minimum=1, role="score"
    )
    repeats: int | None = option(
        "samples drawn per case, each scored; pass@k, pass^k and flaky cases are reported (overrides repeats: at every level of the suite)",
        metavar="N",
        minimum=1,
        maximum=1000,
        role="score",
    )
    temperature: float | None = option(
        "sampling temperature, 0 for greedy decoding (overrides the suite's generation.temperature)", metavar="T", minimum=0, maximum=10, role="score"
    )
    cache_dir: str | None = option("generation cache directory (default: taskbench/ in pytest's cache directory)", metavar="DIR")
    no_cache: bool = option("neither read nor write the generation cache", False)
    refresh_cache: bool = option("regenerate every output and overwrite its cache entry", False)
    clear_cache: bool = option("delete the generation cache (every model) before the run", False)
    outputs: str | None = option('score saved outputs instead of running a model: JSON lines {"id": CASE_ID, "output": TEXT}', metavar="FILE.jsonl")
    check_batching: int = option("regenerate N sampled outputs one at a time and report those that differ from the batched output", 0, metavar="N", minimum=0)
    tool_parser: str = option(
        "how tool calls are read from a model's text: auto (hermes when there is a <tool_call> tag, else json), hermes, json,"
        " a parser registered with @call_parser, or package.module:function (default {default})",
        defaults.TOOL_PARSER,
        metavar="NAME|MODULE:FUNC",
        role="score",
    )
    http_endpoint: str = option(
        "for an http(s):// model: chat (/chat/completions) or completions (/completions) (default {default})",
        defaults.HTTP_ENDPOINT,
        metavar="chat|completions",
        choices=("chat", "completions"),
        role="score",
    )
    http_model: str | None = option("for an http(s):// model: the model name sent to the server (default: the only one /models lists)", metavar="NAME")
    http_api_key_env: str = option(
        "for an http(s):// model: environment variable holding the API key (default {default})", defaults.HTTP_API_KEY_ENV, metavar="VAR"
    )
    http_concurrency: int = option(
        "for an http(s):// model: the most requests in flight at once; fewer while the server slows down or says it is overloaded (default {default})",
        defaults.HTTP_CONCURRENCY,
        metavar="N",
        minimum=1,
    )
    http_fixed_concurrency: bool = option("for an http(s):// model: keep exactly --taskbench-http-concurrency requests in flight, without adapting", False)
    http_timeout: int = option(
        "for an http(s):// model: seconds one request may take in all (connect, send, headers and answer), whatever the server does (default {default})",
        defaults.HTTP_TIMEOUT_SECONDS,
        metavar="SECONDS",
        minimum=1,
    )
    http_retries: int = option(
        "for an http(s):// model: retries after 429, 5xx, a timeout or a connection error, with backoff (default {default})",
        defaults.HTTP_RETRIES,
        metavar="N",
        minimum=0,
    )
    # judges and embedding models (generation/judges.py, generation/embeddings.py)
    judge_model: str | None = option(
        "the model of the judge named default (what a judge scorer naming no judge asks): any spec --taskbench-model takes;"
        " replaces the suite's judges.default",
        metavar="PATH|URL|MODULE:FUNC|NAME:ARGS",
        role="score",
    )
    embedding_model: str | None = option(
        "the embedding model named default (semantic credit): a local sentence-embedding checkpoint directory, or package.module:function"
        " returning one; replaces the suite's embeddings.default",
        metavar="PATH|MODULE:FUNC",
        role="score",
    )
    # reports (reports/)
    report: str | None = option("write a self-contained HTML report (charts, failure analysis, every case) to this file", metavar="PATH.html", role="finish")
    markdown: str | None = option(
        "write a short Markdown summary for a pull request comment to this file ($GITHUB_STEP_SUMMARY gets it automatically)",
        metavar="PATH.md",
        role="finish",
    )
    log_samples: str | None = option("write every case (prompt, output, expected, score, details) to this JSON Lines file", metavar="PATH.jsonl", role="finish")
    # lm-evaluation-harness task YAML (lmeval/)
    no_lm_eval: bool = option("do not collect lm-evaluation-harness task YAML files as benchmark cases", False)
    lm_eval_chat_template: bool = option(
        "apply the tokenizer's chat template to lm-eval task prompts (lm_eval --apply_chat_template); off by default, as in lm-eval",
        False,
        role="score",
    )
    lm_eval_allow_functions: bool = option("let lm-eval task YAML `!function` tags import and run Python code next to the task file", False)
    # sharded runs and history (shards.py, resultsfile.py, history.py)
    shard: str | None = option(
        "run only shard I of N: a stable, stratified part of the selected cases; the verdict and the reports come from `taskbench merge` over every shard's --taskbench-results",
        metavar="I/N",
        check=_shard,
    )
    results: str | None = option(
        "write every case's result and what the verdict needs (suite hash, model, settings, shard) to this JSON Lines file, for `taskbench merge`",
        metavar="PATH.jsonl",
    )
    summary_json: str | None = option("write the JSON summary (every figure, gate and verdict, per suite) to this file", metavar="PATH.json", role="finish")
    history: str | None = option(
        f"append this run's figures to DIR/history.jsonl, for `taskbench history` and the trend in the reports (bare: {DEFAULT_HISTORY_DIR} below the root directory)",
        metavar="DIR",
        bare=DEFAULT_HISTORY_DIR,
        role="finish",
    )
    # gate thresholds set by options, by gate name (the gates are declared in verdict/gates.py)
    gates: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_lookup(cls, lookup: Callable[[Option], Any]) -> Settings:
        """Build settings from ``lookup(option)``, which returns the raw command-line-or-ini value or None.

        Raises:
            SettingsError: a value an option does not take; the message names the flag, the ini key and the value.
        """
        values: dict[str, Any] = {}
        gates: dict[str, Any] = {}
        for spec in OPTIONS:
            raw = lookup(spec)
            if raw is None or raw == "" or raw == []:
                continue
            try:
                value = spec.parse(spec.where, raw) if spec.parse is not None else raw
            except validation.Invalid as exc:
                raise SettingsError(str(exc)) from None
            (gates if spec.dest in GATES else values)[spec.dest] = value
        return cls(**values, gates=gates)

    @property
    def shard_spec(self) -> Shard | None:
        return None if self.shard is None else Shard.parse(OPTIONS_BY_DEST["shard"].where, self.shard)

    def recorded(self, role: Role) -> dict[str, Any]:
        """The values of the options with ``role`` (gate thresholds under ``gates``), as JSON values for a results file."""
        values: dict[str, Any] = {spec.dest: getattr(self, spec.dest) for spec in OPTIONS if spec.role == role and spec.dest not in GATES}
        if role == "finish":
            values["gates"] = {name: self.gates[name] for name in sorted(self.gates)}
        return values

    def with_recorded(self, values: Mapping[str, Any]) -> Settings:
        """These settings with recorded values (``recorded``) put back; unknown names are ignored (a newer writer)."""
        known = {spec.dest for spec in OPTIONS if spec.dest not in GATES}
        changes: dict[str, Any] = {name: value for name, value in values.items() if name in known}
        if "gates" in values:
            changes["gates"] = {name: value for name, value in dict(values["gates"]).items() if name in GATES}
        return replace(self, **changes)


def _field_kind(annotation: Any) -> Kind:
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)] if typing.get_origin(annotation) in (Union, types.UnionType) else [annotation]
    base = args[0]
    return {str: "str", int: "int", float: "float", bool: "bool"}[base]  # type: ignore[return-value]


def _parser(kind: Kind, spec: Mapping[str, Any]) -> Callable[[str, Any], Any]:
    words: Mapping[str, Any] = spec["words"]
    bounds = {key: spec[key] for key in ("minimum", "maximum", "above") if spec[key] is not None}

    def parse(name: str, raw: Any) -> Any:
        text = str(raw).strip()
        if text.lower() in words:
            return words[text.lower()]
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if text.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return text.lower() in ("1", "true", "yes", "on")
            raise validation.Invalid(f"{name}: expected true or false, got {raw!r}")
        if kind == "int":
            try:
                value: Any = int(text)
            except ValueError:
                value = raw
            try:
                return validation.whole(name, value, **{key: int(bound) for key, bound in bounds.items() if key != "above"})
            except validation.Invalid as exc:
                if not words:
                    raise
                raise validation.Invalid(f"{exc} (or {' or '.join(words)})") from None
        if kind == "float":
            try:
                value = float(text)
            except ValueError:
                value = raw
            return validation.number(name, value, **bounds)
        if spec["choices"]:
            return validation.choice(name, text, spec["choices"])
        return spec["check"](name, text) if spec["check"] is not None else text

    return parse


def _options() -> tuple[Option, ...]:
    hints = typing.get_type_hints(Settings)
    options = []
    for item in fields(Settings):
        spec = item.metadata.get("option")
        if spec is None:
            continue
        kind = _field_kind(hints[item.name])
        default = None if item.default is MISSING else item.default
        shown = next((word for word, value in spec["words"].items() if value == default), default)  # batch size 0 reads "auto"
        help_text = spec["help"].replace("{default}", str(shown))
        if spec["bare"] is not None:
            kind = "name"
        options.append(Option(item.name, kind, help_text, spec["metavar"], _parser(kind, spec), default, spec["bare"], spec["role"]))
    for name, declared in GATES.items():
        kind = "bool" if declared.kind.metavar is None else ("list" if declared.kind.repeatable else "str")
        options.append(Option(name, kind, declared.option_help, declared.kind.metavar, declared.kind.from_option, declared.default, role="finish"))
    return tuple(options)


OPTIONS: tuple[Option, ...] = _options()
OPTIONS_BY_DEST: Mapping[str, Option] = {spec.dest: spec for spec in OPTIONS}


def argparse_options(option: Option) -> dict[str, Any]:
    """The ``add_argument`` keywords of an option's flag (the plugin's ``--taskbench-*`` and ``taskbench merge``'s): no default, so an unset flag is None."""
    kwargs: dict[str, Any] = {"dest": option.ini_name, "default": None, "help": option.help}
    if option.kind == "bool":
        kwargs["action"] = "store_true"
    elif option.kind == "list":
        kwargs.update(action="append", metavar=option.metavar)
    elif option.kind == "name":
        kwargs.update(nargs="?", const=option.optional_value, metavar=option.metavar)
    else:
        kwargs["metavar"] = option.metavar
    return kwargs


def options_markdown() -> str:
    """The options reference as a Markdown table (the docs' copy is checked against it)."""
    rows = ["| option | ini key | meaning |", "| --- | --- | --- |"]
    for spec in OPTIONS:
        flag = spec.flag if spec.kind == "bool" or not spec.metavar else f"{spec.flag}={spec.metavar}"
        meaning = spec.help.replace("|", "\\|")
        rows.append(f"| `{flag.replace('|', chr(92) + '|')}` | `{spec.ini_name}` | {meaning} |")
    return "\n".join(rows)
