"""A model function that takes whole prompts: the chat messages, and the suite's generation settings."""

from pytest_taskbench import prompt_model


@prompt_model
def respond(prompts, params):
    answers = []
    for prompt in prompts:
        request = prompt.messages[-1]["content"].lower()  # the last user message
        answer = "list" if request.startswith(("what", "show")) else "create"
        answers.append(answer[: params.max_new_tokens])
    return answers
