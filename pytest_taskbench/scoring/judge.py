"""The ``judge`` scorer: a model grades each output against a rubric, on a declared scale.

The scorer does not call a model itself. It writes the judge's prompts
(``JudgeScorer.prompts``) and reads the judge's answers into a score
(``JudgeScorer.verdict``); the run sends the prompts of every judge-scored case
it is about to score to the judge in batches, through the same engine and cache
as the model's own outputs (``run.py``), so a re-run on unchanged outputs asks
the judge nothing.

Scales (``scale:``, required: a rubric without one is a configuration error):

- ``pass_fail``: the judge answers pass or fail; 1 or 0;
- ``N`` (a whole number from 2 to 100): the judge answers 1 to N; ``(v - 1) / (N - 1)``;
- ``pairwise``: the judge compares the output with the case's expected answer,
  asked twice with the two in swapped positions (A/B, then B/A); better 1, tie
  0.5, worse 0, the mean of the two orders. An answer that changes with the
  position is a *flip* (position bias), reported, and scores the mean (0.5 for a
  full flip).

The rubric is a text, or a list of criteria each with a weight: the judge then
rates every criterion on the scale and the score is the weighted mean.

The judge answers in JSON (``{"reasoning": "...", "verdict": "pass"}``), read
robustly: the first JSON object holding a verdict anywhere in the answer, else a
``VERDICT: x`` line. An answer with no readable verdict is a *judge error* on the
case (counted, shown and gated like a model error), never a pass and never a
silent 0.

Human labels on a case (``human_label`` on the scale, or ``human_score`` in
[0, 1]) are copied into the details, so the run can measure how far the judge
agrees with people (``verdict/calibration.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_taskbench.generation.base import Prompt
from pytest_taskbench.scoring import params
from pytest_taskbench.scoring.registry import scorer
from pytest_taskbench.scoring.score import Score

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case

DEFAULT_JUDGE = "default"
PASS_WORDS = {
    "pass": "pass",
    "passed": "pass",
    "yes": "pass",
    "true": "pass",
    "correct": "pass",
    "fail": "fail",
    "failed": "fail",
    "no": "fail",
    "false": "fail",
    "incorrect": "fail",
}
PAIR_WORDS = {"a": "A", "response a": "A", "b": "B", "response b": "B", "tie": "tie", "equal": "tie", "both": "tie", "same": "tie"}
VERDICT_KEYS = ("verdict", "score", "rating", "grade", "label", "winner", "answer")
REASON_KEYS = ("reasoning", "reason", "explanation", "rationale", "justification")
VERDICT_LINE = re.compile(r"verdict\W{0,4}[:=][^\w\n]{0,4}(\w+(?:\s*/\s*\d+)?)", re.IGNORECASE)
NO_VERDICT = "no verdict"
REASONING_LIMIT = 600


class JudgeNotRun(Exception):
    """A judge scorer called like a plain scorer: only a run can ask its judge."""


@dataclass(frozen=True)
class Scale:
    """What the judge answers and what each answer is worth."""

    kind: str  # "pass_fail", "points" or "pairwise"
    points: int = 2

    @property
    def name(self) -> str:
        return f"1-{self.points}" if self.kind == "points" else self.kind

    @property
    def labels(self) -> tuple[str, ...]:
        """Every verdict, worst first (the rows and columns of a confusion matrix)."""
        if self.kind == "pass_fail":
            return ("fail", "pass")
        if self.kind == "pairwise":
            return ("worse", "tie", "better")
        return tuple(str(point) for point in range(1, self.points + 1))

    @property
    def ordinal(self) -> bool:
        """Whether a near miss counts as partial agreement (weighted kappa)."""
        return self.kind == "points"

    def value(self, label: str) -> float:
        labels = self.labels
        return labels.index(label) / (len(labels) - 1)

    def nearest(self, value: float) -> str:
        """The label whose value is nearest ``value`` (the better one on a tie)."""
        labels = self.labels
        return labels[min(range(len(labels)), key=lambda i: (abs(i / (len(labels) - 1) - value), -i))]

    def read(self, raw: Any) -> str | None:
        """A verdict as the judge wrote it -> one of ``labels`` (pairwise: "A", "B" or "tie"), or None."""
        if isinstance(raw, bool):
            raw = "pass" if raw else "fail"
        text = str(raw).strip().strip("*\"'`.").strip().lower()
        if self.kind == "pass_fail":
            return PASS_WORDS.get(text)
        if self.kind == "pairwise":
            return PAIR_WORDS.get(text)
        match = re.fullmatch(r"(\d+)(?:\.0+)?(?:\s*(?:/|out of)\s*(\d+))?", text)
        if match is None or (match.group(2) is not None and int(match.group(2)) != self.points):
            return None
        point = int(match.group(1))
        return str(point) if 1 <= point <= self.points else None

    def instruction(self) -> str:
        if self.kind == "pass_fail":
            return '"pass" or "fail"'
        if self.kind == "pairwise":
            return '"A" (response A is better), "B" (response B is better) or "tie"'
        return f"a whole number from 1 (worst) to {self.points} (best)"


def scale_of(value: Any) -> Scale:
    """``scale:`` as a suite or case file writes it. Raises ValueError."""
    if value is None:
        raise ValueError("the judge needs a scale: pass_fail, a number of points from 2 to 100 (1 to N), or pairwise; e.g. scale: pass_fail")
    if value in ("pass_fail", "pass/fail"):
        return Scale("pass_fail")
    if value == "pairwise":
        return Scale("pairwise", 3)
    if isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= 100:
        return Scale("points", value)
    raise ValueError(f"scale must be pass_fail, a whole number of points from 2 to 100, or pairwise, got {value!r}")


@dataclass(frozen=True)
class Criterion:
    name: str
    description: str
    weight: float = 1.0


def criteria_of(value: Any) -> tuple[Criterion, ...]:
    """A rubric's criteria: a list of ``{name, description, weight}`` (or of strings). Raises ValueError."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"rubric criteria must be a non-empty list of {{name, description, weight}}, got {value!r}")
    found: list[Criterion] = []
    for position, item in enumerate(value, start=1):
        if isinstance(item, str) and item.strip():
            item = {"name": f"criterion_{position}", "description": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("description", item.get("name")), str):
            raise ValueError(f"rubric criterion {position} must be a text or {{name, description, weight}}, got {item!r}")
        unknown = set(item) - {"name", "description", "weight"}
        if unknown:
            raise ValueError(f"rubric criterion {position}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: description, name, weight")
        name = params.text(f"rubric criterion {position}: name", item.get("name", f"criterion_{position}")).strip()
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_ .\-]*", name):
            raise ValueError(f"rubric criterion {position}: name {name!r} may hold only letters, digits, spaces, '_', '.' and '-'")
        weight = params.non_negative(f"rubric criterion {name}: weight", item.get("weight", 1.0))
        found.append(Criterion(name, str(item.get("description", name)), weight))
    if len({c.name for c in found}) != len(found):
        raise ValueError("rubric criteria must have different names")
    if sum(c.weight for c in found) <= 0:
        raise ValueError("rubric criteria weights must not all be 0")
    return tuple(found)


@dataclass(frozen=True)
class Reading:
    """What was read from one judge answer: a verdict (or one per criterion), the reasoning, or why none."""

    verdict: str | None = None
    criteria: Mapping[str, str] = field(default_factory=dict)
    reasoning: str = ""
    problem: str = ""


def _json_objects(text: str) -> list[Any]:
    """Every JSON object in ``text``, outermost first, in order (a code fence or prose around them is skipped)."""
    decoder = json.JSONDecoder()
    found = []
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except ValueError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        index = text.find("{", end)
    return found


def _first(mapping: Mapping[str, Any], keys: Sequence[str]) -> Any:
    lowered = {str(key).lower(): value for key, value in mapping.items()}
    return next((lowered[key] for key in keys if key in lowered), None)


def read_answer(answer: str, scale: Scale, criteria: Sequence[Criterion] = ()) -> Reading:
    """Read a judge's answer: JSON first, then ``VERDICT: x`` (or ``NAME: x`` per criterion) lines."""
    for obj in _json_objects(answer):
        reasoning = _first(obj, REASON_KEYS)
        reasoning = "" if reasoning is None else str(reasoning)
        if criteria:
            given = _first(obj, ("criteria", "scores", "ratings"))
            given = given if isinstance(given, Mapping) else obj
            read = {c.name: scale.read(given[c.name]) for c in criteria if c.name in given}
            if len(read) == len(criteria) and all(read.values()):
                return Reading(criteria={name: str(label) for name, label in read.items()}, reasoning=reasoning)
            continue
        raw = _first(obj, VERDICT_KEYS)
        if raw is not None and scale.read(raw) is not None:
            return Reading(verdict=scale.read(raw), reasoning=reasoning)
    if criteria:
        lines = {}
        for c in criteria:
            match = re.search(rf"^\W*{re.escape(c.name)}\W*[:=]\s*(.+?)\s*$", answer, re.IGNORECASE | re.MULTILINE)
            if match is not None and scale.read(match.group(1)) is not None:
                lines[c.name] = str(scale.read(match.group(1)))
        if len(lines) == len(criteria):
            return Reading(criteria=lines, reasoning=_prose(answer))
        wanted = ", ".join(c.name for c in criteria)
        return Reading(problem=f"no readable verdict for every criterion ({wanted}) on the scale {scale.name}")
    for match in reversed(list(VERDICT_LINE.finditer(answer))):
        verdict = scale.read(match.group(1))
        if verdict is not None:
            return Reading(verdict=verdict, reasoning=_prose(answer[: match.start()]))
    return Reading(problem=f"no readable verdict ({scale.instruction()})")


def _prose(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int = REASONING_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Judged:
    """A judge's verdict on one case: a score, or a judge error saying why there is none."""

    score: Score | None
    error: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class JudgeScorer:
    """Writes a judge's prompts for a case and reads its answers into a score (see the module docstring)."""

    judge: str
    scale: Scale
    rubric: str = ""
    criteria: tuple[Criterion, ...] = ()
    reference: bool = True  # show the case's expected answer to the judge as a reference

    def __call__(self, output: str, case: Case) -> Score:
        raise JudgeNotRun(f"the judge scorer asks judge {self.judge!r}: it scores inside a taskbench run, which sends the prompts to the judge")

    @property
    def pairwise(self) -> bool:
        return self.scale.kind == "pairwise"

    def human(self, case: Case) -> str | None:
        """The case's human label on this scale (``human_score`` mapped to the nearest label), or None."""
        if case.human_label is not None:
            label = case.human_label.strip().lower()
            if self.scale.kind == "pass_fail":
                return PASS_WORDS.get(label)
            return label if label in self.scale.labels else None
        if case.human_score is not None:
            return self.scale.nearest(case.human_score)
        return None

    def check_case(self, case: Case) -> None:
        """Raise ValueError for a case this judge cannot score: a human label off the scale, pairwise with nothing to compare."""
        if case.human_label is not None and self.human(case) is None:
            raise ValueError(f"human_label {case.human_label!r} is not on the judge's scale {self.scale.name} ({', '.join(self.scale.labels)})")
        if self.pairwise and case.expected is None:
            raise ValueError("a pairwise judge compares the output with the case's expected answer, and this case has none")

    def prompts(self, output: str, case: Case) -> tuple[Prompt, ...]:
        """The judge's prompts for one output: one, or two (the pair in both orders) for ``pairwise``."""
        if self.pairwise:
            reference = _shown(case.expected)
            return (self._prompt(case, self._pair(output, reference)), self._prompt(case, self._pair(reference, output)))
        parts = []
        if self.reference and case.expected is not None:
            parts.append(f"Reference answer (what a correct response contains):\n{_shown(case.expected)}")
        parts.append(f"Response to grade:\n{output}")
        return (self._prompt(case, "\n\n".join(parts)),)

    def _pair(self, first: str, second: str) -> str:
        return f"Response A:\n{first}\n\nResponse B:\n{second}"

    def _format(self) -> str:
        if self.criteria:
            example = ", ".join(f'"{c.name}": <verdict>' for c in self.criteria)
            return f'{{"reasoning": "<one or two sentences>", "criteria": {{{example}}}}}'
        return '{"reasoning": "<one or two sentences>", "verdict": <verdict>}'

    def _prompt(self, case: Case, body: str) -> Prompt:
        task = "compare two responses to a request" if self.pairwise else "grade a response to a request"
        system = (
            f"You are an impartial evaluator. You {task} against a rubric. "
            f"Answer with one JSON object and nothing else: {self._format()}, where each verdict is {self.scale.instruction()}."
        )
        rubric = self.rubric.strip()
        if self.criteria:
            listed = "\n".join(f"- {c.name} (weight {c.weight:g}): {c.description}" for c in self.criteria)
            rubric = (rubric + "\n\n" if rubric else "") + f"Rate each criterion:\n{listed}"
        user = f"Rubric:\n{rubric}\n\nRequest:\n{case.request_text}\n\n{body}\n\nYour JSON answer:"
        return Prompt(({"role": "system", "content": system}, {"role": "user", "content": user}), f"{system}\n\n{user}")

    def verdict(self, output: str, case: Case, answers: Sequence[str | None], errors: Sequence[str] = ()) -> Judged:
        """The score the judge's answers give (in the order ``prompts`` wrote them), or a judge error."""
        details: dict[str, Any] = {"name": self.judge, "scale": self.scale.name, "human": self.human(case), "verdict": None, "answers": []}
        readings = []
        for index, answer in enumerate(answers):
            if answer is None:
                failure = errors[index] if index < len(errors) else "no answer"
                return Judged(None, f"judge {self.judge!r} failed: {failure}", details)
            details["answers"].append(_clip(answer))
            reading = read_answer(answer, self.scale, self.criteria)
            if reading.problem:
                return Judged(None, f"judge {self.judge!r} gave {reading.problem}: {_clip(answer, 200)!r}", details)
            readings.append(reading)
        if self.pairwise:
            return self._pairwise(readings, output, case, details)
        [reading] = readings
        details["reasoning"] = _clip(reading.reasoning)
        if self.criteria:
            details["criteria"] = dict(reading.criteria)
            total = sum(c.weight for c in self.criteria)
            value = sum(c.weight * self.scale.value(reading.criteria[c.name]) for c in self.criteria) / total
            label = self.scale.nearest(value)
            shown = ", ".join(f"{name} {verdict}" for name, verdict in reading.criteria.items())
        else:
            label = str(reading.verdict)
            value, shown = self.scale.value(label), label
        details["verdict"] = label
        return Judged(Score(value, self._reason(shown, reading.reasoning), {"judge": details}), details=details)

    def _pairwise(self, readings: Sequence[Reading], output: str, case: Case, details: dict[str, Any]) -> Judged:
        # the output is A in the first order and B in the second; each answer, from the output's side:
        first, second = readings
        seen = [_side(first.verdict, output_is="A"), _side(second.verdict, output_is="B")]
        value = sum(self.scale.value(side) for side in seen) / len(seen)
        label = self.scale.nearest(value)
        details.update(
            verdict=label,
            orders=seen,
            flipped=seen[0] != seen[1],
            output_longer=len(output) > len(_shown(case.expected)),
            reasoning=_clip(first.reasoning),
        )
        shown = f"{label} than the expected answer" + (f" (flipped with the order: {seen[0]} as A, {seen[1]} as B)" if details["flipped"] else "")
        return Judged(Score(value, self._reason(shown, first.reasoning), {"judge": details}), details=details)

    def _reason(self, verdict: str, reasoning: str) -> str:
        return f"judge {self.judge}: {verdict}" + (f"; {_clip(reasoning, 300)}" if reasoning.strip() else "")


def _side(verdict: str | None, output_is: str) -> str:
    if verdict == "tie" or verdict is None:
        return "tie"
    return "better" if verdict == output_is else "worse"


@scorer("judge")
def judge(
    *,
    rubric: Any = None,
    scale: Any = None,
    judge: Any = None,
    reference: Any = True,
    judges: Sequence[str] | None = None,
) -> JudgeScorer:
    """A model judge grades the output against ``rubric`` on ``scale`` (see ``scoring/judge.py``).

    Args:
        rubric: what a good answer does: a text, or ``{text, criteria: [{name, description, weight}]}``,
            or a list of criteria.
        scale: ``pass_fail``, a number of points N (the judge answers 1 to N), or ``pairwise``.
        judge: the name of a judge in the suite's ``judges:`` (default: ``default``, or the only one).
        reference: show the case's expected answer to the judge (default true).
        judges: the run's judge names (filled in by the run).
    """
    parsed_scale = scale_of(scale)
    text = ""
    criteria: tuple[Criterion, ...] = ()
    if isinstance(rubric, str) and rubric.strip():
        text = rubric
    elif isinstance(rubric, list):
        criteria = criteria_of(rubric)
    elif isinstance(rubric, Mapping):
        unknown = set(rubric) - {"text", "criteria"}
        if unknown:
            raise ValueError(f"rubric: unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: criteria, text")
        text = params.text("rubric.text", rubric.get("text", ""))
        criteria = criteria_of(rubric["criteria"]) if rubric.get("criteria") is not None else ()
        if not text.strip() and not criteria:
            raise ValueError("rubric needs a text or criteria")
    else:
        raise ValueError(f"the judge needs a rubric: a text, or a list of criteria each with a weight; got {rubric!r}")
    if criteria and parsed_scale.kind == "pairwise":
        raise ValueError("a pairwise judge takes a rubric text, not criteria")
    known = tuple(judges or ())
    name = judge if judge is not None else (known[0] if len(known) == 1 else DEFAULT_JUDGE)
    if not isinstance(name, str) or not name:
        raise ValueError(f"judge must name a judge of the suite's judges:, got {judge!r}")
    if judges is not None and name not in known:
        declared = f"the suite declares {', '.join(known)}" if known else "none is declared"
        raise ValueError(
            f"no judge named {name!r}: {declared}; add it under judges: in taskbench.yaml, or pass --taskbench-judge-model=SPEC (the judge named default)"
        )
    return JudgeScorer(name, parsed_scale, text, criteria, params.flag("reference", reference))
