"""The ``tool_calls`` scorer: the calls a model made against the calls a case expects, argument by argument.

How a case is scored (``case.expected_calls``; ``case.tools`` are the functions it offered):

1. The output is read with the tool-call parser (``--taskbench-tool-parser``, default
   ``auto``; ``call_parsers.py``). Text with no call in it has no calls: every expected
   call is missing and the score is 0, never an error.
2. Each call is checked against its function's JSON Schema: an unknown function, a
   missing required argument, a wrong type or an undeclared argument is named in the
   details and the reason (what it costs comes from the comparison below).
3. Calls are matched to expected calls of the same function: order-free by default
   (the assignment with the best total credit, found exactly), in order with
   ``calls_ordered: true`` (the best alignment that keeps both orders). The number of
   pairs depends on the function names alone, so a better argument never loses a pair.
4. A matched pair earns the field credit of ``fields.py`` over the union of expected
   and given arguments: ``missing``, ``wrong``, ``partial`` (``contains_fields``), and
   ``invented`` for an argument the case does not expect; dates compare as dates; an
   ``{"any_of": [...]}`` argument earns its best alternative (``null`` among them: it may
   be left out); per-argument ``weights`` by ``argument`` or ``function.argument``. With
   ``function_weight``, the function's name (right in every pair) counts as one more
   matched argument of that weight, as the Task API scorers count the ``action``.
5. The score is the pairs' credit over ``expected + extra_weight * extra`` calls, where
   an extra call is one matched to nothing (a text that looked like a call but could not
   be read counts as one). An extra call to a function marked ``destructive: true``
   scores 0 whatever else matched. No expected call and no call scores 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_taskbench.call_parsers import CallParserError, ParsedCalls, parse_calls, resolve_parser
from pytest_taskbench.calls import AnyOf, ExpectedCall, Tool, ToolCall, calls_json, plain
from pytest_taskbench.scoring import params
from pytest_taskbench.scoring.extract import short
from pytest_taskbench.scoring.fields import FieldResult, FieldRules, compare_field, field_rules, fields_details, weighted_credit
from pytest_taskbench.scoring.json_scorers import compiled_schema
from pytest_taskbench.scoring.registry import scorer
from pytest_taskbench.scoring.score import Score, Scorer

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case

REASON_PROBLEMS = 4
SCHEMA_ERRORS_PER_CALL = 5


@dataclass(frozen=True)
class CallRules:
    """How arguments are credited (``fields.py``'s rules), weighted and skipped, and what an extra call costs."""

    fields: FieldRules
    extra_weight: float = 1.0
    function_weight: float = 0.0

    def weight(self, function: str, argument: str) -> float:
        weights = self.fields.weights
        return weights.get(f"{function}.{argument}", weights.get(argument, self.fields.default_weight))

    def ignored(self, function: str, argument: str) -> bool:
        return argument in self.fields.ignore or f"{function}.{argument}" in self.fields.ignore


@dataclass(frozen=True)
class CallResult:
    """The verdict on one expected call, one given call, or a pair of them."""

    status: str  # match, partial, wrong (a pair); missing (an expected call matched to nothing); extra (a given call matched to nothing)
    function: str
    expected: int | None  # index into the expected calls
    got: int | None  # index into the given calls
    credit: float = 0.0
    arguments: Mapping[str, FieldResult] | None = None
    destructive: bool = False

    def as_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "status": self.status,
            "function": self.function,
            "expected": self.expected,
            "got": self.got,
            "credit": round(self.credit, 6),
        }
        if self.arguments is not None:
            details["arguments"] = fields_details(self.arguments)
        if self.destructive:
            details["destructive"] = True
        return details


def argument_results(expected: ExpectedCall, given: ToolCall, rules: CallRules) -> dict[str, FieldResult]:
    """One field result per argument the expected or the given call names (ignored ones aside), expected ones first."""
    results: dict[str, FieldResult] = {}
    names = [*expected.arguments, *(name for name in given.arguments if name not in expected.arguments)]
    for name in names:
        if rules.ignored(expected.name, name):
            continue
        weight = rules.weight(expected.name, name)
        got = given.arguments.get(name)
        if name not in expected.arguments:
            if got is not None:
                results[name] = FieldResult("invented", rules.fields.wrong_credit, weight, None, got)
            continue
        candidates = [compare_field(name, value, got, rules.fields) for value in expected.acceptable(name)]
        best = max(candidates, key=lambda result: result.credit)  # the first of the best
        value = expected.arguments[name]
        results[name] = dataclasses.replace(best, weight=weight, expected=value.as_json() if isinstance(value, AnyOf) else value)
    return results


def pair_credit(results: Mapping[str, FieldResult], function_weight: float = 0.0) -> float:
    """The pair's weighted argument credit; the function name, right in every pair, counts as a matched argument of ``function_weight``."""
    if function_weight <= 0:
        return weighted_credit(results)
    total = function_weight + sum(result.weight for result in results.values())
    return min(1.0, max(0.0, (function_weight + sum(result.weight * result.credit for result in results.values())) / total))


def best_assignment(credit: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Row-column pairs of the largest possible number of pairs (``min(rows, columns)``) with the largest total credit.

    Exact for any size: the Hungarian algorithm (Kuhn-Munkres, O(n^2 m)) on costs ``1 - credit``.
    """
    rows = len(credit)
    columns = len(credit[0]) if rows else 0
    if not rows or not columns:
        return []
    if rows > columns:
        return [(i, j) for j, i in best_assignment([[credit[i][j] for i in range(rows)] for j in range(columns)])]
    cost = [[1.0 - credit[i][j] for j in range(columns)] for i in range(rows)]
    infinity = float("inf")
    u, v = [0.0] * (rows + 1), [0.0] * (columns + 1)
    owner, way = [0] * (columns + 1), [0] * (columns + 1)  # owner[j]: the row (1-based) holding column j
    for row in range(1, rows + 1):
        owner[0], column = row, 0
        least, used = [infinity] * (columns + 1), [False] * (columns + 1)
        while True:
            used[column] = True
            i, delta, next_column = owner[column], infinity, 0
            for j in range(1, columns + 1):
                if not used[j]:
                    current = cost[i - 1][j - 1] - u[i] - v[j]
                    if current < least[j]:
                        least[j], way[j] = current, column
                    if least[j] < delta:
                        delta, next_column = least[j], j
            for j in range(columns + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    least[j] -= delta
            column = next_column
            if owner[column] == 0:
                break
        while column:
            previous = way[column]
            owner[column] = owner[previous]
            column = previous
    return sorted((owner[j] - 1, j - 1) for j in range(1, columns + 1) if owner[j])


def ordered_alignment(eligible: Sequence[Sequence[float | None]]) -> list[tuple[int, int]]:
    """Pairs that keep both orders: the most pairs (``None``: not a pair), then the most credit (a dynamic programme over both sequences)."""
    rows = len(eligible)
    columns = len(eligible[0]) if rows else 0
    bonus = rows + columns + 1.0  # more than any total credit: a pair more always wins
    best = [[0.0] * (columns + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(columns - 1, -1, -1):
            value = max(best[i + 1][j], best[i][j + 1])
            credit = eligible[i][j]
            if credit is not None:
                value = max(value, bonus + credit + best[i + 1][j + 1])
            best[i][j] = value
    pairs, i, j = [], 0, 0
    while i < rows and j < columns:
        credit = eligible[i][j]
        if credit is not None and best[i][j] == bonus + credit + best[i + 1][j + 1]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def match_calls(expected: Sequence[ExpectedCall], given: Sequence[ToolCall], rules: CallRules, ordered: bool) -> list[tuple[int, int, dict[str, FieldResult]]]:
    """The pairs of (expected index, given index, argument results); only calls to the same function pair up."""
    results = {(i, j): argument_results(e, g, rules) for i, e in enumerate(expected) for j, g in enumerate(given) if e.name == g.name}
    if ordered:
        eligible = [[pair_credit(results[i, j], rules.function_weight) if (i, j) in results else None for j in range(len(given))] for i in range(len(expected))]
        pairs = ordered_alignment(eligible)
    else:
        pairs = []
        for name in dict.fromkeys(call.name for call in expected):  # calls to different functions never pair: one assignment per function
            rows = [i for i, call in enumerate(expected) if call.name == name]
            columns = [j for j, call in enumerate(given) if call.name == name]
            matrix = [[pair_credit(results[i, j], rules.function_weight) for j in columns] for i in rows]
            pairs += [(rows[r], columns[c]) for r, c in best_assignment(matrix)]
    return [(i, j, results[i, j]) for i, j in sorted(pairs)]


def call_problems(call: ToolCall, tools: Mapping[str, Tool]) -> list[str]:
    """What is wrong with a call by its function's schema: an unknown function, a missing required argument, a wrong type, an undeclared argument."""
    tool = tools.get(call.name)
    if tool is None:
        return [f"unknown function {call.name!r} (offered: {', '.join(tools) or 'none'})"]
    problems = [f"argument {name!r} is not declared by {tool.name}" for name in call.arguments if tool.closed and name not in tool.declared]
    try:
        errors = sorted(compiled_schema(tool.parameters).iter_errors(dict(call.arguments)), key=lambda error: list(map(str, error.absolute_path)))
    except Exception as exc:  # noqa: BLE001 - a schema that cannot be applied must not crash a case
        return [*problems, f"cannot check the arguments: {type(exc).__name__}: {exc}"]
    for error in errors:
        if error.validator == "additionalProperties" and problems:
            continue  # already named, argument by argument
        if error.validator == "required":
            problems.append(f"missing required argument: {error.message}")
        elif error.absolute_path:
            problems.append(f"argument {str(error.absolute_path[0])!r}: {error.message}")
        else:
            problems.append(error.message)
    return [short(problem, 200).strip('"') for problem in problems[:SCHEMA_ERRORS_PER_CALL]]


def expected_calls_of(case: Case) -> tuple[ExpectedCall, ...] | None:
    """The case's ``expected_calls``, or its ``expected`` read as calls (one ``{name, arguments}`` or a list of them); None when it has neither."""
    if case.expected_calls is not None:
        return case.expected_calls
    value = plain(case.expected)
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in items):
        return None
    calls = []
    for item in items:
        arguments = item.get("arguments") if isinstance(item.get("arguments"), Mapping) else {}
        calls.append(
            ExpectedCall(
                item["name"],
                {
                    k: AnyOf(tuple(v["any_of"])) if isinstance(v, Mapping) and set(v) == {"any_of"} and isinstance(v["any_of"], list) else v
                    for k, v in arguments.items()
                },
            )
        )
    return tuple(calls)


def describe_call(call: ExpectedCall | ToolCall) -> str:
    arguments = ", ".join(f"{name}={short(value.as_json() if isinstance(value, AnyOf) else value, 30)}" for name, value in call.arguments.items())
    return f"{call.name}({arguments})"


def _argument_problem(name: str, result: FieldResult) -> str:
    if result.status == "missing":
        return f"{name} missing"
    if result.status == "invented":
        return f"{name} invented: {short(result.got)}"
    verb = "partly right" if result.status == "partial" else "wrong"
    return f"{name} {verb}: expected {short(result.expected)}, got {short(result.got)}"


def _status(credit: float, rules: CallRules) -> str:
    return "match" if credit >= 1.0 else "partial" if credit > rules.fields.wrong_credit else "wrong"


def score_calls(expected: Sequence[ExpectedCall], parsed: ParsedCalls, case_tools: Sequence[Tool], rules: CallRules, ordered: bool = False) -> Score:
    """Score the parsed calls against the expected ones (see the module docstring)."""
    tools = {tool.name: tool for tool in case_tools}
    given = parsed.calls
    pairs = match_calls(expected, given, rules, ordered)
    results: list[CallResult] = []
    for i, j, arguments in pairs:
        credit = pair_credit(arguments, rules.function_weight)
        results.append(CallResult(_status(credit, rules), expected[i].name, i, j, credit, arguments))
    paired_expected, paired_given = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
    results += [CallResult("missing", call.name, i, None) for i, call in enumerate(expected) if i not in paired_expected]
    extras = [
        CallResult("extra", call.name, None, j, destructive=call.name in tools and tools[call.name].destructive)
        for j, call in enumerate(given)
        if j not in paired_given
    ]
    results += extras
    problems = {j: call_problems(call, tools) for j, call in enumerate(given)}
    extra_count = len(extras) + len(parsed.problems)
    denominator = len(expected) + rules.extra_weight * extra_count
    value = sum(result.credit for result in results) / denominator if denominator > 0 else 1.0
    destructive = [result.function for result in extras if result.destructive]
    if destructive:
        value = 0.0
    details = {
        "calls": calls_json(given),
        "expected_calls": calls_json(expected),
        "call_results": [result.as_details() for result in results],
        "schema_errors": {str(j): found for j, found in problems.items() if found},
        "parse_problems": list(parsed.problems),
        "calls_ordered": ordered,
        "fields": _fields(results),
    }
    reason = _reason(expected, given, parsed, results, problems, destructive)
    return Score(min(1.0, max(0.0, value)), reason, details)


def _fields(results: Sequence[CallResult]) -> dict[str, Any]:
    """Argument verdicts as ``fields`` (``create_task.title``; a second call to one function ``create_task#2.title``), for the field analysis."""
    fields: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for result in results:
        if result.arguments is None:
            continue
        seen[result.function] = seen.get(result.function, 0) + 1
        label = result.function if seen[result.function] == 1 else f"{result.function}#{seen[result.function]}"
        fields.update({f"{label}.{name}": detail for name, detail in fields_details(result.arguments).items()})
    return fields


def _reason(
    expected: Sequence[ExpectedCall],
    given: Sequence[ToolCall],
    parsed: ParsedCalls,
    results: Sequence[CallResult],
    problems: Mapping[int, list[str]],
    destructive: Sequence[str],
) -> str:
    if destructive:
        return f"extra call to destructive function {', '.join(dict.fromkeys(destructive))}: the case fails whatever else matched"
    if not given and not parsed.problems:
        if not expected:
            return "no call, as expected"
        return f"no call: expected {'; '.join(describe_call(call) for call in expected[:3])}" + (f" (+{len(expected) - 3} more)" if len(expected) > 3 else "")
    notes: list[str] = []
    for result in results:
        if result.status in ("partial", "wrong") and result.arguments is not None:
            wrong = [_argument_problem(name, r) for name, r in result.arguments.items() if r.status != "match"]
            notes.append(f"call {(result.got or 0) + 1} {result.function}: {', '.join(wrong[:3])}")
        elif result.status == "missing":
            notes.append(f"missing call {describe_call(expected[result.expected or 0])}")
        elif result.status == "extra":
            notes.append(f"extra call {(result.got or 0) + 1} {result.function}")
    for j, found in problems.items():
        if found:
            notes.append(f"call {j + 1} {given[j].name}: {found[0]}")
    notes += [f"unreadable call: {problem}" for problem in parsed.problems]
    matched = sum(result.status == "match" for result in results)
    head = f"{matched}/{len(expected)} expected calls match" if expected else "no call was expected"
    if not notes:
        return f"all {len(expected)} calls match" if len(expected) > 1 else "the call matches"
    shown = "; ".join(notes[:REASON_PROBLEMS]) + (f"; +{len(notes) - REASON_PROBLEMS} more" if len(notes) > REASON_PROBLEMS else "")
    return f"{head}; {shown}"


@scorer("tool_calls")
def tool_calls(
    *,
    tool_parser: str = "auto",
    weights: Mapping[str, float] | None = None,
    default_weight: float = 1.0,
    missing_credit: float = 0.0,
    wrong_credit: float = 0.0,
    contains_credit: float = 0.5,
    contains_fields: list[str] | tuple[str, ...] = (),
    ignore_case: bool = False,
    ignore: list[str] | tuple[str, ...] = (),
    tolerance: float = 0.0,
    extra_weight: float = 1.0,
    function_weight: float = 0.0,
) -> Scorer:
    """The model's tool calls against the case's ``expected_calls``, argument by argument (see ``scoring/tool_calls.py``).

    Args:
        tool_parser: how calls are read from the output; by default ``--taskbench-tool-parser`` (auto).
        weights: per-argument weights by ``argument`` or ``function.argument``, e.g. ``{title: 2, create_task.priority: 3}``.
        default_weight: the weight of an argument ``weights`` does not name.
        missing_credit: credit for an expected argument the call leaves out.
        wrong_credit: credit for a wrong or invented argument.
        contains_credit: credit when a ``contains_fields`` string holds the expected one.
        contains_fields: arguments that earn ``contains_credit`` by containment (e.g. ``[title]``).
        ignore_case: strings that differ only in case match.
        ignore: arguments never scored, by ``argument`` or ``function.argument``.
        tolerance: numbers within this absolute distance match.
        extra_weight: what an extra call weighs against an expected one (0: extra calls cost nothing).
        function_weight: the weight of the function's name in a pair's credit, counted as one more matched
            argument (0: the arguments alone; 1: a right function with every argument wrong earns 1 / (1 + their weights)).
    """
    rules = CallRules(
        field_rules(
            weights=weights,
            default_weight=default_weight,
            missing_credit=missing_credit,
            wrong_credit=wrong_credit,
            contains_credit=contains_credit,
            contains_fields=contains_fields,
            ignore_case=ignore_case,
            ignore=ignore,
            tolerance=tolerance,
        ),
        extra_weight=params.non_negative("extra_weight", extra_weight),
        function_weight=params.non_negative("function_weight", function_weight),
    )
    try:
        parser = resolve_parser(params.text("tool_parser", tool_parser))
    except CallParserError as exc:
        raise ValueError(str(exc)) from None

    def score(output: str, case: Case) -> Score:
        expected = expected_calls_of(case)
        if expected is None:
            return Score(0.0, "the case gives no expected_calls to compare the calls with", {"calls": [], "expected_calls": None})
        return score_calls(expected, parse_calls(output, parser), case.tools, rules, ordered=case.calls_ordered)

    return score


@scorer("valid_tool_calls")
def valid_tool_calls(*, tool_parser: str = "auto", invalid_score: float = 0.5) -> Scorer:
    """1 when the output's calls are well formed, ``invalid_score`` when one breaks its function's schema, 0 for no call or an unreadable one.

    The form of the calls, not whether they are the right ones (that is ``tool_calls``): like
    ``format_compliance`` for JSON answers. Well formed: at least one call, each readable by the
    tool-call parser, to a function the case offers, with arguments its JSON Schema accepts. A
    case whose ``expected_calls`` is empty expects no call: no call scores 1 there.

    Args:
        tool_parser: how calls are read from the output; by default ``--taskbench-tool-parser`` (auto).
        invalid_score: the score of readable calls of which one names an unknown function or breaks its schema.
    """
    broken = params.unit("invalid_score", invalid_score)
    try:
        parser = resolve_parser(params.text("tool_parser", tool_parser))
    except CallParserError as exc:
        raise ValueError(str(exc)) from None

    def score(output: str, case: Case) -> Score:
        parsed = parse_calls(output, parser)
        tools = {tool.name: tool for tool in case.tools}
        problems = {j: call_problems(call, tools) for j, call in enumerate(parsed.calls)}
        details = {
            "calls": calls_json(parsed.calls),
            "schema_errors": {str(j): found for j, found in problems.items() if found},
            "parse_problems": list(parsed.problems),
        }
        if parsed.problems:
            return Score(0.0, f"unreadable call: {parsed.problems[0]}", details)
        if not parsed.calls:
            if expected_calls_of(case) == ():
                return Score(1.0, "no call, as expected", details)
            return Score(0.0, "no call", details)
        wrong = [f"call {j + 1} {parsed.calls[j].name}: {found[0]}" for j, found in problems.items() if found]
        if wrong:
            return Score(
                broken, "; ".join(wrong[:REASON_PROBLEMS]) + (f"; +{len(wrong) - REASON_PROBLEMS} more" if len(wrong) > REASON_PROBLEMS else ""), details
            )
        count = len(parsed.calls)
        return Score(1.0, "the call is well formed" if count == 1 else f"all {count} calls are well formed", details)

    return score
