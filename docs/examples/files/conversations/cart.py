"""A shopping cart as a taskbench environment: one file, registered as ``cart``.

State: ``{"items": [{"sku": "apple", "quantity": 2}, ...]}``, records keyed by ``sku``.
Actions (the JSON object the model answers with):
``{"action": "add", "sku", "quantity"}``, ``{"action": "set_quantity", "sku", "quantity"}``,
``{"action": "remove", "sku"}``, ``{"action": "empty"}`` (removes everything),
``{"action": "list"}`` and ``{"action": "clarify", "question"}`` (both change nothing).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pytest_taskbench.environments import Action, Observation, RecordCollection, environment


def refused(reason: str) -> Observation:
    """An action the cart will not carry out: the state does not change and the model is told why."""
    return Observation(False, {"ok": False, "error": reason}, reason)


@environment("cart")
class Cart:
    collections = (RecordCollection("items", key="sku"),)  # the state scorer matches items by sku

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def problems(self, state: Any) -> list[str]:
        """Why a case's initial_state or expected_state is not a cart (checked when the case is collected)."""
        if not isinstance(state, Mapping) or set(state) != {"items"} or not isinstance(state["items"], list):
            return ["a cart is {items: [{sku, quantity}, ...]}"]
        return [
            f"items[{index}] needs a string sku and a whole quantity of at least 1"
            for index, item in enumerate(state["items"])
            if not isinstance(item, Mapping) or not isinstance(item.get("sku"), str) or not _quantity(item.get("quantity"))
        ]

    def reset(self, initial_state: Mapping[str, Any]) -> None:
        self.items = copy.deepcopy(list(initial_state.get("items", [])))

    def state(self) -> dict[str, Any]:
        return {"items": copy.deepcopy(self.items)}

    def execute(self, action: Action) -> Observation:
        args = action.arguments
        kind = args.get("action")
        if kind == "list":
            return Observation(True, {"ok": True, "items": copy.deepcopy(self.items)})
        if kind == "clarify":
            return Observation(True, {"ok": True, "asked": str(args.get("question", ""))})
        if kind == "empty":
            removed = [item["sku"] for item in self.items]
            self.items = []
            return Observation(True, {"ok": True, "removed": removed})
        sku = args.get("sku")
        if not isinstance(sku, str) or not sku:
            return refused(f"{kind!r} needs a sku")
        item = next((item for item in self.items if item["sku"] == sku), None)
        if kind == "add":
            quantity = args.get("quantity", 1)
            if not _quantity(quantity):
                return refused("quantity must be a whole number of at least 1")
            if item is None:
                self.items.append({"sku": sku, "quantity": quantity})
            else:
                item["quantity"] += quantity
            return Observation(True, {"ok": True, "sku": sku, "quantity": quantity if item is None else item["quantity"]})
        if item is None:
            return refused(f"no {sku} in the cart")
        if kind == "remove":
            self.items.remove(item)
            return Observation(True, {"ok": True, "removed": [sku]})
        if kind == "set_quantity":
            if not _quantity(args.get("quantity")):
                return refused("quantity must be a whole number of at least 1")
            item["quantity"] = args["quantity"]
            return Observation(True, {"ok": True, "sku": sku, "quantity": item["quantity"]})
        return refused(f"unknown action {kind!r}")


def _quantity(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
