"""Judges and embeddings in every report: the agreement with human labels, the counters, each case's verdict.

Rendering only: the figures come from ``verdict/calibration.py`` (a
``SuiteReport``'s ``calibration``) and from the cases' details.

Domain code: no pytest import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_taskbench.formatting import percent
from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.calibration import Agreement


def _kappa(a: Agreement) -> str:
    kind = "weighted kappa" if a.weighted else "kappa"
    if a.kappa is None:
        return f"{kind} undefined"
    interval = f" ({100 * a.kappa_ci.level:g}% CI {a.kappa_ci.low:.3f} to {a.kappa_ci.high:.3f})" if a.kappa_ci is not None else " (no interval)"
    return f"{kind} {a.kappa:.3f}{interval}"


def agreement_line(a: Agreement) -> str:
    """One line: which judge, how many labelled cases, accuracy, kappa and its interval, trusted or not."""
    accuracy = f"accuracy {percent(a.accuracy, 1)} ({a.agreed}/{a.labelled})" if a.accuracy is not None else "no labelled case"
    trusted = "trusted" if a.trusted else "NOT trusted"
    return (
        f"judge {safe_text(a.judge)} ({a.scale}) on {', '.join(safe_text(c) for c in a.categories)}: {a.labelled} of {a.judged} judged cases labelled; "
        f"{accuracy}; {_kappa(a)}; {trusted}: {safe_text(a.trust)}"
    )


def bias_line(a: Agreement) -> str:
    if not a.pairs:
        return ""
    longer = f"; the longer answer wins {a.longer_preferred} of {a.decided} decided pairs" if a.decided else ""
    return f"position bias: the verdict flips when the answers swap places in {a.flips} of {a.pairs} cases ({percent(a.flip_rate or 0.0, 1)}){longer}"


def confusion_rows(a: Agreement) -> list[list[str]]:
    """The confusion table as text cells: a header row, then a row per human label."""
    rows = [["human \\ judge", *a.columns]]
    rows += [[label, *(str(a.count(label, verdict)) for verdict in a.columns)] for label in a.labels]
    return rows


def calibration_lines(calibration: Sequence[Agreement]) -> list[str]:
    """The terminal's block: a line per judge, its confusion table when it has labels, its position bias."""
    lines: list[str] = []
    for a in calibration:
        lines.append(f"  {agreement_line(a)}")
        if a.labelled:
            rows = confusion_rows(a)
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            lines += ["    " + "  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths))) for row in rows]
        if bias_line(a):
            lines.append(f"    {bias_line(a)}")
    return ["judge calibration (agreement with the human labels):", *lines] if lines else []


def helpers_line(counters: Mapping[str, Any]) -> str:
    """Judge and embedding work of the run: what was asked or embedded, and what came from the cache."""
    parts = []
    if counters.get("judge_answers"):
        loads, calls = int(counters.get("judge_model_loads", 0)), int(counters.get("judge_model_calls", 0))
        loaded = f", judge loaded {loads} time{'s' if loads != 1 else ''}" if loads else ""
        parts.append(
            f"judges: {counters['judge_answers']} answers ({counters.get('judge_generated', 0)} asked, {counters.get('judge_cached', 0)} from cache; "
            f"{calls} model call{'s' if calls != 1 else ''}{loaded})"
        )
    embedded, cached = int(counters.get("embedded", 0)), int(counters.get("embeddings_cached", 0))
    if embedded or cached:
        calls = int(counters.get("embedding_calls", 0))
        parts.append(f"embeddings: {embedded + cached} texts ({embedded} embedded in {calls} batch{'es' if calls != 1 else ''}, {cached} from cache)")
    return "; ".join(parts)


def calibration_dict(a: Agreement) -> dict[str, Any]:
    return {
        "judge": a.judge,
        "scale": a.scale,
        "categories": list(a.categories),
        "judged": a.judged,
        "labelled": a.labelled,
        "agreed": a.agreed,
        "accuracy": a.accuracy,
        "kappa": a.kappa,
        "weighted_kappa": a.weighted,
        "kappa_ci": None if a.kappa_ci is None else {"low": a.kappa_ci.low, "high": a.kappa_ci.high, "level": a.kappa_ci.level, "method": a.kappa_ci.method},
        "no_verdict": a.no_verdict,
        "confusion": {"human": list(a.labels), "judge": list(a.columns), "counts": [[a.count(h, v) for v in a.columns] for h in a.labels]},
        "pairwise": {"pairs": a.pairs, "flips": a.flips, "flip_rate": a.flip_rate, "decided": a.decided, "longer_preferred": a.longer_preferred}
        if a.pairs
        else None,
        "minimum": a.minimum,
        "trusted": a.trusted,
        "trust": a.trust,
    }


def case_meaning(result: CaseResult) -> list[str]:
    """What a judge or an embedding model said about one case, as short lines: the verdict and its reasoning, similarities."""
    details = result.details if isinstance(result.details, Mapping) else {}
    lines = []
    judged = details.get("judge")
    if isinstance(judged, Mapping):
        verdict = judged.get("verdict") or "no verdict"
        human = f" (human: {judged['human']})" if judged.get("human") is not None else ""
        flipped = "; flipped with the order" if judged.get("flipped") else ""
        lines.append(f"judge {judged.get('name')}: {verdict}{human}{flipped}")
        if judged.get("criteria"):
            lines.append(", ".join(f"{name} {value}" for name, value in judged["criteria"].items()))
        if judged.get("reasoning"):
            lines.append(str(judged["reasoning"]))
        if details.get("judge_error"):
            lines.append(str(details["judge_error"]))
    if isinstance(details.get("similarity"), (int, float)):
        lines.append(f"similarity {details['similarity']:.3f}")
    fields = details.get("fields")
    if isinstance(fields, Mapping):
        lines += [f"{name} similarity {field['similarity']:.3f}" for name, field in fields.items() if isinstance(field, Mapping) and "similarity" in field]
    return lines
