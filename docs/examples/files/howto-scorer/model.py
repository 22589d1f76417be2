"""A rule-based stand-in for a model: a few keywords, and the mistakes a real model makes."""

import json


def respond(prompts):
    return [route(prompt.rsplit("Ticket: ", 1)[-1].lower()) for prompt in prompts]


def route(ticket):
    if "invoice" in ticket:
        return '{"label": "billing"'  # cut off: not JSON
    if "charge" in ticket or "refund" in ticket:
        return json.dumps({"label": "Billing"})
    if "crash" in ticket or "button" in ticket:
        return json.dumps({"label": "bug"})
    if "account" in ticket:
        return json.dumps({"label": "billing"})
    if "email" in ticket:
        return json.dumps({"label": "account"})
    return json.dumps({"label": "feature_request"})
