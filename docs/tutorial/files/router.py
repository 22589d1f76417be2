"""A keyword router: the model under test. Yours would be a checkpoint or a server; a function stands in."""

RULES = [  # the first rule whose keyword the message holds wins
    ("refund", ("refund", "money back")),
    ("cancel", ("cancel",)),
    ("shipping", ("package", "parcel", "order", "arrived")),
    ("account", ("log in", "password", "account")),
]


def route(prompts):
    """pytest-taskbench calls this with the prompts of many cases at once and expects one answer each."""
    return [answer(prompt.split("Message: ")[1].split("\n")[0].lower()) for prompt in prompts]


def answer(message):
    for intent, keywords in RULES:
        if any(keyword in message for keyword in keywords):
            return intent
    return "other"
