"""Models for the shipped conversation suite: an oracle that plays each case's expected actions, and a deleter.

``oracle`` knows every case's transcript (the suite's prompt, its expected answers, the observations
task_api gives back) and answers each with the expected action of that turn; a prompt it does not
know gets ``{}``. ``deleter`` lists the tasks at turn 1 and then deletes them one per turn, the last listed first.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from pytest_taskbench.environments.conversation import Exchange, execute_all, observation_json, opening_prompt, read_actions, start, turn_prompt
from pytest_taskbench.suite import load_suite

SUITE = Path(__file__).resolve().parents[2] / "cases" / "conversations" / "taskbench.yaml"


@lru_cache(maxsize=1)
def transcripts() -> dict[str, str]:
    """Every turn's prompt text -> the expected answer, as the plugin builds the prompts."""
    suite = load_suite(SUITE)
    answers: dict[str, str] = {}
    for path in suite.case_files():
        for case in suite.load_cases(path).cases:
            assert case.conversation is not None
            environment = start(case, suite.conversation)
            users = [turn.user for turn in case.conversation.turns]
            exchanges: list[Exchange] = []
            opening = opening_prompt(suite.prompt_for(case), environment)
            for turn in case.conversation.turns:
                answer = json.dumps(turn.expected, ensure_ascii=False)
                answers[turn_prompt(opening, suite.conversation, users, exchanges).text] = answer
                exchanges.append(Exchange(answer, observation_json(execute_all(environment, read_actions(answer, case, "auto")))))
    return answers


def oracle(prompts: list[str]) -> list[str]:
    known = transcripts()
    return [" " + known.get(prompt, "{}") for prompt in prompts]


def deleter(prompts: list[str]) -> list[str]:
    answers = []
    for prompt in prompts:
        listed = re.findall(r'"title": "((?:[^"\\]|\\.)*)"', prompt.split("Result: ", 1)[1]) if "Result: " in prompt else []
        deleted = set(re.findall(r'"deleted": "((?:[^"\\]|\\.)*)"', prompt))
        left = [title for title in listed if title not in deleted]
        action = {"action": "delete", "title": json.loads(f'"{left[-1]}"')} if left else {"action": "list"}
        answers.append(" " + json.dumps(action, ensure_ascii=False))
    return answers
