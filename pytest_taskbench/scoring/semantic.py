"""Credit by meaning: cosine similarity of sentence embeddings, mapped to [0, 1].

The ``semantic_similarity`` scorer compares the output with the expected text;
field-credit scorers (``entity_extraction``, ``field_match``) take a
``semantic:`` parameter that gives a string field partial credit when its value
means the same as the expected one ("call with mom" for "call mom").

The embeddings come from the run (``generation/embeddings.py``): a local
checkpoint named in the suite's ``embeddings:`` (or ``--taskbench-embedding-model``,
the one named ``default``), loaded once, batched and cached on disk. A scorer
here only names the model; the run hands the factory its ``embeddings``
(``Embeddings`` below). Before scoring, the run asks each scorer for the texts
it will compare (``embedding_texts``) for every case about to be scored, and
embeds them in batches.

How a similarity becomes credit (``SemanticRule``):

- ``scale: threshold`` (default): full credit at ``threshold`` or above, none below;
- ``scale: linear``: none at ``floor`` or below, full at ``threshold`` or above,
  linear in between.

A field's credit is that value times ``credit`` (default 0.75: a field right in
meaning but not in wording earns most, not all, of its weight).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pytest_taskbench.scoring import params
from pytest_taskbench.scoring.general import expected_text
from pytest_taskbench.scoring.registry import scorer
from pytest_taskbench.scoring.score import Score, Scorer

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case

DEFAULT_MODEL = "default"
RULE_KEYS = ("model", "threshold", "scale", "floor", "credit")


class Embeddings(Protocol):
    """The run's embedding models, by name (``generation/embeddings.py``'s ``EmbeddingModels``)."""

    def names(self) -> Sequence[str]: ...

    def check(self, model: str) -> None:
        """Raise ValueError when the model cannot work (a missing checkpoint): cheap, before any case runs."""
        ...

    def similarity(self, model: str, first: str, second: str) -> float:
        """Cosine similarity of two texts' embeddings, in [-1, 1]; raises EmbeddingError when the model fails."""
        ...

    def prefetch(self, model: str, texts: Sequence[str]) -> None:
        """Embed ``texts`` now, in batches (a later ``similarity`` finds them in memory)."""
        ...


@dataclass(frozen=True)
class SemanticRule:
    """How a similarity becomes credit, and which model measures it."""

    model: str
    embeddings: Embeddings
    threshold: float = 0.8
    scale: str = "threshold"
    floor: float = 0.5
    credit: float = 1.0

    def similarity(self, first: str, second: str) -> float:
        return self.embeddings.similarity(self.model, first, second)

    def value(self, similarity: float) -> float:
        """The share of full credit a similarity earns."""
        if self.scale == "linear":
            if similarity >= self.threshold:
                return 1.0
            return max(0.0, min(1.0, (similarity - self.floor) / (self.threshold - self.floor)))
        return 1.0 if similarity >= self.threshold else 0.0


def _model(name: str, value: Any, embeddings: Embeddings | None) -> tuple[str, Embeddings]:
    if embeddings is None:
        raise ValueError(f"{name} needs the run's embedding models: declare one under embeddings: in taskbench.yaml or pass --taskbench-embedding-model")
    known = list(embeddings.names())
    model = value if value is not None else (known[0] if len(known) == 1 else DEFAULT_MODEL)
    if not isinstance(model, str) or model not in known:
        declared = f"the suite declares {', '.join(known)}" if known else "none is declared"
        raise ValueError(
            f"{name}: no embedding model named {model!r}: {declared}; add it under embeddings: in taskbench.yaml, "
            "or pass --taskbench-embedding-model=PATH (the model named default)"
        )
    embeddings.check(model)
    return model, embeddings


def semantic_rule(name: str, value: Any, embeddings: Embeddings | None, *, credit: float = 1.0) -> SemanticRule:
    """A ``{model, threshold, scale, floor, credit}`` mapping (or ``true`` for every default). Raises ValueError."""
    if value is True:
        value = {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be true or a mapping with {', '.join(RULE_KEYS)}, got {value!r}")
    unknown = set(value) - set(RULE_KEYS)
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(RULE_KEYS)}")
    model, source = _model(name, value.get("model"), embeddings)
    threshold = params.unit(f"{name}.threshold", value.get("threshold", 0.8))
    floor = params.unit(f"{name}.floor", value.get("floor", 0.5))
    scale = params.choice(f"{name}.scale", value.get("scale", "threshold"), ("threshold", "linear"))
    if scale == "linear" and floor >= threshold:
        raise ValueError(f"{name}: floor ({floor:g}) must be below threshold ({threshold:g}) for a linear scale")
    return SemanticRule(model, source, threshold, scale, floor, params.unit(f"{name}.credit", value.get("credit", credit)))


FIELD_CREDIT = 0.75


def semantic_fields(value: Any, embeddings: Embeddings | None) -> dict[str, SemanticRule]:
    """A field-credit scorer's ``semantic:``: a field name or list (every default), or field -> rule. Raises ValueError."""
    if value is None:
        return {}
    if isinstance(value, (str, list, tuple)):
        return {name: semantic_rule(f"semantic.{name}", True, embeddings, credit=FIELD_CREDIT) for name in params.names("semantic", value)}
    if not isinstance(value, Mapping):
        raise ValueError(f"semantic must name fields (title, or [title, assignee]) or map each to {{model, threshold, scale, floor, credit}}, got {value!r}")
    return {str(field): semantic_rule(f"semantic.{field}", rule, embeddings, credit=FIELD_CREDIT) for field, rule in value.items()}


TextsFunction = Callable[[str, "Case"], Mapping[str, Sequence[str]]]


@dataclass(frozen=True)
class EmbeddingScorer:
    """A scorer that compares texts by meaning, and can say ahead which texts (so the run embeds them in batches)."""

    score: Scorer
    texts: TextsFunction

    def __call__(self, output: str, case: Case) -> Score:
        return self.score(output, case)

    def embedding_texts(self, output: str, case: Case) -> Mapping[str, Sequence[str]]:
        """Model name -> the texts scoring this output will embed."""
        return self.texts(output, case)


@scorer("semantic_similarity")
def semantic_similarity(
    *,
    model: Any = None,
    threshold: Any = 0.8,
    scale: Any = "threshold",
    floor: Any = 0.5,
    embeddings: Embeddings | None = None,
) -> Scorer:
    """Cosine similarity between the output and the expected text, mapped to [0, 1].

    Args:
        model: the embedding model's name in the suite's ``embeddings:`` (default: ``default``, or the only one).
        threshold: the similarity that earns full credit.
        scale: ``threshold`` (full credit at ``threshold`` or above, else 0) or ``linear``
            (0 at ``floor``, rising to 1 at ``threshold``).
        floor: for ``linear``, the similarity at and below which the score is 0.
        embeddings: the run's embedding models (filled in by the run).
    """
    rule = semantic_rule("semantic_similarity", {"model": model, "threshold": threshold, "scale": scale, "floor": floor}, embeddings)

    def score(output: str, case: Case) -> Score:
        expected = expected_text(case.expected)
        similarity = rule.similarity(output.strip(), expected.strip())
        value = rule.value(similarity)
        cut = f"full credit at {rule.threshold:g}" if rule.scale == "threshold" else f"linear from {rule.floor:g} to {rule.threshold:g}"
        details = {"similarity": round(similarity, 6), "model": rule.model, "threshold": rule.threshold, "scale": rule.scale}
        return Score(value, f"similarity {similarity:.3f} to the expected text ({cut})", details)

    return EmbeddingScorer(score, lambda output, case: {rule.model: [output.strip(), expected_text(case.expected).strip()]})
