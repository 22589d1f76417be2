"""A conversation case in the HTML report: its turns one by one, the state before and after, and the diff against the expected state.

Every text here (user messages, model answers, observations, states) is untrusted and goes through ``esc``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pytest_taskbench.reports.charts import esc
from pytest_taskbench.results import CaseResult

TEXT_LIMIT = 2000


def _json(value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
    return esc(shown if len(shown) <= TEXT_LIMIT else shown[:TEXT_LIMIT] + f"\n… ({len(shown) - TEXT_LIMIT} more characters)")


def _turn(number: int, turn: Mapping[str, Any], first_wrong: Any) -> str:
    score = turn.get("score")
    scored = f' <span class="badge {"pass" if score is not None and score >= 0.8 else "fail"}">{score:.2f}</span>' if isinstance(score, (int, float)) else ""
    wrong = ' data-first-wrong="true"' if number == first_wrong else ""
    answer = (
        f'<div class="txt" data-answer>{esc(turn.get("output"))}</div>'
        if turn.get("output") is not None
        else f'<div class="muted">model error: {esc(turn.get("error"))}</div>'
    )
    observations = "".join(
        f'<div class="txt" data-observation data-ok="{str(bool(o.get("ok"))).lower()}">{_json(o.get("result") or {"ok": o.get("ok"), "error": o.get("error")})}</div>'
        for o in turn.get("observations") or ()
        if isinstance(o, Mapping)
    )
    reason = f'<div class="muted">{esc(turn.get("reason"))}</div>' if turn.get("reason") else ""
    return (
        f'<li data-turn="{number}"{wrong}><div><b>user</b>: <span data-user>{esc(turn.get("user"))}</span></div>'
        f"<div><b>model</b>{scored}: {answer}</div>{reason}<div><b>environment</b>: {observations or '<span class=muted>nothing executed</span>'}</div></li>"
    )


def _diff(conversation: Mapping[str, Any]) -> str:
    """The records that differ from the expected state, and the unintended changes."""
    rows = []
    for record in conversation.get("state_records") or ():
        if not isinstance(record, Mapping) or record.get("status") == "match":
            continue
        status = str(record.get("status", ""))
        if status == "partial":
            fields = record.get("fields") or {}
            wrong = [
                f"{name}: expected {json.dumps(f.get('expected'), ensure_ascii=False)}, got {json.dumps(f.get('got'), ensure_ascii=False)}"
                for name, f in fields.items()
                if isinstance(f, Mapping) and f.get("status") != "match"
            ]
            detail = "; ".join(wrong)
        else:
            detail = json.dumps(record.get("expected", record.get("got")), ensure_ascii=False)
        rows.append(f'<li data-diff="{esc(status)}"><code>{esc(record.get("key"))}</code> {esc(status.replace("_", " "))}: {esc(detail)}</li>')
    for effect in conversation.get("side_effects") or ():
        if isinstance(effect, Mapping):
            badge = '<span class="badge fail">critical</span> ' if effect.get("critical") else ""
            changed = f" ({', '.join(map(str, effect.get('fields') or ()))})" if effect.get("fields") else ""
            rows.append(
                f'<li data-side-effect="{esc(effect.get("kind"))}">{badge}{esc(effect.get("kind"))} {esc(effect.get("collection"))} record <code>{esc(effect.get("record"))}</code>{esc(changed)}</li>'
            )
    return (
        f'<ul class="tight" data-state-diff>{"".join(rows)}</ul>' if rows else '<div class="muted" data-state-diff>the state matches the expected state</div>'
    )


def conversation_block(r: CaseResult) -> str:
    """A conversation case's turns, states and diff, folded (open when the case failed)."""
    conversation = r.conversation
    if not conversation:
        return ""
    first_wrong = conversation.get("first_wrong_turn")
    turns = "".join(_turn(number, turn, first_wrong) for number, turn in enumerate(conversation.get("turns") or (), start=1) if isinstance(turn, Mapping))
    states = "".join(
        f'<div><b>{label}</b><pre class="txt" data-state="{key}">{_json(conversation.get(key))}</pre></div>'
        for key, label in (("state_before", "state before"), ("state_after", "state after"), ("expected_state", "expected state"))
        if conversation.get(key) is not None
    )
    wrong = f", first wrong at turn {first_wrong}" if first_wrong else ""
    return (
        f'<details class="conversation" data-conversation{"" if r.passed else " open"}><summary>conversation: {len(conversation.get("turns") or ())} turns{esc(wrong)}</summary>'
        f'<ol class="tight turns">{turns}</ol><div class="states">{states}</div><div><b>diff against the expected state</b>{_diff(conversation)}</div></details>'
    )
