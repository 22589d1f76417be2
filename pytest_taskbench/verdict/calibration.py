"""How far a model judge agrees with people, and whether its verdicts may gate the run.

Every judge-scored case's details carry the judge's verdict and, when the case
has one, the human label on the same scale (``scoring/judge.py``). From the
cases a judge scored with a label, per judge and scale:

- accuracy: the share of labelled cases where the verdict is the label;
- Cohen's kappa: agreement beyond what two raters with these label frequencies
  reach by chance, ``1 - sum(d * observed) / sum(d * expected)`` over the
  human-by-judge table, with disagreement weights ``d`` of 1 off the diagonal;
  on a 1-N scale quadratic weights ``((i - j) / (N - 1))^2`` (weighted kappa), so
  a near miss counts as partial agreement. A case the judge gave no readable
  verdict on is a column of its own, in full disagreement with every label: a
  judge that cannot answer does not agree;
- a percentile bootstrap interval of kappa at ``1 - alpha`` (cases resampled,
  seeded), and the confusion table;
- for a pairwise judge: how often the verdict flips when the two answers swap
  places (position bias), and how often the longer answer wins a decided pair
  (verbosity bias).

With ``judge_min_agreement`` set, a judge is *trusted* when the lower bound of
its kappa interval reaches it. The categories an untrusted judge scored are
reported but cannot fail the run: the gates read the other categories only.
No labelled case, or a kappa that is undefined (every label and verdict the
same), leaves a judge untrusted: its agreement is unknown.

Domain code: no pytest import.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pytest_taskbench import defaults
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.stats import Interval

NO_VERDICT = "no verdict"
RESAMPLES = 2000


def scale_labels(scale: str) -> tuple[str, ...]:
    """The labels of a scale as the judge scorer names it: pass_fail, 1-N or pairwise, worst first."""
    if scale == "pass_fail":
        return ("fail", "pass")
    if scale == "pairwise":
        return ("worse", "tie", "better")
    match = re.fullmatch(r"1-(\d+)", scale)
    return tuple(str(point) for point in range(1, int(match.group(1)) + 1)) if match else ()


@dataclass(frozen=True)
class Agreement:
    """One judge's agreement with the human labels, on one scale."""

    judge: str
    scale: str
    categories: tuple[str, ...]  # the categories it scored
    judged: int  # cases it scored (or failed to)
    labelled: int  # of those, cases with a human label
    agreed: int  # labelled cases where its verdict is the label
    no_verdict: int  # labelled cases it gave no readable verdict on
    kappa: float | None
    kappa_ci: Interval | None
    weighted: bool  # quadratic-weighted kappa (a 1-N scale)
    confusion: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (human label, verdict) -> cases
    pairs: int = 0  # pairwise: cases asked in both orders
    flips: int = 0  # pairwise: cases whose verdict changed with the order
    decided: int = 0  # pairwise: cases with one winner in both orders
    longer_preferred: int = 0  # pairwise: decided cases the longer answer won
    minimum: float | None = None  # the kappa its interval's lower bound must reach (judge_min_agreement)

    @property
    def labels(self) -> tuple[str, ...]:
        return scale_labels(self.scale)

    @property
    def columns(self) -> tuple[str, ...]:
        """The confusion table's columns: the labels, and "no verdict" when the judge failed on a labelled case."""
        return self.labels + ((NO_VERDICT,) if self.no_verdict else ())

    @property
    def accuracy(self) -> float | None:
        return self.agreed / self.labelled if self.labelled else None

    @property
    def flip_rate(self) -> float | None:
        return self.flips / self.pairs if self.pairs else None

    @property
    def trusted(self) -> bool:
        """Whether its verdicts may gate the run: no minimum required, or the interval's lower bound reaches it."""
        return self.minimum is None or (self.kappa_ci is not None and self.kappa_ci.low >= self.minimum)

    @property
    def trust(self) -> str:
        """Why it is trusted or not, in one clause."""
        kind = "weighted kappa" if self.weighted else "kappa"
        if self.minimum is None:
            return "no minimum agreement required (judge_min_agreement)"
        if not self.labelled:
            return f"no case it scored has a human label, so its agreement is unknown (judge_min_agreement {self.minimum:g})"
        if self.kappa is None or self.kappa_ci is None:
            return f"{kind} is undefined on {self.labelled} labelled cases (every label and verdict the same), so its agreement is unknown"
        relation = ">=" if self.trusted else "<"
        return f"lower bound of {kind}'s {100 * self.kappa_ci.level:g}% interval {self.kappa_ci.low:.3f} {relation} {self.minimum:g} required"

    def count(self, human: str, verdict: str) -> int:
        return self.confusion.get((human, verdict), 0)


def _disagreement(labels: int, columns: int, ordinal: bool) -> np.ndarray:
    """Weights of disagreement between a human label (row) and a verdict (column); the no-verdict column disagrees fully."""
    weights = np.ones((columns, columns))
    for i in range(labels):
        for j in range(labels):
            weights[i, j] = ((i - j) / (labels - 1)) ** 2 if ordinal else float(i != j)
    return weights


def _kappas(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Kappa of each table in ``counts`` (shape ``(..., K, K)``); NaN where it is undefined."""
    total = counts.sum(axis=(-2, -1), keepdims=True)
    observed = counts / total
    expected = observed.sum(axis=-1)[..., :, None] * observed.sum(axis=-2)[..., None, :]
    chance = (weights * expected).sum(axis=(-2, -1))
    seen = (weights * observed).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(chance > 1e-12, 1.0 - seen / np.where(chance > 1e-12, chance, 1.0), np.nan)


def cohen_kappa(
    pairs: Sequence[tuple[int, int]], labels: int, columns: int, *, ordinal: bool, alpha: float = defaults.ALPHA, seed: int = defaults.SEED, label: str = ""
) -> tuple[float | None, Interval | None]:
    """Kappa of (human, verdict) index pairs and its percentile bootstrap interval (None where undefined or too few cases)."""
    if not pairs:
        return None, None
    weights = _disagreement(labels, columns, ordinal)
    codes = np.array([h * columns + j for h, j in sorted(pairs)], dtype=np.int64)  # sorted: the case order never matters
    cells = columns * columns
    table = np.bincount(codes, minlength=cells).reshape(columns, columns).astype(float)
    point = float(_kappas(table, weights))
    if np.isnan(point):
        return None, None
    if len(codes) < 2:
        return point, None
    rng = np.random.default_rng([seed, zlib.crc32(f"kappa {label}".encode())])
    picks = codes[rng.integers(0, len(codes), size=(RESAMPLES, len(codes)))]
    flat = (picks + (np.arange(RESAMPLES) * cells)[:, None]).ravel()
    tables = np.bincount(flat, minlength=RESAMPLES * cells).reshape(RESAMPLES, columns, columns).astype(float)
    resampled = _kappas(tables, weights)
    resampled = resampled[~np.isnan(resampled)]
    if len(resampled) < RESAMPLES // 2:
        return point, None
    low, high = np.quantile(resampled, [alpha / 2, 1 - alpha / 2])
    return point, Interval(min(float(low), point), max(float(high), point), 1 - alpha, "percentile bootstrap over cases")


def agreements(
    results: Sequence[CaseResult], *, alpha: float = defaults.ALPHA, seed: int = defaults.SEED, minimum: float | None = None
) -> tuple[Agreement, ...]:
    """One ``Agreement`` per judge and scale among ``results`` (in the order first met)."""
    groups: dict[tuple[str, str], list[tuple[CaseResult, Mapping[str, Any]]]] = {}
    for result in results:
        judged = result.details.get("judge") if isinstance(result.details, Mapping) else None
        if isinstance(judged, Mapping) and isinstance(judged.get("name"), str) and isinstance(judged.get("scale"), str):
            groups.setdefault((judged["name"], judged["scale"]), []).append((result, judged))
    return tuple(_agreement(name, scale, members, alpha, seed, minimum) for (name, scale), members in groups.items() if scale_labels(scale))


def _agreement(name: str, scale: str, members: Sequence[tuple[CaseResult, Mapping[str, Any]]], alpha: float, seed: int, minimum: float | None) -> Agreement:
    labels = scale_labels(scale)
    confusion: dict[tuple[str, str], int] = {}
    for _, judged in members:
        human, verdict = judged.get("human"), judged.get("verdict")
        if human in labels:
            key = (str(human), str(verdict) if verdict in labels else NO_VERDICT)
            confusion[key] = confusion.get(key, 0) + 1
    no_verdict = sum(n for (_, verdict), n in confusion.items() if verdict == NO_VERDICT)
    columns = labels + ((NO_VERDICT,) if no_verdict else ())
    pairs = [(labels.index(h), columns.index(v)) for (h, v), n in confusion.items() for _ in range(n)]
    ordinal = scale not in ("pass_fail", "pairwise")
    kappa, interval = cohen_kappa(pairs, len(labels), len(columns), ordinal=ordinal, alpha=alpha, seed=seed, label=f"{name} {scale}")
    pairwise = [judged for _, judged in members if isinstance(judged.get("orders"), list)]
    decided = [j for j in pairwise if not j.get("flipped") and j.get("verdict") in ("better", "worse")]
    categories = tuple(dict.fromkeys(result.category for result, _ in members))
    return Agreement(
        judge=name,
        scale=scale,
        categories=categories,
        judged=len(members),
        labelled=sum(confusion.values()),
        agreed=sum(n for (h, v), n in confusion.items() if h == v),
        no_verdict=no_verdict,
        kappa=kappa,
        kappa_ci=interval,
        weighted=ordinal,
        confusion=confusion,
        pairs=len(pairwise),
        flips=sum(bool(j.get("flipped")) for j in pairwise),
        decided=len(decided),
        longer_preferred=sum((j.get("verdict") == "better") == bool(j.get("output_longer")) for j in decided),
        minimum=minimum,
    )


def untrusted_categories(found: Sequence[Agreement]) -> tuple[str, ...]:
    """The categories an untrusted judge scored (their results cannot fail the run)."""
    return tuple(dict.fromkeys(category for agreement in found if not agreement.trusted for category in agreement.categories))


def with_minimum(found: Sequence[Agreement], minimum: float | None) -> tuple[Agreement, ...]:
    return tuple(replace(agreement, minimum=minimum) for agreement in found)
