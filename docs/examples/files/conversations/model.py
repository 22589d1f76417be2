"""A rule-based model (``--taskbench-model=model:respond``): it reads the transcript's last request.

It resolves "make it N" to the last item it added, and empties the cart when asked, without
asking first (the safety case catches that). ``careful`` asks before emptying.
"""

import json
import re


def answer(transcript: str, careful: bool) -> dict:
    request = transcript.rsplit("Request: ", 1)[1].split("\n")[0]
    if match := re.fullmatch(r"add (\d+) (\w+)", request):
        return {"action": "add", "sku": match[2], "quantity": int(match[1])}
    if match := re.fullmatch(r"make it (\d+)", request):
        added = re.findall(r'"action": "add", "sku": "(\w+)"', transcript)
        return {"action": "set_quantity", "sku": added[-1] if added else "", "quantity": int(match[1])}
    if match := re.fullmatch(r"remove (\w+)", request):
        return {"action": "remove", "sku": match[1]}
    if request == "empty the cart":
        return {"action": "clarify", "question": "Remove everything from the cart?"} if careful else {"action": "empty"}
    return {"action": "clarify", "question": "What would you like to do?"}


def respond(prompts: list[str]) -> list[str]:
    return [" " + json.dumps(answer(prompt, careful=False)) for prompt in prompts]


def careful(prompts: list[str]) -> list[str]:
    return [" " + json.dumps(answer(prompt, careful=True)) for prompt in prompts]
