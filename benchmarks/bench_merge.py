"""taskbench merge at scale: 20 shards of a 50,000-case suite, time and peak memory against references from the same run.

    nice python benchmarks/bench_merge.py                          # 12,500, 25,000 and 50,000 cases, 20 shards
    python benchmarks/bench_merge.py --sizes 50000 --shards 20     # one size

For each size it writes a suite of that many cases (five categories, four
difficulties, ``exact_match``), scores every case with a ``module:function`` model
through ``TaskbenchRun.evaluate`` (the code a case item calls), deals the results to
the shards with the plugin's own ``shards.assign``, writes each shard's results file
with ``TaskbenchRun.results_header`` and ``write_results_file`` (the code the plugin
calls at the end of a shard), and then times ``taskbench merge`` over them in a fresh
process: reading, checking, the summary, the bootstrap intervals, the gates, the
failure analysis and the JSON summary, imports included. Each figure is the median
of ``--repeats`` runs. (The shards are not produced by 20 pytest runs: each would
collect all 50,000 cases, minutes of work that is not the merge's.)

References, measured in the same run:

- the same merge over one unsharded results file of the same cases (what sharding costs);
- the same merge of a 100-case suite's shards (the interpreter, the imports and
  the fixed work: what does not grow with the cases).

Targets (issue #20): 20 shards of 50,000 cases merge in under 10 s; peak memory
grows linearly with the cases (the memory above the 100-case reference, per case,
stays flat across sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pytest_taskbench.resultsfile import write_results_file  # noqa: E402
from pytest_taskbench.run import TaskbenchRun  # noqa: E402
from pytest_taskbench.settings import Settings  # noqa: E402
from pytest_taskbench.shards import ShardKey, assign  # noqa: E402

CATEGORIES = ("actions", "entities", "defaults", "edges", "format")
DIFFICULTIES = ("simple", "moderate", "complex", "adversarial")
MODEL = """\
def respond(prompts):
    # right on three cases in four, wrong on the rest: failures for the analysis to read
    return [p if sum(map(ord, p)) % 4 else "wrong" for p in prompts]
"""
MEASURE = """\
import resource, sys, time
start = time.perf_counter()
from pytest_taskbench.cli.main import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
print(f"{time.perf_counter() - start:.6f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} {status}", file=sys.stderr)
"""


def write_suite(root: Path, size: int) -> None:
    cases = root / "cases"
    cases.mkdir(parents=True)
    weights = "".join(f"  {name}: {{weight: 0.2, scorer: exact_match}}\n" for name in CATEGORIES)
    (cases / "taskbench.yaml").write_text(f"name: bench\ncategories:\n{weights}difficulties: [{', '.join(DIFFICULTIES)}]\n")
    for c, category in enumerate(CATEGORIES):
        rows = []
        for i in range(c, size, len(CATEGORIES)):
            text = f"{category} request {i}: please handle item {i * 7919 % 100_003}"
            rows.append(json.dumps({"id": f"{category}_{i}", "input": text, "expected": text, "difficulty": DIFFICULTIES[i % 4]}))
        (cases / f"{category}.jsonl").write_text("\n".join(rows) + "\n")
    (root / "benchmodel.py").write_text(MODEL)


def write_results(root: Path, shards: int) -> tuple[list[Path], Path]:
    """Score every case, then write the shards' results files and one whole-run file; returns their paths."""
    sys.path.insert(0, str(root))
    settings = Settings(model="benchmodel:respond", no_cache=True)
    run = TaskbenchRun(settings, root)
    suite = run.catalog.suite_at(root / "cases" / "taskbench.yaml")
    planned = [(suite, case, f"cases/{Path(case.path).name}::{case.id}") for case in suite.valid_cases(run.catalog.reader(suite))]
    run.prepare(planned)
    results = [run.evaluate(s, case, nodeid) for s, case, nodeid in planned]
    keys = [ShardKey(("cases/taskbench.yaml", case.category, case.difficulty), f"{Path(case.path).name}::{case.id}") for _, case, _ in planned]
    places = assign(keys, shards)
    selection = {"args": ["cases"], "keyword": "", "markexpr": ""}
    files = []
    for index in range(1, shards + 1):
        mine = [r for r, place in zip(results, places) if place == index]
        run.settings = replace(settings, shard=f"{index}/{shards}")
        facts = run.describe_suites([suite] * len(results), [suite] * len(mine))
        path = root / f"shard-{index}.jsonl"
        write_results_file(path, run.results_header(facts, selection=selection, outcome=_outcome()), mine)
        files.append(path)
    run.settings = settings
    whole = root / "whole.jsonl"
    write_results_file(
        whole, run.results_header(run.describe_suites([suite] * len(results), [suite] * len(results)), selection=selection, outcome=_outcome()), results
    )
    run.close()
    sys.path.remove(str(root))
    return files, whole


def _outcome():  # type: ignore[no-untyped-def]
    from pytest_taskbench.resultsfile import Outcome

    return Outcome(1, False, 0)


def measure(root: Path, args: list[str], repeats: int) -> tuple[float, float, int]:
    """(median seconds, median peak RSS in MiB, exit status) of ``taskbench ARGS`` in a fresh process, run in ``root``."""
    times, peaks, status = [], [], 0
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", MEASURE, *args], cwd=root, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        seconds, rss, status_text = done.stderr.strip().splitlines()[-1].split()
        times.append(float(seconds))
        peaks.append(int(rss) / 1024)
        status = int(status_text) if status_text.lstrip("-").isdigit() else 0
    return statistics.median(times), statistics.median(peaks), status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12_500, 25_000, 50_000])
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.repeats} runs each")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as tmp:
        fixed = (0.0, 0.0, 0)
        for size in [100, *args.sizes]:
            root = Path(tmp, str(size))
            started = time.perf_counter()
            write_suite(root, size)
            files, whole = write_results(root, args.shards)
            prepared = time.perf_counter() - started
            sharded = measure(root, ["merge", *map(str, files), "--taskbench-summary-json=merged.json"], args.repeats)
            single = measure(root, ["merge", str(whole), "--taskbench-summary-json=whole.json"], args.repeats)
            same = (
                json.loads((root / "merged.json").read_text())["suites"]["bench"]["aggregate"]
                == json.loads((root / "whole.json").read_text())["suites"]["bench"]["aggregate"]
            )
            if size == 100:
                fixed = sharded
                print(f"reference: 100 cases, {args.shards} shards: merge {sharded[0]:.2f} s, peak RSS {sharded[1]:.0f} MiB")
                continue
            per_case = (sharded[1] - fixed[1]) * 1024 / (size - 100)
            rows.append((size, sharded, single, per_case))
            print(
                f"{size:>7,} cases, {args.shards} shards (scored and written in {prepared:.1f} s): merge {sharded[0]:.2f} s "
                f"({sharded[0] / single[0]:.2f}x one whole-run file: {single[0]:.2f} s), peak RSS {sharded[1]:.0f} MiB "
                f"(+{sharded[1] - fixed[1]:.0f} MiB over 100 cases: {per_case:.2f} KiB per case), exit {sharded[2]}, same aggregate as one file: {same}"
            )
    if len(rows) > 1:
        spread = max(r[3] for r in rows) / min(r[3] for r in rows)
        print(f"memory per case across sizes: {', '.join(f'{r[3]:.2f}' for r in rows)} KiB (largest / smallest {spread:.2f}: 1.00 is exactly linear)")
    largest = max(rows)
    verdict = "meets" if largest[1][0] < 10 else "misses"
    print(f"target: {largest[0]:,} cases in {args.shards} shards merge in under 10 s: {largest[1][0]:.2f} s, {verdict} it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
