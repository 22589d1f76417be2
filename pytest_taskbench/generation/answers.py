"""Reading what an OpenAI-compatible server answers (``http.py``): the choices' texts, error bodies, the API key redacted.

Every message quoting the server is redacted (the API key replaced by ``***``) before
it is cut to length, so no part of the key survives, and shown with ``safe_text``.

Domain code: no pytest import.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from pytest_taskbench.generation.transport import RequestFailed
from pytest_taskbench.guards.display import safe_text

REDACTED = "***"


def error_message(body: bytes, secret: str | None = None) -> str:
    """The server's own words from an error body: OpenAI's ``error`` or FastAPI's ``detail`` shape.

    ``secret`` (the API key) is replaced by ``***`` before the text is cut to length, so no part of it
    survives; control characters and lone surrogates are escaped. Never raises.
    """
    raw = body.decode("utf-8", errors="replace")
    words = raw
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        pass
    else:
        try:
            words = _error_words(data)
        except Exception:  # noqa: BLE001 - e.g. RecursionError from str() of a deep structure: show the body itself
            words = raw
    return safe_text(redact(words, secret)).strip()[:300] or "(empty body)"


def _error_words(data: Any) -> str:
    if isinstance(data, dict):
        error = data.get("error", data.get("detail"))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)
    return json.dumps(data)


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (as is, JSON-, repr- or URL-escaped) replaced by ``***``."""
    if not secret:
        return text
    forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1], urllib.parse.quote(secret), urllib.parse.quote(secret, safe="")}
    for form in sorted(forms, key=len, reverse=True):
        if form:
            text = text.replace(form, REDACTED)
    return text


def excerpt(raw: bytes | bytearray, secret: str | None, length: int = 200) -> str:
    """The start of a body for a message, quoted: redacted before it is cut, so no part of the key is left."""
    # enough bytes for `length` characters plus a key (or an escaped form of it) that starts among them
    text = redact(bytes(raw[: 4 * length + 8 * len(secret or "")]).decode("utf-8", errors="replace"), secret)
    return repr(text[:length])


def _json_excerpt(data: Any, secret: str | None, length: int = 200) -> str:
    """A JSON value written back for a message, redacted before it is cut."""
    try:
        text = json.dumps(data)
    except Exception:  # noqa: BLE001 - e.g. too deeply nested to write back: say so instead
        return "(not shown: too deeply nested)"
    return redact(text, secret)[:length]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def completion_texts(data: dict[str, Any], endpoint: str, secret: str | None = None) -> list[str]:
    """Every choice's text, in the order of their ``index``; RequestFailed when one does not have the expected shape."""
    text = _completion_text(data, endpoint, secret)
    choices = data["choices"]
    if len(choices) == 1:
        return [text]
    order = sorted(
        range(len(choices)), key=lambda i: choices[i].get("index", i) if isinstance(choices[i], dict) and isinstance(choices[i].get("index"), int) else i
    )
    return [_completion_text({"choices": [choices[i]]}, endpoint, secret) for i in order]


def _completion_text(data: dict[str, Any], endpoint: str, secret: str | None = None) -> str:
    """The answer's (first choice's) text; RequestFailed naming what is wrong when the answer does not have the expected shape."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        if "error" in data or "detail" in data:
            try:
                words = _error_words(data)
            except Exception:  # noqa: BLE001 - e.g. too deeply nested to write out
                words = "(an error the server gave too deeply nested to show)"
            raise RequestFailed(redact(words, secret)[:300])
        raise RequestFailed(f"the response has no choices: {_json_excerpt(data, secret)}")
    choice = choices[0]
    if endpoint != "chat":
        return _text(choice.get("text"), "choices[0].text", secret)
    if "message" not in choice:
        raise RequestFailed(f"the response's choices[0] has no message: {_json_excerpt(choice, secret)}")
    message = choice["message"]
    if not isinstance(message, dict):
        raise RequestFailed(f"the response's choices[0].message is {_kind(message)}, not an object: {_json_excerpt(message, secret)}")
    content = message.get("content")
    if isinstance(content, list):  # OpenAI's content parts: [{"type": "text", "text": "..."}, ...]
        texts = []
        for index, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise RequestFailed(
                    f'the response\'s choices[0].message.content[{index}] is not a {{"type": "text", "text": ...}} part: {_json_excerpt(part, secret)}'
                )
            texts.append(part["text"])
        return "".join(texts)
    return _text(content, "choices[0].message.content", secret)


def _text(value: Any, where: str, secret: str | None) -> str:
    if value is None:
        return ""  # e.g. content null beside tool calls: the model said nothing
    if not isinstance(value, str):
        raise RequestFailed(f"the response's {where} is {_kind(value)}, not text: {_json_excerpt(value, secret)}")
    return value
