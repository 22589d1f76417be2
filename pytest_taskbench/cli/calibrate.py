"""``taskbench calibrate-judge``: how far a suite's model judge agrees with the human labels, outside a test run.

It scores every labelled case of the judge-scored categories (``human_label`` or
``human_score``) the way a run does (the same prompts, batches and cache), then
prints each judge's agreement with the labels: accuracy, Cohen's kappa (weighted
on a 1-N scale) with its bootstrap interval, the confusion table and, for a
pairwise judge, how often the verdict flips with the order. The outputs judged
are the ones the people labelled (``--outputs``, saved JSON lines) or a model's
(``--model``). Exit status: 0 when every judge reaches the minimum agreement (or
none is required), 1 when one does not or nothing could be measured, 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pytest_taskbench import defaults

SHOWN_ERRORS = 5


def configure_calibrate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", type=Path, help="the suite: its folder (holding taskbench.yaml) or its suite file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--outputs", type=Path, help='the outputs the people labelled: JSON lines {"id": CASE_ID, "output": TEXT}')
    source.add_argument("--model", help="judge this model's outputs instead (the labels must be about them): any --taskbench-model spec")
    parser.add_argument("--judge-model", help="the model of the judge named default (else the suite's judges:)")
    parser.add_argument("--min-agreement", type=float, help="the kappa lower bound a judge must reach (default: the suite's gates.judge_min_agreement)")
    parser.add_argument("--category", action="append", default=[], help="only this category (repeatable)")
    parser.add_argument("--cache-dir", type=Path, help="the generation cache (default: pytest's, .pytest_cache/d/taskbench)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--seed", type=int, default=defaults.SEED, help=f"bootstrap seed (default {defaults.SEED})")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")


def run_calibrate(args: argparse.Namespace) -> int:
    from pytest_taskbench.generation.base import ModelLoadError
    from pytest_taskbench.guards.display import safe_text
    from pytest_taskbench.reports.judging import calibration_dict, calibration_lines
    from pytest_taskbench.run import TaskbenchRun
    from pytest_taskbench.scoring.judge import JudgeScorer
    from pytest_taskbench.scoring.registry import ScorerError
    from pytest_taskbench.settings import Settings
    from pytest_taskbench.suite import SUITE_FILE_NAME, SuiteError
    from pytest_taskbench.verdict.calibration import agreements

    suite_file = args.suite / SUITE_FILE_NAME if args.suite.is_dir() else args.suite
    if args.min_agreement is not None and not 0 <= args.min_agreement <= 1:
        print(f"taskbench calibrate-judge: --min-agreement must be a number from 0 to 1, got {args.min_agreement}", file=sys.stderr)
        return 2
    rootdir = Path.cwd()
    cache = None if args.no_cache else (args.cache_dir or rootdir / ".pytest_cache" / "d" / "taskbench")
    settings = Settings(model=args.model, outputs=None if args.outputs is None else str(args.outputs), judge_model=args.judge_model, no_cache=args.no_cache)
    run = TaskbenchRun(settings, rootdir, cache_dir=cache)
    try:
        suite = run.catalog.suite_at(suite_file)
    except SuiteError as exc:
        print(f"taskbench calibrate-judge: {exc}", file=sys.stderr)
        return 1
    planned = []
    for path in suite.case_files():
        contents = run.catalog.case_file(suite, path)
        for case in contents.cases:
            if (case.human_label is None and case.human_score is None) or (args.category and case.category not in args.category):
                continue
            try:
                scorer = run.catalog.scorer_for(suite, case)
            except ScorerError as exc:
                print(f"{case.location}: case {case.id!r} skipped: {exc}", file=sys.stderr)
                continue
            if isinstance(scorer, JudgeScorer):
                planned.append((suite, case, f"{contents.path}::{case.id}"))
    if not planned:
        print(f"taskbench calibrate-judge: no judge-scored case of {suite_file} has a human_label or human_score", file=sys.stderr)
        return 1
    try:
        run.prepare(planned)
        results = [run.evaluate(each_suite, case, key) for each_suite, case, key in planned]
    except ModelLoadError as exc:
        print(f"taskbench calibrate-judge: {exc}", file=sys.stderr)
        return 1
    finally:
        run.close()
    minimum = args.min_agreement
    if minimum is None and suite.gates.is_on("judge_min_agreement"):
        minimum = suite.gates.threshold("judge_min_agreement")
    found = agreements(results, alpha=suite.gates.alpha, seed=args.seed, minimum=minimum)
    print(f"{len(results)} labelled cases judged ({suite.name})")
    for line in calibration_lines(found):
        print(line)
    failed = [r for r in results if r.status != "scored"]
    if failed:
        print(f"{len(failed)} cases without a verdict, e.g.:")
        for result in failed[:SHOWN_ERRORS]:
            print(f"  {safe_text(result.nodeid)}: {safe_text(result.reason)}")
    if args.json is not None:
        args.json.write_text(json.dumps([calibration_dict(a) for a in found], indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0 if found and all(a.trusted for a in found) else 1
