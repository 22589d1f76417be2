"""A rule-based stand-in for a language model, so that the examples run in a second.

--taskbench-model=model:respond calls respond() with a list of prompt texts;
it returns one output text per prompt.
"""

import json
import re


def answer(prompt: str) -> str:
    request = prompt.rpartition("Request: ")[2].strip().lower()
    if request in ("hi", "hello", "good morning"):
        return "Hello! How can I help?"
    order = re.search(r"\b([a-z]\d+)\b", request)
    if "order" in request and order:
        return json.dumps({"intent": "order_status", "order_id": order.group(1).upper()})
    if "refund" in request:
        return json.dumps({"intent": "refund"})
    return "Sorry, I did not understand."


def respond(prompts: list[str]) -> list[str]:
    return [answer(prompt) for prompt in prompts]
