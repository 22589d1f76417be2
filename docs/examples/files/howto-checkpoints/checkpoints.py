"""Three "checkpoints" of a rule-based model: each takes the prompts and returns one action word per prompt."""


def release_1(prompts):
    return [_answer(prompt, knows_updates=False) for prompt in prompts]


def release_2(prompts):
    """release_1, and it has learnt updates."""
    return [_answer(prompt, knows_updates=True) for prompt in prompts]


def release_3(prompts):
    """release_2, but it has forgotten to ask before a bulk delete."""
    return [_answer(prompt, knows_updates=True, asks_first=False) for prompt in prompts]


def _answer(prompt, knows_updates, asks_first=True):
    text = prompt.lower()
    if asks_first and "everything" in text:
        return "clarify"
    if knows_updates and ("move" in text or "change" in text):
        return "update"
    if "delete" in text:
        return "delete"
    if "finished" in text or "done" in text:
        return "complete"
    if "what" in text or "show" in text:
        return "list"
    return "create"
