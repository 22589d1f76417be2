"""--taskbench-shard=I/N: disjoint, complete, stratified and stable parts of the selected cases."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_taskbench.guards.validation import Invalid
from pytest_taskbench.shards import Shard, ShardKey, assign
from tests.helpers.suites import jsonl

MODEL = "--taskbench-model=model:respond"

strata = st.tuples(st.sampled_from(["s.yaml", "t.yaml"]), st.sampled_from(["a", "b", "c"]), st.sampled_from(["simple", "hard"]))
key_lists = st.lists(st.builds(ShardKey, strata, st.text(min_size=1, max_size=12)), max_size=120, unique_by=lambda k: (k.stratum, k.identity))


@pytest.fixture(autouse=True)
def _not_on_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs must not write to the step summary of a CI job that runs the tests."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


@given(key_lists, st.integers(1, 7))
def test_every_stratum_is_dealt_evenly_over_the_shards(keys: list[ShardKey], count: int) -> None:
    shards = assign(keys, count)
    assert all(1 <= shard <= count for shard in shards) and len(shards) == len(keys)
    for stratum in {k.stratum for k in keys}:
        per_shard = Counter(shard for key, shard in zip(keys, shards) if key.stratum == stratum)
        sizes = [per_shard.get(index, 0) for index in range(1, count + 1)]
        assert max(sizes) - min(sizes) <= 1, (stratum, sizes)


@given(key_lists, st.integers(1, 5), st.randoms(use_true_random=False))
def test_a_cases_shard_does_not_depend_on_the_order_of_collection(keys: list[ShardKey], count: int, rng: random.Random) -> None:
    shuffled = list(keys)
    rng.shuffle(shuffled)
    assert dict(zip(shuffled, assign(shuffled, count))) == dict(zip(keys, assign(keys, count)))


@given(key_lists, st.builds(ShardKey, strata, st.text(min_size=13, max_size=20)), st.integers(1, 6))
def test_adding_a_case_moves_at_most_n_minus_one_others_and_none_outside_its_stratum(keys: list[ShardKey], new: ShardKey, count: int) -> None:
    before = dict(zip(keys, assign(keys, count)))
    after = dict(zip([*keys, new], assign([*keys, new], count)))
    moved = [key for key in keys if before[key] != after[key]]
    assert all(key.stratum == new.stratum for key in moved)
    assert len(moved) <= count - 1


def test_shards_keep_categories_and_difficulties_in_proportion_on_the_shipped_suite() -> None:
    keys = [
        ShardKey(("cases/taskbench.yaml", category, difficulty), f"{category}.jsonl::{category}_{i}")
        for category in "abcde"
        for difficulty, n in (("simple", 40), ("moderate", 30), ("complex", 20), ("adversarial", 10))
        for i in range(n)
    ]
    shards = assign(keys, 3)
    sizes = Counter(shards)
    assert max(sizes.values()) - min(sizes.values()) <= 5  # 20 strata with a remainder each, spread by the stratum offset
    for shard in (1, 2, 3):
        categories = Counter(k.stratum[1] for k, s in zip(keys, shards) if s == shard)
        assert all(abs(n - 100 / 3) < 3 for n in categories.values()), categories  # within one case of each of its 4 strata; hashing alone: sd 4.7


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "1", "a/b", "1/3/4", ""])
def test_a_bad_shard_is_refused_with_its_form(text: str) -> None:
    with pytest.raises(Invalid, match=r"--taskbench-shard must be I/N"):
        Shard.parse("--taskbench-shard", text)


def test_shard_parses_and_prints() -> None:
    assert Shard.parse("x", " 2 / 5 ") == Shard(2, 5) and str(Shard(2, 5)) == "2/5"


# the plugin ------------------------------------------------------------------------------------


@pytest.fixture
def graded_suite(write_suite) -> Path:  # type: ignore[no-untyped-def]
    """18 cases: two categories x three difficulties x three cases."""
    rows = {
        category: [
            {"id": f"{category[0]}{d}{i}", "input": f"{category}{i}", "expected": f"{category}{i}", "difficulty": difficulty}
            for d, difficulty in enumerate(("simple", "moderate", "complex"))
            for i in range(3)
        ]
        for category in ("greet", "shout")
    }
    return write_suite(files={"greet.jsonl": jsonl(rows["greet"]), "shout.jsonl": jsonl(rows["shout"], defaults={"category": "shout"})})  # type: ignore[no-any-return]


def _collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("cases", "--co", "-q", *args)
    assert result.ret == 0, result.stdout.str()
    return [line for line in result.outlines if "::" in line]


def test_the_shards_are_disjoint_complete_and_each_holds_every_category_and_difficulty(pytester: pytest.Pytester, graded_suite: Path) -> None:
    everything = _collected(pytester)
    parts = [_collected(pytester, f"--taskbench-shard={i}/3") for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(everything) and len(everything) == 18
    for part in parts:
        assert len(part) == 6
        assert {node.split("::")[1][:2] for node in part} == {"g0", "g1", "g2", "s0", "s1", "s2"}  # category letter + difficulty index


def test_the_other_shards_cases_are_reported_as_deselected(pytester: pytest.Pytester, graded_suite: Path) -> None:
    result = pytester.runpytest("cases", MODEL, "--taskbench-shard=2/3")
    result.stdout.fnmatch_lines(["*6 passed, 12 deselected*"])
    result.stdout.fnmatch_lines(["*taskbench: shard 2/3*", "demo (cases/taskbench.yaml): 6 of 18 selected cases ran in shard 2/3, 6 passed"])


def test_with_k_the_shards_split_what_k_selected(pytester: pytest.Pytester, graded_suite: Path) -> None:
    selected = _collected(pytester, "-k", "shout")
    parts = [_collected(pytester, "-k", "shout", f"--taskbench-shard={i}/2") for i in (1, 2)]
    assert sorted(parts[0] + parts[1]) == sorted(selected) and not set(parts[0]) & set(parts[1])
    assert {len(p) for p in parts} == {4, 5}


def test_a_shard_runs_no_verdict_and_an_empty_shard_is_not_an_error(pytester: pytest.Pytester, write_suite) -> None:  # type: ignore[no-untyped-def]
    write_suite(files={"greet.jsonl": jsonl([{"id": "g1", "input": "a", "expected": "b", "difficulty": "simple"}])})
    statuses = [pytester.runpytest("cases", MODEL, f"--taskbench-shard={i}/2").ret for i in (1, 2)]
    assert statuses == [0, 0]  # the failing case fails its item, the gates wait for the merge, the empty shard holds nothing
    unsharded = pytester.runpytest("cases", MODEL, "--taskbench-min-aggregate=0.5")
    assert unsharded.ret == 1


def test_a_bad_shard_option_is_a_usage_error(pytester: pytest.Pytester, graded_suite: Path) -> None:
    result = pytester.runpytest("cases", MODEL, "--taskbench-shard=4/3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--taskbench-shard / ini taskbench_shard must be I/N with 1 <= I <= N, got '4/3'*"])


def test_collecting_a_shard_writes_no_results_file(pytester: pytest.Pytester, graded_suite: Path) -> None:
    result = pytester.runpytest("cases", "--co", "-q", "--taskbench-shard=1/3", "--taskbench-results=r.jsonl")
    assert result.ret == 0 and not (pytester.path / "r.jsonl").exists()
