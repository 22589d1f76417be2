"""Rendering lm-eval templates (doc_to_text, doc_to_target, description) in a bounded Jinja sandbox."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_taskbench.guards.limits import compile_pattern, template_budget


def _regex_replace(text: str, pattern: str, replacement: str, count: int = 0) -> str:
    return compile_pattern(pattern).sub(replacement, text, count=count)


MAX_RENDERED = 1_000_000  # characters a repeated string or list in a template may reach


def _environment() -> Any:
    from jinja2 import BaseLoader, StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    class BoundedEnvironment(SandboxedEnvironment):
        """The sandbox, with ``*`` and ``**`` refused where they would build something huge in one step."""

        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, (int, float)) and abs(right) > 1000:
                raise SecurityError(f"{left!r} ** {right!r}: exponent too large")
            if operator == "*":
                for sized, times in ((left, right), (right, left)):
                    if isinstance(sized, (str, list, tuple)) and isinstance(times, int) and len(sized) * times > MAX_RENDERED:
                        raise SecurityError(f"repeating a {len(sized)}-item value {times} times is too large")
            return super().call_binop(context, operator, left, right)

    env = BoundedEnvironment(loader=BaseLoader(), undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters["regex_replace"] = _regex_replace
    return env


class Renderer:
    """lm-eval's doc_to_text / doc_to_target / description semantics, with templates compiled once."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = frozenset(columns)
        self._env = _environment()
        self._templates: dict[str, Any] = {}

    def _template(self, text: str) -> Any:
        if text not in self._templates:
            self._templates[text] = self._env.from_string(text)
        return self._templates[text]

    def render(self, spec: Any, doc: Mapping[str, Any]) -> Any:
        """``doc_to_text`` / ``doc_to_target``: a column's value, else the rendered template."""
        if callable(spec):
            return spec(doc)
        return doc[spec] if spec in self.columns else self._render(spec, doc)

    def _render(self, text: str, doc: Mapping[str, Any]) -> str:
        template = self._template(text)
        with template_budget():
            rendered: str = template.render(**doc)
        return rendered

    def description(self, spec: Any, doc: Mapping[str, Any]) -> str:
        """``Task.resolve_field``: a key of the document, else a template."""
        if not spec:
            return ""
        return str(doc[spec] if spec in doc else self._render(spec, doc))

    def target(self, spec: Any, doc: Mapping[str, Any]) -> Any:
        value = self.render(spec, doc)
        if isinstance(spec, str) and spec not in self.columns and len(value) >= 2 and value[0] == "[" and value[-1] == "]":
            try:
                return ast.literal_eval(value)  # lm-eval reads "[...]" as a list of acceptable answers
            except (SyntaxError, ValueError):
                return value
        return value
