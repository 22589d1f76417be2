"""Which shard runs a case: ``--taskbench-shard=I/N`` splits the collected cases into N disjoint parts.

Within each *stratum* (a suite's category and difficulty), the cases are ordered by a
hash of their identity (the case file's path below the suite root and the case id)
and cut into N contiguous blocks whose sizes differ by at most one; the blocks are
dealt to the shards starting at an offset taken from a hash of the stratum, so the
one-case remainders of the strata spread over the shards instead of all landing on
the first. So:

- every shard holds each category and difficulty in proportion (to within one case
  per stratum), and the shards are disjoint and complete for any N;
- a case's shard follows from its identity and the identities beside it, never from
  its position in a file or the order of collection;
- adding or removing a case moves at most N - 1 other cases of its stratum to another
  shard (the block boundaries shift by at most one place each), and no case of any
  other stratum.

Pure hashing (``hash(id) mod N``) would move no other case, but leaves the strata in
proportion only on average: with 10 hard cases of a category and 3 shards, one shard
has none 2 % of the time. See docs/explanation/sharding.md.

Domain code: no pytest import.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pytest_taskbench.guards import validation

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, name: str, text: str) -> Shard:
        """``I/N`` with 1 <= I <= N; raises ``validation.Invalid`` naming ``name``."""
        match = _SHARD.fullmatch(text)
        if match is None:
            raise validation.Invalid(f"{name} must be I/N (this job's shard I of N, e.g. 2/4), got {text!r}")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or not 1 <= index <= count:
            raise validation.Invalid(f"{name} must be I/N with 1 <= I <= N, got {text!r}")
        return cls(index, count)


@dataclass(frozen=True)
class ShardKey:
    """What places one item: its stratum (suite, category, difficulty) and its identity within the suite."""

    stratum: tuple[Hashable, ...]
    identity: str


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def assign(keys: Sequence[ShardKey], count: int) -> list[int]:
    """The shard (1-based) of each key, in the order given.

    Keys that share a stratum and an identity (which a well-formed suite never has) are
    ordered among themselves by their position, so the result is still complete.
    """
    strata: dict[tuple[Hashable, ...], list[int]] = {}
    for position, key in enumerate(keys):
        strata.setdefault(key.stratum, []).append(position)
    shards = [0] * len(keys)
    for stratum, positions in strata.items():
        ordered = sorted(positions, key=lambda p: (_hash(keys[p].identity), keys[p].identity, p))
        size = len(ordered)
        offset = _hash(repr(stratum)) % count
        for rank, position in enumerate(ordered):
            block = rank * count // size
            shards[position] = (block + offset) % count + 1
    return shards
