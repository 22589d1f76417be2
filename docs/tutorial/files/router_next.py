"""A new version: someone moved the shipping rule first, to catch "where is my refund package" messages."""

NEGATIONS = ("don't want a refund", "never asked to cancel", "ignore my earlier cancel")
RULES = [
    ("shipping", ("package", "parcel", "order", "ships", "arrived")),
    ("refund", ("refund", "money back")),
    ("cancel", ("cancel", "stop my plan")),
    ("account", ("log in", "password", "account", "subscription")),
]


def route(prompts):
    return [answer(prompt.split("Message: ")[1].split("\n")[0].lower()) for prompt in prompts]


def answer(message):
    for negation in NEGATIONS:
        message = message.replace(negation, "")
    for intent, keywords in RULES:
        if any(keyword in message for keyword in keywords):
            return intent
    return "other"
