"""A rule-based stand-in for a model: it sees lm-eval's prompt and answers with a call, sometimes chatty."""


def respond(prompts):
    return [answer(prompt.rsplit("Request: ", 1)[-1].split("\n")[0]) for prompt in prompts]


def answer(request):
    if request.startswith("add "):
        return f"add('{request[4:]}')"
    if request.startswith("delete"):
        return "Sure: delete('dentist')"  # right call, wrapped in prose
    if "due today" in request:
        return "list(due='today')"
    return "list()"
