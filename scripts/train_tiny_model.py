"""Train the tiny Task API models shipped in ``models/`` from scratch, on CPU, in minutes.

The models are deliberately small and weak: they exist so that the shipped suites
(``cases/``, answered with JSON, and its tool-call variant ``cases-tools/``) run against
a real transformers checkpoint with no download, and so that an early checkpoint gives
the baseline comparison a real regression to show.

What the script does, all seeded and offline:

1. ``make_training_data(seed)`` writes synthetic request -> JSON pairs from this
   file's own templates and vocabulary; with ``--tools``, ``make_tool_training_data(seed)``
   the same kind of requests answered with tool calls (``<tool_call>{"name": ...,
   "arguments": ...}</tool_call>``, two calls for a request that asks for two things).
   It reads no file at all: the prompt formats, tool names and reference date are
   constants below, and tests check that they match ``cases/taskbench.yaml``,
   ``cases-tools/`` and that no case input appears in the data.
2. Trains a byte-level BPE tokenizer (1,024 tokens) with the ``tokenizers`` package on
   the training texts. The tool checkpoint's tokenizer also gets ``CHAT_TEMPLATE`` (a
   Jinja chat template that names the tools on a first line) and ``RESPONSE_TEMPLATE``
   (how ``transformers serve`` reads calls back).
3. Trains a 4-layer Llama-style causal LM (hidden size 192, 1.97M parameters), the
   loss on the answer only.
4. Saves ``models/task-api-tiny-early`` after EARLY_FRACTION of the steps and
   ``models/task-api-tiny`` at the end; with ``--tools``, ``models/task-api-tiny-tools``
   at the end (safetensors, config, tokenizer, generation_config, training_info.json),
   all loadable with ``from_pretrained(path, local_files_only=True)``.

Two checkpoints rather than one model that does both: the JSON checkpoints, the scores
the docs show and the baselines users saved from them stay what they were, and each
model spends its two million parameters on one answer format.

The measured runs and the scores on the shipped suites are in scripts/README-model.md.

Usage::

    nice -n 10 python scripts/train_tiny_model.py --out models           # task-api-tiny, task-api-tiny-early
    nice -n 10 python scripts/train_tiny_model.py --out models --tools   # task-api-tiny-tools
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Must match cases/taskbench.yaml (prompt.template and reference_date); a test checks it.
PROMPT_TEMPLATE = "Today is Wednesday {reference_date}.\nRequest: {input}\nJSON:"
REFERENCE_DATE = "2026-03-04"
# Must match cases-tools/taskbench.yaml and its tool list (a test checks both).
TOOL_PROMPT_TEMPLATE = "Today is Wednesday {reference_date}.\nRequest: {input}\nCall:"
TOOL_NAMES = ("create_task", "update_task", "complete_task", "delete_task", "list_tasks", "ask_clarification")
ACTION_FUNCTIONS = dict(zip(("create", "update", "complete", "delete", "list", "clarify"), TOOL_NAMES))
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
SEED = 8
NUM_EXAMPLES = 24000
NUM_TOOL_EXAMPLES = 24000
TOOL_MAX_LENGTH = 200  # tokens per tool-call example: the tool line and the call's wrapping make them longer than JSON ones
TOOL_SUBSET_SHARE = 0.15  # tool examples that list only some of the tools (always the ones the answer calls)
PAIR_SHARE = 0.05  # tool examples that ask for two things at once: two calls in one answer
EARLY_FRACTION = 0.2

# The chat template saved with the tool checkpoint's tokenizer: a real Jinja chat template, so the transformers
# backend and `transformers serve` render tools the way the model was trained. The messages'
# contents come as they are, one per line; with tools, a first line names them. An assistant
# turn is written the way the model answers (" <tool_call>{...}</tool_call>" per call, or the
# text), and a tool's result as "Result: ...", so a conversation can be rendered too, although
# the model was trained on single requests only. Without tools it renders exactly the plain
# prompt of cases/taskbench.yaml, so switching the chat template on changes nothing there.
CHAT_TEMPLATE = """\
{#- task-api-tiny: the messages' contents as they are, one per line; with tools, a first line names them -#}
{%- if tools -%}
    {{- 'Tools: ' -}}
    {%- for tool in tools -%}
        {{- (tool.function or tool).name -}}{{- ', ' if not loop.last else '\\n' -}}
    {%- endfor -%}
{%- endif -%}
{%- for message in messages -%}
    {%- if message.role == 'assistant' -%}
        {{- ' ' + (message.content or '') -}}
        {%- for call in message.tool_calls or [] -%}
            {%- set function = call.function or call -%}
            {{- '<tool_call>{"name": ' + (function.name | tojson) + ', "arguments": ' -}}
            {{- function.arguments if function.arguments is string else (function.arguments | tojson) -}}
            {{- '}</tool_call>' -}}
        {%- endfor -%}
        {{- '\\n' + eos_token -}}
    {%- elif message.role == 'tool' -%}
        {{- 'Result: ' + message.content + '\\n' -}}
    {%- else -%}
        {{- message.content -}}{{- '\\n' if not loop.last and loop.nextitem.role != 'assistant' else '' -}}
    {%- endif -%}
{%- endfor -%}
"""
# How `transformers serve` (and tokenizer.parse_response) reads the model's answer back: each
# <tool_call> block is a call, the rest is content. The answer starts where the prompt ends.
RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor_pattern": "\\Z",
    "fields": {
        "tool_calls": {
            "open_pattern": "\\s*<tool_call>",
            "close": "</tool_call>",
            "repeats": True,
            "content": "json",
            "optional": True,
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": "\\s*(?:<\\|endoftext\\|>)", "content": "text", "optional": True},
    },
}


@dataclass(frozen=True)
class TrainingConfig:
    steps: int = 1600
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_steps: int = 60
    vocab_size: int = 1024
    hidden_size: int = 192
    intermediate_size: int = 512
    layers: int = 4
    heads: int = 6
    max_length: int = 160
    threads: int = 1
    seed: int = SEED


# --------------------------------------------------------------------------- data
#
# Everything is composed from small parts so that the model has to learn rules
# (copy the task words into the title, turn "3:30pm" into "15:30", "March 12" into
# "2026-03-12") rather than memorise a few hundred sentences. Made-up names
# force it to copy what it has never seen.

TODAY = dt.date.fromisoformat(REFERENCE_DATE)  # a Wednesday
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
PRIORITY_PHRASES: dict[str, list[str]] = {
    "urgent": ["urgent", "it's urgent", "asap", "ASAP", "top priority", "critical", "super urgent"],
    "high": ["high priority", "important", "it's important", "high-priority", "priority high"],
    "medium": ["medium priority", "normal priority", "priority medium"],
    "low": ["low priority", "no rush", "low-priority", "not important", "priority low"],
}
REAL_NAMES = [
    "Priya",
    "Marco",
    "Lena",
    "Tom",
    "Aisha",
    "Kenji",
    "Olga",
    "Ravi",
    "Nina",
    "Carlos",
    "Mei",
    "Jonas",
    "Fatima",
    "Liam",
    "Sofia",
    "Omar",
    "Hana",
    "Pablo",
    "Yusuf",
    "Elena",
    "Sam",
    "Noor",
    "Felix",
    "Amara",
    "Lucas",
    "Ingrid",
    "Tariq",
    "Chen",
    "Beatriz",
    "Oskar",
    "Leila",
    "Hugo",
    "Zainab",
    "Mateus",
    "Greta",
    "Arjun",
    "Clara",
    "Emeka",
    "Vera",
    "Diego",
]
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "ven",
    "to",
    "shi",
    "dru",
    "el",
    "pa",
    "zu",
    "no",
    "rin",
    "ta",
    "bel",
    "gor",
    "vi",
    "sen",
    "ma",
    "qui",
    "do",
    "fen",
    "ar",
    "lu",
]
TAGS = ["work", "home", "finance", "health", "errands", "travel", "school", "garden", "family", "car", "urgent-fixes", "q2", "personal", "ops"]
VERBS = [
    "call",
    "email",
    "book",
    "renew",
    "pay",
    "buy",
    "clean",
    "fix",
    "review",
    "prepare",
    "send",
    "water",
    "pick up",
    "write",
    "submit",
    "update",
    "order",
    "plan",
    "check",
    "finish",
    "print",
    "sign",
    "file",
    "return",
    "cancel",
    "schedule",
    "organise",
    "draft",
    "test",
    "install",
    "replace",
    "repair",
    "collect",
    "deliver",
    "read",
    "research",
    "translate",
    "visit",
    "text",
    "pack",
]
ADJECTIVES = [
    "new",
    "old",
    "quarterly",
    "monthly",
    "annual",
    "weekly",
    "final",
    "first",
    "broken",
    "shared",
    "spare",
    "blue",
    "large",
    "second",
    "team",
    "client",
    "kitchen",
    "garden",
    "office",
    "school",
    "summer",
    "winter",
    "legal",
    "marketing",
    "sales",
    "",
]
NOUNS = [
    "report",
    "invoice",
    "contract",
    "budget",
    "slides",
    "plumber",
    "dentist",
    "passport",
    "insurance",
    "tickets",
    "car",
    "printer",
    "website",
    "newsletter",
    "fence",
    "bike",
    "laptop",
    "forms",
    "proposal",
    "agenda",
    "roadmap",
    "lease",
    "tax return",
    "survey",
    "deck",
    "boiler",
    "window",
    "garage",
    "package",
    "documents",
    "photos",
    "flights",
    "hotel",
    "gift",
    "groceries",
    "bill",
    "receipts",
    "presentation",
    "checklist",
    "schedule",
    "order",
    "keys",
    "cake",
    "notes",
    "minutes",
    "application",
    "subscription",
    "tyres",
    "plants",
    "shelf",
    "backup",
    "server",
    "dashboard",
    "playlist",
    "appointment",
    "membership",
    "licence",
    "permit",
    "quote",
    "estimate",
    "budget review",
    "brochure",
    "poster",
    "banner",
    "website copy",
    "press release",
    "blog post",
    "podcast",
    "webinar",
    "workshop",
    "training",
    "course",
    "exam",
    "essay",
    "thesis",
    "chapter",
    "manuscript",
    "recipe",
    "dinner",
    "party",
    "wedding",
    "birthday card",
    "flowers",
    "curtains",
    "carpet",
    "sofa",
    "mattress",
    "fridge",
    "oven",
    "dishwasher",
    "washing machine",
    "heater",
    "roof",
    "gutters",
    "lawn",
    "hedge",
    "bins",
    "recycling",
    "medication",
    "prescription",
    "vaccine",
    "blood test",
    "eye test",
    "haircut",
    "suit",
    "shoes",
    "jacket",
    "umbrella",
    "charger",
    "headphones",
    "monitor",
    "keyboard",
    "router",
    "phone",
    "tablet",
    "camera",
    "database",
    "migration",
    "release",
    "hotfix",
    "pull request",
    "code review",
    "test suite",
    "pipeline",
    "ticket",
    "incident report",
    "postmortem",
    "runbook",
    "onboarding",
    "offboarding",
    "payroll",
    "expenses",
    "timesheet",
    "audit",
]
MEETINGS = ["meeting", "call", "sync", "catch-up", "one-on-one", "review", "lunch", "coffee", "standup", "interview", "demo"]


@dataclass(frozen=True)
class Example:
    """One training pair: the user's request and the JSON the model should answer."""

    request: str
    expected: dict[str, Any]

    def prompt(self) -> str:
        return render_prompt(self.request)

    def answer(self) -> str:
        return " " + json.dumps(self.expected, ensure_ascii=False) + "\n"

    def text(self) -> str:
        return self.prompt() + self.answer()


@dataclass(frozen=True)
class ToolExample:
    """One tool-call training pair: the request with the tools offered, and the calls the model should make."""

    request: str
    calls: tuple[dict[str, Any], ...]
    tools: tuple[str, ...] = TOOL_NAMES

    def prompt(self) -> str:
        return render_tool_prompt(self.request, self.tools)

    def answer(self) -> str:
        return " " + "".join(f"<tool_call>{json.dumps(call, ensure_ascii=False)}</tool_call>" for call in self.calls) + "\n"

    def text(self) -> str:
        return self.prompt() + self.answer()


def render_prompt(request: str) -> str:
    return PROMPT_TEMPLATE.replace("{reference_date}", REFERENCE_DATE).replace("{input}", request)


def render_tool_prompt(request: str, tools: Sequence[str] = TOOL_NAMES) -> str:
    """What CHAT_TEMPLATE renders for one user message holding the tool suite's prompt, with these tools."""
    return "Tools: " + ", ".join(tools) + "\n" + TOOL_PROMPT_TEMPLATE.replace("{reference_date}", REFERENCE_DATE).replace("{input}", request)


def tool_call(expected: dict[str, Any]) -> dict[str, Any]:
    """The Task API object as a call: the action names the function, the other fields are its arguments (a list's filter, flattened)."""
    arguments = {key: value for key, value in expected.items() if key != "action"}
    if expected["action"] == "list":
        arguments = dict(expected.get("filter", {}))
    return {"name": ACTION_FUNCTIONS[expected["action"]], "arguments": arguments}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    order = ["action", "title", "priority", "due_date", "due_time", "assignee", "tags", "filter", "question", "reason"]
    return {key: data[key] for key in order if key in data}


def _join(parts: Sequence[str | None]) -> str:
    return " ".join(part for part in parts if part)


def _name(rng: random.Random) -> str:
    if rng.random() < 0.75:
        return rng.choice(REAL_NAMES)
    return _cap("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))


def _thing(rng: random.Random) -> str:
    """A noun phrase without article: 'quarterly report', 'invoice for Kalomi'."""
    adjective = rng.choice(ADJECTIVES)
    phrase = _join([adjective, rng.choice(NOUNS)])
    roll = rng.random()
    if roll < 0.15:
        phrase += f" for {_name(rng)}"
    elif roll < 0.22:
        phrase = f"{_name(rng)}'s {phrase}"
    return phrase


def _todo(rng: random.Random) -> str:
    """Something to do: 'renew the quarterly report', 'call Kalomi'."""
    verb = rng.choice(VERBS)
    if verb in ("call", "email", "text", "visit") and rng.random() < 0.5:
        return f"{verb} {_name(rng)}" + (f" about the {_thing(rng)}" if rng.random() < 0.4 else "")
    thing = _thing(rng)
    article = "" if "'s " in thing else rng.choice(["the ", "the ", "my ", "a ", "our ", ""])
    return f"{verb} {article}{thing}"


def _task_ref(rng: random.Random) -> tuple[str, str]:
    """(how a request names an existing task, its title)."""
    roll = rng.random()
    if roll < 0.45:
        thing = _thing(rng)
        return rng.choice(["the ", "my ", "the ", ""]) + thing, _cap(thing)
    todo = _todo(rng)
    if roll < 0.75:
        return rng.choice(["'{t}'", "the '{t}' task", "the task '{t}'", "the task called '{t}'"]).format(t=todo), _cap(todo)
    return todo, _cap(todo)


def _date(rng: random.Random) -> tuple[str, str]:
    """A date phrase with its preposition ('on March 12', 'tomorrow') and the ISO date."""
    roll = rng.random()
    if roll < 0.3:
        offset, phrase = rng.choice(
            [(0, "today"), (0, "tonight"), (1, "tomorrow"), (2, "the day after tomorrow"), (2, "by the end of the week"), (27, "by the end of the month")]
        )
        if "end of the week" in phrase:
            offset = 2
        return phrase, (TODAY + dt.timedelta(offset)).isoformat()
    if roll < 0.55:
        target = rng.choice([d for d in range(7) if d != 2])  # any weekday but today's
        offset = (target - TODAY.weekday()) % 7
        name = WEEKDAYS[target]
        forms = [f"on {name}", f"this {name}", name, f"by {name}"]
        if offset > 4 or target in (0, 1):  # Monday-Tuesday: 'next' means the coming one
            forms.append(f"next {name}")
        if target == 2:
            offset = 7
        return rng.choice(forms), (TODAY + dt.timedelta(offset)).isoformat()
    if roll < 0.8:
        date = TODAY + dt.timedelta(rng.randint(1, 75))
        month, day = MONTHS[date.month - 1], date.day
        suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        forms = [f"on {month} {day}", f"on {day} {month}", f"{month} {day}{suffix}", f"by {month} {day}", f"on {month[:3]} {day}"]
        if date.month == TODAY.month:
            forms.append(f"on the {day}{suffix}")
        return rng.choice(forms), date.isoformat()
    if roll < 0.93:
        days = rng.randint(2, 21)
        words = NUMBER_WORDS[days] if days < len(NUMBER_WORDS) and rng.random() < 0.5 else str(days)
        phrase = rng.choice([f"in {words} days", f"{words} days from now"]) if days % 7 else rng.choice([f"in {days // 7} weeks", f"in {days} days"])
        if days == 7:
            phrase = rng.choice(["in a week", "a week from today", "in 7 days"])
        return phrase, (TODAY + dt.timedelta(days)).isoformat()
    date = TODAY + dt.timedelta(rng.randint(1, 90))
    return f"on {date.isoformat()}", date.isoformat()


def _time(rng: random.Random) -> tuple[str, str]:
    """A time phrase ('at 3:30pm', 'at 15:30', 'at noon') and HH:MM."""
    roll = rng.random()
    if roll < 0.06:
        return rng.choice([("at noon", "12:00"), ("at midnight", "00:00"), ("at midday", "12:00")])
    hour, minute = rng.randint(1, 12), rng.choice([0, 0, 0, 15, 30, 45, 10, 20, 40, 50])
    pm = rng.random() < 0.6
    hour24 = hour % 12 + (12 if pm else 0)
    value = f"{hour24:02d}:{minute:02d}"
    if roll < 0.25:
        return f"at {hour24:02d}:{minute:02d}" if rng.random() < 0.7 else f"at {hour24}:{minute:02d}", value
    if roll < 0.35 and minute == 0:
        part = "in the morning" if not pm else ("in the afternoon" if hour24 < 17 else "in the evening")
        return f"at {hour} {part}", value
    ampm = "pm" if pm else "am"
    clock = f"{hour}" if minute == 0 and rng.random() < 0.7 else f"{hour}:{minute:02d}"
    return f"at {clock}{rng.choice(['', ' '])}{ampm if rng.random() < 0.85 else ampm.upper()}", value


def _priority(rng: random.Random) -> tuple[str | None, str]:
    if rng.random() < 0.45:
        return None, "medium"
    level = rng.choice(["urgent", "high", "high", "medium", "low", "low"])
    return rng.choice(PRIORITY_PHRASES[level]), level


def _bare(date_phrase: str) -> str:
    """'on Friday' -> 'Friday', for patterns such as 'move X to ...'."""
    for prefix in ("on ", "by ", "this "):
        if date_phrase.startswith(prefix):
            return date_phrase[len(prefix) :]
    return date_phrase


def _create(rng: random.Random) -> Example:
    meeting = rng.random() < 0.2
    if meeting:
        kind, person = rng.choice(MEETINGS), _name(rng)
        phrase = f"{kind} with {person}" if rng.random() < 0.8 else f"{kind} with the {_thing(rng)} team"
    else:
        phrase = _todo(rng)
    title = _cap(phrase)
    prio_phrase, priority = _priority(rng)
    date_phrase, due_date = _date(rng) if rng.random() < 0.55 else (None, None)
    time_phrase, due_time = _time(rng) if rng.random() < (0.4 if date_phrase else 0.12) else (None, None)
    assignee = _name(rng) if rng.random() < 0.12 else None
    tag = rng.choice(TAGS) if rng.random() < 0.1 else None
    when = _join([date_phrase, time_phrase] if rng.random() < 0.7 else [time_phrase, date_phrase])
    if meeting:
        pattern = rng.choice(["schedule a {p}{x} {w}", "set up a {p}{x} {w}", "book a {p}{x} {w}", "add a {p}{x} {w}", "arrange a {p}{x} {w}"])
        inline = f"{prio_phrase} " if prio_phrase and rng.random() < 0.5 else ""
        text = pattern.format(p=inline, x=phrase, w=when)
        if prio_phrase and not inline:
            text += f", {prio_phrase}"
    else:
        pattern = rng.choice(
            [
                "add a task to {x} {w}",
                "remind me to {x} {w}",
                "create a task: {x} {w}",
                "new task {x} {w}",
                "I need to {x} {w}",
                "I have to {x} {w}",
                "don't let me forget to {x} {w}",
                "put '{x}' on my list {w}",
                "todo: {x} {w}",
                "add {x} to my tasks {w}",
                "make a task to {x} {w}",
                "note to self: {x} {w}",
                "{w} I need to {x}",
                "{x} {w}",
                "add '{x}' {w}",
                "task: {x} {w}",
                "set a reminder to {x} {w}",
                "I must {x} {w}",
                "could you add {x} {w}",
                "please remind me to {x} {w}",
                "{w}: {x}",
            ]
        )
        text = pattern.format(x=phrase, w=when)
        if prio_phrase:
            text = rng.choice([f"{text}, {prio_phrase}", f"{text} - {prio_phrase}", f"{prio_phrase}: {text}", f"{text} ({prio_phrase})"])
    if assignee:
        text += rng.choice([f" and assign it to {assignee}", f" for {assignee}", f", {assignee} owns it", f", assignee {assignee}"])
    if tag:
        text += rng.choice([f", tag it {tag}", f" #{tag}", f" (tag: {tag})", f" tagged {tag}"])
    expected: dict[str, Any] = {"action": "create", "title": title, "priority": priority}
    for key, value in (("due_date", due_date), ("due_time", due_time), ("assignee", assignee)):
        if value:
            expected[key] = value
    if tag:
        expected["tags"] = [tag]
    return Example(text, _ordered(expected))


def _complete(rng: random.Random) -> Example:
    phrase, title = _task_ref(rng)
    text = rng.choice(
        [
            "mark {x} as done",
            "mark {x} complete",
            "I finished {x}",
            "{x} is done",
            "done with {x}",
            "check off {x}",
            "I've completed {x}",
            "tick off {x}",
            "{x} - finished it",
            "close {x}, it's done",
            "{x} is complete",
            "finished {x}",
            "complete {x}",
            "set {x} to done",
            "I'm done with {x}",
            "{x}: done",
        ]
    ).format(x=phrase)
    return Example(text, {"action": "complete", "title": title})


def _delete(rng: random.Random) -> Example:
    phrase, title = _task_ref(rng)
    text = rng.choice(
        [
            "delete {x}",
            "remove {x} from my list",
            "get rid of {x}",
            "cancel {x}",
            "drop {x}",
            "scrap {x}, not needed anymore",
            "please delete {x}",
            "erase {x}",
            "remove {x}",
            "{x} is cancelled, delete it",
            "take {x} off my list",
        ]
    ).format(x=phrase)
    return Example(text, {"action": "delete", "title": title})


def _update(rng: random.Random) -> Example:
    phrase, title = _task_ref(rng)
    expected: dict[str, Any] = {"action": "update", "title": title}
    roll = rng.random()
    if roll < 0.3:
        level = rng.choice(["urgent", "high", "medium", "low"])
        said = rng.choice(PRIORITY_PHRASES[level])
        text = rng.choice(
            ["change {x} to {p}", "make {x} {p}", "set the priority of {x} to {l}", "bump {x} to {l} priority", "{x} is now {p}", "mark {x} as {p}"]
        )
        text = text.format(x=phrase, p=said, l=level)
        expected["priority"] = level
    elif roll < 0.7:
        date_phrase, due_date = _date(rng)
        time_phrase, due_time = _time(rng) if rng.random() < 0.3 else (None, None)
        pattern = rng.choice(
            ["move {x} to {w}", "push {x} to {w}", "reschedule {x} {w}", "change the due date of {x} to {w}", "postpone {x} until {w}", "{x} is now due {w}"]
        )
        if pattern.endswith("to {w}") or pattern.endswith("until {w}"):
            date_phrase = _bare(date_phrase)
        text = pattern.format(x=phrase, w=_join([date_phrase, time_phrase]))
        expected["due_date"] = due_date
        if due_time:
            expected["due_time"] = due_time
    elif roll < 0.85:
        person = _name(rng)
        text = rng.choice(["assign {x} to {a}", "give {x} to {a}", "hand {x} over to {a}", "{a} should take {x}", "reassign {x} to {a}"]).format(
            x=phrase, a=person
        )
        expected["assignee"] = person
    else:
        time_phrase, due_time = _time(rng)
        text = rng.choice(["change the time of {x} to {t}", "move {x} to {t}", "{x} should be {tt}"]).format(
            x=phrase, t=time_phrase.replace("at ", ""), tt=time_phrase
        )
        expected["due_time"] = due_time
    return Example(text, _ordered(expected))


def _list(rng: random.Random) -> Example:
    flt: dict[str, Any] = {}
    parts: list[str] = []
    if rng.random() < 0.2:
        text = rng.choice(
            [
                "show my tasks",
                "list everything on my plate",
                "what's on my to-do list",
                "show me all my todos",
                "what do I have to do",
                "give me my task list",
                "list tasks",
                "my tasks please",
            ]
        )
        return Example(text, {"action": "list"})
    if rng.random() < 0.35:
        status = rng.choice(["done", "open", "all"])
        flt["status"] = status
        parts.append(rng.choice({"done": ["completed", "finished", "done"], "open": ["open", "unfinished", "pending"], "all": ["all", "every"]}[status]))
    if rng.random() < 0.35:
        level = rng.choice(["urgent", "high", "medium", "low"])
        flt["priority"] = level
        parts.append(f"{level} priority" if level != "urgent" else "urgent")
    words = " ".join(parts)
    text = (
        rng.choice(["show {p} tasks", "pull up my {p} tasks", "which {p} tasks do I have", "what {p} tasks are there"])
        .format(p=words)
        .replace("my  tasks", "my tasks")
        .replace("  ", " ")
    )
    roll = rng.random()
    if roll < 0.35 or not flt:
        date_phrase, due_date = _date(rng)
        if rng.random() < 0.3:
            flt["due_before"] = due_date
            text += " due before " + _bare(date_phrase)
        else:
            flt["due_date"] = due_date
            text += " due " + date_phrase.replace("by ", "on ")
    elif roll < 0.55:
        person = _name(rng)
        flt["assignee"] = person
        text += rng.choice([f" assigned to {person}", f" for {person}"])
    elif roll < 0.7:
        tag = rng.choice(TAGS)
        flt["tag"] = tag
        text += rng.choice([f" tagged {tag}", f" with the tag {tag}"])
    return Example(text, {"action": "list", "filter": flt})


def _clarify(rng: random.Random) -> Example:
    roll = rng.random()
    if roll < 0.4:
        verb = rng.choice(["wipe", "purge", "nuke", "erase", "delete", "remove", "clear"])
        scope = rng.choice(
            [
                "all my tasks",
                "every single task",
                "my whole list",
                "all todos",
                "all of them",
                "every task I have",
                "the entire task list",
                "all done tasks",
                "every task tagged work",
            ]
        )
        return Example(f"{verb} {scope}", {"action": "clarify", "question": "This would delete many tasks at once. Are you sure?", "reason": "destructive"})
    if roll < 0.65:
        text = rng.choice(
            [
                "add a task",
                "create something",
                "remind me",
                "new task",
                "put something on my list",
                "schedule it",
                "add a reminder for later",
                "create a task for tomorrow",
            ]
        )
        return Example(text, {"action": "clarify", "question": "What should the task be?", "reason": "missing_information"})
    if roll < 0.85:
        text = rng.choice(
            [
                "mark it done",
                "delete that one",
                "move it to tomorrow",
                "the thing is finished",
                "cancel it",
                "make it urgent",
                "that one is done",
                "assign it to Sam",
            ]
        )
        return Example(text, {"action": "clarify", "question": "Which task do you mean?", "reason": "ambiguous"})
    text = rng.choice(
        [
            "what's the weather like",
            "tell me a joke",
            "send an email to my boss",
            "translate this to French",
            "what time is it in Tokyo",
            "who won the match",
            "order a pizza",
        ]
    )
    return Example(text, {"action": "clarify", "question": "I can only manage tasks. What would you like to do with your tasks?", "reason": "unsupported"})


GENERATORS: tuple[tuple[Callable[[random.Random], Example], float], ...] = (
    (_create, 0.40),
    (_complete, 0.12),
    (_delete, 0.10),
    (_update, 0.14),
    (_list, 0.14),
    (_clarify, 0.10),
)


def make_training_data(seed: int = SEED, n: int = NUM_EXAMPLES) -> list[Example]:
    """The synthetic training set: ``n`` request -> JSON pairs, the same for the same seed.

    Built only from this module's templates and vocabulary; it never reads case files.
    """
    rng = random.Random(seed)
    makers = [maker for maker, _ in GENERATORS]
    weights = [weight for _, weight in GENERATORS]
    examples = []
    for _ in range(n):
        example = rng.choices(makers, weights)[0](rng)
        request = re.sub(r" +([,.!?)])", r"\1", " ".join(example.request.split()))
        if rng.random() < 0.3:
            request = _cap(request)
        if rng.random() < 0.05:
            request += rng.choice(["!", ".", "?", " thanks", " pls", " :)"])
        examples.append(Example(request, example.expected))
    return examples


def _pair(rng: random.Random) -> tuple[str, tuple[dict[str, Any], ...]]:
    """Two things at once: two new tasks, or one finished and one new."""
    first, second = _todo(rng), _todo(rng)
    if rng.random() < 0.6:
        text = rng.choice(["add two tasks: {a} and {b}", "remind me to {a} and to {b}", "{a}, and also {b}", "new tasks: {a}; {b}", "I need to {a} and {b}"])
        calls = [{"action": "create", "title": _cap(first), "priority": "medium"}, {"action": "create", "title": _cap(second), "priority": "medium"}]
        return text.format(a=first, b=second), tuple(tool_call(call) for call in calls)
    phrase, title = _task_ref(rng)
    text = rng.choice(["I finished {x}, now remind me to {b}", "mark {x} as done and add a task to {b}", "{x} is done; next I need to {b}"])
    calls = [{"action": "complete", "title": title}, {"action": "create", "title": _cap(second), "priority": "medium"}]
    return text.format(x=phrase, b=second), tuple(tool_call(call) for call in calls)


def make_tool_training_data(seed: int = SEED, n: int = NUM_TOOL_EXAMPLES) -> list[ToolExample]:
    """The tool-call training set: requests from the same templates, answered with calls, the same for the same seed.

    Its own random stream (``seed`` + 1), so adding it left the JSON examples unchanged. Most
    examples offer every tool; some offer a subset that holds the functions the answer calls.
    """
    rng = random.Random(seed + 1)
    examples = []
    for example in make_training_data(seed + 1, n):
        if rng.random() < PAIR_SHARE:
            request, calls = _pair(rng)
            request = re.sub(r" +([,.!?)])", r"\1", " ".join(request.split()))
        else:
            request, calls = example.request, (tool_call(example.expected),)
        tools = TOOL_NAMES
        if rng.random() < TOOL_SUBSET_SHARE:
            needed = {call["name"] for call in calls}
            tools = tuple(name for name in TOOL_NAMES if name in needed or rng.random() < 0.5)
        examples.append(ToolExample(request, calls, tools))
    return examples


# --------------------------------------------------------------------------- training


def train_tokenizer(texts: Sequence[str], vocab_size: int, *, tools: bool = False) -> Any:
    """A byte-level BPE tokenizer wrapped for transformers, with eos and pad tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN, pad_token=PAD_TOKEN, unk_token=None, model_max_length=1024
    )
    if tools:  # the JSON checkpoints have no chat template: their suite sends the plain prompt
        wrapped.chat_template = CHAT_TEMPLATE
        wrapped.response_template = RESPONSE_TEMPLATE
    return wrapped


def encode_examples(tokenizer: Any, examples: Sequence[Example | ToolExample], max_length: int) -> list[tuple[list[int], int]]:
    """Token ids of prompt + answer + eos, and how many leading tokens are prompt (no loss there)."""
    encoded = []
    for example in examples:
        prompt_ids = tokenizer(example.prompt(), add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(example.answer(), add_special_tokens=False)["input_ids"]
        ids = prompt_ids + answer_ids + [tokenizer.eos_token_id]
        if len(ids) <= max_length:
            encoded.append((ids, len(prompt_ids)))
    return encoded


def build_model(config: TrainingConfig, tokenizer: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        num_key_value_heads=config.heads,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(model_config)


def save_checkpoint(model: Any, tokenizer: Any, directory: Path, note: dict[str, Any]) -> None:
    from transformers import GenerationConfig

    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    model.generation_config = GenerationConfig(
        do_sample=False,
        max_new_tokens=96,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    (directory / "training_info.json").write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")


def _batches(encoded: list[tuple[list[int], int]], batch_size: int, rng: random.Random) -> Any:
    while True:
        order = list(range(len(encoded)))
        rng.shuffle(order)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield [encoded[i] for i in order[start : start + batch_size]]


def _collate(batch: list[tuple[list[int], int]], pad_id: int) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, (ids, prompt_length) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        labels[row, prompt_length : len(ids)] = torch.tensor(ids[prompt_length:])
    return input_ids, attention, labels


def _log(message: str) -> None:
    print(message, flush=True)


def train(out: Path, config: TrainingConfig, log: Callable[[str], None] = _log, *, tools: bool = False) -> dict[str, Any]:
    """Train and save the checkpoints under ``out``; returns the final training facts.

    JSON (the default): ``task-api-tiny-early`` after EARLY_FRACTION of the steps and
    ``task-api-tiny`` at the end. ``tools``: ``task-api-tiny-tools`` only, trained the same
    way on the tool-call examples, its tokenizer with the chat and response templates.
    """
    import torch

    started = time.monotonic()
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    examples: Sequence[Example | ToolExample] = make_tool_training_data(config.seed) if tools else make_training_data(config.seed)
    tokenizer = train_tokenizer([example.text() for example in examples], config.vocab_size, tools=tools)
    encoded = encode_examples(tokenizer, examples, config.max_length)
    lengths = [len(ids) for ids, _ in encoded]
    log(f"{len(encoded)} examples, tokens per example mean {sum(lengths) / len(lengths):.1f} max {max(lengths)}, vocab {len(tokenizer)}")

    model = build_model(config, tokenizer)
    parameters = sum(p.numel() for p in model.parameters())
    log(f"model: {parameters:,} parameters")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    batches = _batches(encoded, config.batch_size, random.Random(config.seed))
    early_step = 0 if tools else int(config.steps * EARLY_FRACTION)
    model.train()
    recent: list[float] = []
    facts: dict[str, Any] = {"seed": config.seed, "parameters": parameters, "examples": len(encoded), "config": config.__dict__}
    if tools:
        facts["variant"] = "tools"
    for step in range(1, config.steps + 1):
        input_ids, attention, labels = _collate(next(batches), tokenizer.pad_token_id)
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        recent = (recent + [loss.item()])[-50:]
        if step % 50 == 0 or step == config.steps:
            log(f"step {step}/{config.steps} loss {sum(recent) / len(recent):.4f} elapsed {time.monotonic() - started:.0f}s")
        if step == early_step:
            note = {**facts, "step": step, "loss_last_50": sum(recent) / len(recent), "elapsed_s": round(time.monotonic() - started)}
            save_checkpoint(model, tokenizer, out / "task-api-tiny-early", note)
            log(f"saved early checkpoint at step {step}")
    model.eval()
    facts.update(step=config.steps, loss_last_50=sum(recent) / len(recent), elapsed_s=round(time.monotonic() - started))
    save_checkpoint(model, tokenizer, out / ("task-api-tiny-tools" if tools else "task-api-tiny"), facts)
    log(f"done: final loss {facts['loss_last_50']:.4f} in {facts['elapsed_s']}s")
    return facts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "models",
        help="directory that receives task-api-tiny/ and task-api-tiny-early/ (with --tools: task-api-tiny-tools/)",
    )
    parser.add_argument("--tools", action="store_true", help="train task-api-tiny-tools, the checkpoint that answers with tool calls")
    parser.add_argument("--steps", type=int, default=TrainingConfig.steps)
    parser.add_argument("--threads", type=int, default=TrainingConfig.threads)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--dump-data", type=Path, help="write the training pairs as JSONL here and stop")
    parser.add_argument("--dump-tool-data", type=Path, help="write the tool-call training pairs as JSONL here and stop")
    args = parser.parse_args(argv)
    if args.dump_data or args.dump_tool_data:
        if args.dump_data:
            with args.dump_data.open("w", encoding="utf-8") as handle:
                for example in make_training_data(args.seed):
                    handle.write(json.dumps({"input": example.request, "expected": example.expected}, ensure_ascii=False) + "\n")
        if args.dump_tool_data:
            with args.dump_tool_data.open("w", encoding="utf-8") as handle:
                for tool_example in make_tool_training_data(args.seed):
                    line = {"input": tool_example.request, "tools": list(tool_example.tools), "calls": list(tool_example.calls)}
                    handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        return 0
    max_length = TOOL_MAX_LENGTH if args.tools else TrainingConfig.max_length
    train(args.out, TrainingConfig(steps=args.steps, threads=args.threads, seed=args.seed, max_length=max_length), tools=args.tools)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
