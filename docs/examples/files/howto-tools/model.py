"""A rule-based stand-in for a tool-calling model, with the mistakes real ones make."""

import json
import re


def call(name, **arguments):
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def respond(prompts, tools):
    """Takes the prompts and, for each, the tools offered (OpenAI function schemas)."""
    return [answer(prompt, [tool["function"]["name"] for tool in offered]) for prompt, offered in zip(prompts, tools)]


def answer(prompt, offered):
    orders = re.findall(r"A\d{4}", prompt)
    if "manager" in prompt:
        return call("refund_order", order_id=orders[0], reason="late")  # refunds instead of escalating
    if "refund" in prompt:
        return call("refund_order", order_id=orders[0], reason="damaged") + call("lookup_order", order_id=orders[0])  # wrong order
    if "Track" in prompt:
        return call("track_parcel", order_id=orders[1]) + call("track_parcel", order_id=orders[0], carrier="ups")
    if orders:
        return call("lookup_order", order_id=orders[0])
    return "You're welcome!"
