"""JSON Schemas of the suite file and the case files, for editors that validate while you type.

The schemas are built here from the same tables the loaders use (the suite
file's keys, the gate table, the case fields, the scorer packs) and shipped
beside this module as ``taskbench.schema.json``, ``case.schema.json`` and
``case-file.schema.json``; ``python -m pytest_taskbench.schemas`` writes them
again and a test checks they are up to date. What a schema cannot say (weights
that sum to 0, a gate naming an unknown category, a weakness above the
strength) the loaders still check; ``suite_problems`` below is how a test feeds
the same file to both.

Domain code: no pytest import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_taskbench import defaults
from pytest_taskbench.cases import CASE_KEYS, CHAT_ROLES, DIFFICULTIES
from pytest_taskbench.environments.conversation import DEFAULT_OBSERVATION_TEMPLATE, DEFAULT_TURN_TEMPLATE
from pytest_taskbench.generation.judges import JUDGE_MAX_NEW_TOKENS
from pytest_taskbench.scoring.registry import PACKS
from pytest_taskbench.suite import ANALYSIS_KEYS, DEFAULT_CASE_PATTERNS, MAX_NEW_TOKENS, MAX_REPEATS, MAX_TEMPERATURE, SUITE_KEYS
from pytest_taskbench.turns import CONVERSATION_POLICIES
from pytest_taskbench.verdict.gates import GATES

DIALECT = "https://json-schema.org/draft/2020-12/schema"
FILES = {"taskbench.schema.json": "suite", "case.schema.json": "case", "case-file.schema.json": "case_file"}
UNIT: Mapping[str, Any] = {"type": "number", "minimum": 0, "maximum": 1}
SCORER: Mapping[str, Any] = {
    "description": "a scorer name, or a mapping with 'name' and the scorer's parameters",
    "oneOf": [{"type": "string", "minLength": 1}, {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}}],
}
NAME = "^[A-Za-z][A-Za-z0-9_-]*$"
TEXTS: Mapping[str, Any] = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
NAMES: Mapping[str, Any] = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
FUNCTION: Mapping[str, Any] = {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9_.\\-]{1,64}$"},
    "description": {"type": "string"},
    "parameters": {"type": "object", "description": "a JSON Schema (draft 2020-12) of the arguments object"},
    "destructive": {"type": "boolean", "default": False, "description": "an extra call to this function fails the case"},
    "strict": {"type": "boolean"},
}
TOOL: Mapping[str, Any] = {
    "type": "object",
    "description": 'an OpenAI function schema {"type": "function", "function": {name, description, parameters}}, or its function alone',
    "additionalProperties": False,
    "properties": {
        "type": {"const": "function"},
        "function": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": dict(FUNCTION)},
        **FUNCTION,
    },
    "oneOf": [{"required": ["function"]}, {"required": ["name"]}],
}


REPEATS = {"type": "integer", "minimum": 1, "maximum": MAX_REPEATS, "description": "samples drawn per case, each scored"}
POLICY = {
    "type": "string",
    "pattern": "^(mean|all|any|majority|rate:(0*\\.[0-9]*[1-9][0-9]*|0*1(\\.0+)?))$",
    "description": "how a case's samples become its score and pass/fail: mean, all, any, majority or rate:X",
}


def suite_schema() -> dict[str, Any]:
    """The schema of ``taskbench.yaml``."""
    gates: dict[str, Any] = {name: {**gate.kind.json_schema, "description": f"gate: {gate.help}"} for name, gate in GATES.items()}
    gates["alpha"] = {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 0.5,
        "default": defaults.ALPHA,
        "description": "significance level of the regression tests",
    }
    properties: dict[str, Any] = {
        "name": {"type": "string", "description": "the suite's name in the summary (default: its folder's name)"},
        "description": {"type": "string"},
        "categories": {
            "type": "object",
            "minProperties": 1,
            "description": "each category: its weight in the aggregate (a number) or {weight, scorer, description}",
            "additionalProperties": {
                "oneOf": [
                    {"type": "number", "minimum": 0},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "weight": {"type": "number", "minimum": 0, "default": 1},
                            "scorer": SCORER,
                            "description": {"type": "string"},
                            "tools": {**NAMES, "description": "the suite's tools this category's cases may call (default: all)"},
                            "repeats": REPEATS,
                            "policy": POLICY,
                        },
                    },
                ]
            },
        },
        "difficulties": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string", "minLength": 1}, "default": list(DIFFICULTIES)},
        "pass_threshold": {**UNIT, "default": defaults.PASS_THRESHOLD, "description": "a case passes at this score"},
        "prompt": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "system": {"type": "string", "description": "the system message; {input} and {reference_date} are filled in"},
                "template": {"type": "string", "default": "{input}", "description": "the user message; {input} is the case's request"},
                "chat_template": {"type": "boolean", "default": True, "description": "render prompts with the tokenizer's chat template"},
                "turn_template": {
                    "type": "string",
                    "pattern": "\\{input\\}",
                    "default": DEFAULT_TURN_TEMPLATE,
                    "description": "a conversation's next user message in the plain-text transcript; {input} is the message",
                },
                "observation_template": {
                    "type": "string",
                    "pattern": "\\{observation\\}",
                    "default": DEFAULT_OBSERVATION_TEMPLATE,
                    "description": "what the environment said, in the plain-text transcript; {observation} is its JSON",
                },
            },
        },
        "environment": {
            "type": "string",
            "minLength": 1,
            "description": "the environment conversation cases act on (a registered name or package.module:factory)",
        },
        "conversation_policy": {
            "enum": list(CONVERSATION_POLICIES),
            "default": "mean",
            "description": "how a conversation's turn scores and state score become its score: final, mean or all",
        },
        "generation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_new_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_NEW_TOKENS, "default": defaults.MAX_NEW_TOKENS},
                "stop": TEXTS,
                "temperature": {"type": "number", "minimum": 0, "maximum": MAX_TEMPERATURE, "default": 0, "description": "0 is greedy"},
                "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "nucleus sampling (sampling only)"},
                "top_k": {"type": "integer", "minimum": 1, "description": "sample among the k likeliest tokens (sampling only)"},
                "seed": {
                    "type": "integer",
                    "minimum": 0,
                    "default": defaults.GENERATION_SEED,
                    "description": "seed of the samples: the same command draws the same samples",
                },
            },
        },
        "repeats": {**REPEATS, "default": 1},
        "policy": {**POLICY, "default": defaults.POLICY},
        "pass_at_k": {
            "oneOf": [{"type": "integer", "minimum": 1}, {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}}],
            "description": "the k of pass@k and pass^k to report (default: 1 and the most samples a case had)",
        },
        "schema": {
            "description": "the output's JSON Schema: a mapping, or a file beside the suite file",
            "oneOf": [{"type": "string", "minLength": 1}, {"type": "object"}],
        },
        "reference_date": {"type": "string", "format": "date", "description": "the date relative dates in the cases resolve against (YYYY-MM-DD)"},
        "scoring": {"type": "object", "description": "parameters offered to every scorer that takes one of the same name"},
        "gates": {"type": "object", "additionalProperties": False, "properties": gates, "description": "thresholds that decide the CI verdict"},
        "bands": {"type": "object", "minProperties": 1, "additionalProperties": UNIT, "description": "each label and the aggregate it starts at"},
        "case_files": {
            "oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}],
            "default": list(DEFAULT_CASE_PATTERNS),
        },
        "min_cases": {"type": "integer", "minimum": 1, "default": defaults.MIN_CASES},
        "default_scorer": SCORER,
        "scorer_packs": {
            "oneOf": [{"enum": list(PACKS)}, {"type": "array", "items": {"enum": list(PACKS)}}],
            "description": "packs of scorers this suite names (task_api: the Task API scorers)",
        },
        "analysis": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "strength": {**UNIT, "default": defaults.STRENGTH},
                "weakness": {**UNIT, "default": defaults.WEAKNESS},
                "confusion_field": {"type": ["string", "null"], "minLength": 1, "description": "the field whose expected-by-output table the analysis draws"},
            },
        },
        "tools": {
            "description": "the functions offered to the model: a list of OpenAI function schemas, or a JSON or YAML file of them beside the suite file",
            "oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1, "items": TOOL}],
        },
        "tool_choice": {
            "description": "sent as the request's tool_choice: auto, none, required, one tool's name, or an OpenAI tool_choice object",
            "oneOf": [{"type": "string", "minLength": 1}, {"type": "object"}],
        },
        "judges": {
            "type": "object",
            "description": "model judges by name (the judge scorer's judge:); --taskbench-judge-model sets the one named default",
            "propertyNames": {"pattern": NAME},
            "additionalProperties": {
                "oneOf": [
                    {"type": "string", "minLength": 1, "description": "a model spec: checkpoint path, http(s):// URL, package.module:function or NAME:ARGS"},
                    {
                        "type": "object",
                        "required": ["model"],
                        "additionalProperties": False,
                        "properties": {
                            "model": {"type": "string", "minLength": 1},
                            "max_new_tokens": {"type": "integer", "minimum": 1, "default": JUDGE_MAX_NEW_TOKENS},
                            "temperature": {"type": "number", "minimum": 0, "maximum": MAX_TEMPERATURE, "default": 0, "description": "0 is greedy"},
                            "chat_template": {"type": "boolean", "default": True},
                            "endpoint": {"enum": ["chat", "completions"], "description": "for an http(s):// judge"},
                        },
                    },
                ]
            },
        },
        "embeddings": {
            "type": "object",
            "description": "embedding models by name (semantic credit); --taskbench-embedding-model sets the one named default",
            "propertyNames": {"pattern": NAME},
            "additionalProperties": {"type": "string", "minLength": 1, "description": "a sentence-embedding checkpoint directory, or package.module:function"},
        },
    }
    assert set(properties) == SUITE_KEYS and set(properties["analysis"]["properties"]) == set(ANALYSIS_KEYS), "the schema lags the suite file's keys"
    return {
        "$schema": DIALECT,
        "title": "pytest-taskbench suite file (taskbench.yaml)",
        "type": "object",
        "required": ["categories"],
        "additionalProperties": False,
        "properties": properties,
    }


def case_schema() -> dict[str, Any]:
    """The schema of one case (a JSON Lines line, or an item of a YAML or JSON case file)."""
    properties: dict[str, Any] = {
        "id": {
            "type": ["string", "integer"],
            "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.\\-]*$",
            "description": "unique in its file: letters, digits, '_', '.', '-'",
        },
        "input": {"type": "string", "description": "the request (or give messages)"},
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "additionalProperties": False,
                "properties": {"role": {"enum": sorted(CHAT_ROLES)}, "content": {"type": "string"}},
            },
        },
        "expected": {"description": "what the model should answer: any JSON value"},
        "expected_calls": {
            "type": "array",
            "description": "the tool calls the model should make (an empty list: none); an argument may accept several values as {any_of: [...]}",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string", "minLength": 1}, "arguments": {"type": "object"}},
            },
        },
        "calls_ordered": {"type": "boolean", "default": False, "description": "the expected calls must come in their order"},
        "category": {"type": "string", "minLength": 1, "description": "one of the suite's categories (default: the file's stem when it names one)"},
        "difficulty": {"type": "string", "minLength": 1, "description": f"one of the suite's difficulties (default {', '.join(DIFFICULTIES)})"},
        "scorer": SCORER,
        "tags": TEXTS,
        "rationale": {"type": "string"},
        "critical": {"type": "boolean"},
        "metadata": {"type": "object"},
        "tools": {**NAMES, "description": "the tools of the case's category this case offers (default: all of them)"},
        "human_label": {
            "type": ["string", "integer", "boolean"],
            "description": "a person's verdict on the output, on the judge's scale: pass or fail, 1 to N, or better, tie or worse (pairwise)",
        },
        "human_score": {**UNIT, "description": "a person's score of the output in [0, 1], mapped to the nearest point of the judge's scale"},
        "repeats": REPEATS,
        "policy": {
            "anyOf": [POLICY, {"enum": list(CONVERSATION_POLICIES)}],
            "description": "a sampled case: how its samples become its score; a conversation case: final, mean or all (its conversation policy)",
        },
        "turns": {
            "type": "array",
            "minItems": 1,
            "description": "a conversation: the user's messages in order, each optionally with the answer expected at that turn",
            "items": {
                "type": "object",
                "required": ["user"],
                "additionalProperties": False,
                "properties": {
                    "user": {"type": "string"},
                    "expected": {"description": "the answer expected at this turn, scored by the category's scorer"},
                    "expected_calls": {"type": "array", "description": "a tool suite: the calls expected at this turn"},
                },
            },
        },
        "environment": {"type": "string", "minLength": 1, "description": "the environment this conversation acts on (default: the suite's)"},
        "initial_state": {"type": "object", "description": "the environment's state before the first turn"},
        "expected_state": {"type": "object", "description": "the state the conversation should leave, compared by the state scorer"},
    }
    assert set(properties) == CASE_KEYS, "the schema lags the case fields"
    return {
        "$schema": DIALECT,
        "title": "pytest-taskbench case",
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "oneOf": [{"required": ["input"]}, {"required": ["messages"]}, {"required": ["turns"]}],
        "anyOf": [{"required": ["expected"]}, {"required": ["expected_calls"]}, {"required": ["turns"]}],
        "properties": properties,
    }


def case_file_schema() -> dict[str, Any]:
    """The schema of a YAML or JSON case file: a list of cases, or {defaults, cases}."""
    case = {key: value for key, value in case_schema().items() if key != "$schema"}
    defaults_of = {**case, "required": [], "oneOf": [{}], "anyOf": [{}], "title": "defaults for every case of the file"}
    return {
        "$schema": DIALECT,
        "title": "pytest-taskbench case file (YAML or JSON)",
        "$defs": {"case": case, "defaults": defaults_of},
        "oneOf": [
            {"type": "array", "items": {"$ref": "#/$defs/case"}},
            {
                "type": "object",
                "required": ["cases"],
                "additionalProperties": False,
                "properties": {"defaults": {"$ref": "#/$defs/defaults"}, "cases": {"type": "array", "items": {"$ref": "#/$defs/case"}}},
            },
        ],
    }


BUILDERS = {"suite": suite_schema, "case": case_schema, "case_file": case_file_schema}


def shipped(name: str) -> dict[str, Any]:
    """A schema as shipped with the package (``taskbench.schema.json``, ``case.schema.json``, ``case-file.schema.json``)."""
    loaded: dict[str, Any] = json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
    return loaded


def write(directory: Path) -> list[Path]:
    """Write every schema into ``directory``; returns the files written."""
    written = []
    for name, kind in FILES.items():
        path = directory / name
        path.write_text(json.dumps(BUILDERS[kind](), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
