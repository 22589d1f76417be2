"""Sampling benchmark: N samples per case drawn together against N single-sample runs, every ratio measured in the same run.

    nice python benchmarks/bench_sampling.py                        # N=5, all 500 cases of the shipped suite, the shipped model
    python benchmarks/bench_sampling.py --cases 80 --rounds 1       # a quicker look
    python benchmarks/bench_sampling.py --sections generation       # one section

Both sections draw N samples per case at temperature 0.7 with the cache off.

``generation`` (one process, the model loaded once): the shipped suite's prompts,
longest first as the plugin batches them, are cut into batches of ``--batch-size``
prompts, and for each batch, taking turns (the order rotates from batch to batch, so
a busy machine slows every mode alike), the time of

- ``together``: one ``generate`` call for the batch's N samples of every prompt, as a
  run with ``repeats: N`` makes it (the prompts run through the model once, their KV
  cache repeated N times);
- ``num_return_sequences``: the same call with ``generate(num_return_sequences=N)``
  doing the repeating (each prompt computed N times): what prefill sharing saves;
- ``separately``: N calls of one sample per prompt with seeds 0..N-1: N runs without
  repeats, minus their start-up.

``pytest`` (fresh processes, the issue's measure): one ``pytest cases
--taskbench-repeats=N`` run against N ``pytest cases`` runs, each with its own
``generation.seed`` (what a user without repeats does: N runs, each loading the
model), taking turns ``--rounds`` times; wall and CPU time, and the peak RSS of each
process. This section runs first: a child's peak RSS includes what it inherited from
this process when it was started, so this process must not have loaded the model yet.

Targets: together at least 2x faster than separately, in the same run.
``--threads`` defaults to 1: on a 2-core machine that other work shares, two torch
threads that wait for each other at every operation can run many times slower.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

TEMPERATURE = 0.7
MODES = ("together", "num_return_sequences", "separately")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "models/task-api-tiny")
    parser.add_argument("--suite", type=Path, default=REPO / "cases")
    parser.add_argument("--cases", type=int, default=0, help="the first N cases of the suite (0: all)")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per batch, the same for every way (the figures on docs/benchmarks.md used 8)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=1, help="pytest section: how many times the two ways take turns (medians compared)")
    parser.add_argument("--sections", default="generation,pytest")
    return parser.parse_args(argv)


def _cpu() -> float:
    return time.process_time()


def generation(args: argparse.Namespace) -> dict[str, Any]:
    """Per mode: wall and CPU seconds, outputs, generate calls (and peak GPU memory on CUDA), the modes taking turns batch by batch."""
    import torch

    from pytest_taskbench.generation.hf import TransformersBackend
    from pytest_taskbench.suite import load_suite

    suite = load_suite(args.suite / "taskbench.yaml")
    cases = suite.valid_cases()
    cases = cases[: args.cases] if args.cases else cases
    params = replace(suite.generation, temperature=TEMPERATURE, seed=0)
    backend = TransformersBackend(args.model, batch_size=args.batch_size, device=args.device, threads=args.threads)
    backend.load()
    prompts = [suite.prompt_for(case) for case in cases]
    order = backend.order(prompts, params)
    batches = [[prompts[i] for i in order[start : start + args.batch_size]] for start in range(0, len(order), args.batch_size)]
    backend.generate_batch_samples(batches[0][:2], params, [[0, 1]] * 2)  # warm-up, untimed
    totals = {mode: {"seconds": 0.0, "cpu_seconds": 0.0, "outputs": 0, "model_calls": 0, "peak_gpu_mib": 0.0} for mode in MODES}
    every = [list(range(args.samples))]
    cuda = str(backend.device).startswith("cuda")

    def run(mode: str, batch: list[Any]) -> tuple[int, int]:
        """(outputs, generate calls)."""
        if mode == "separately":
            return sum(len(backend.generate_batch(batch, replace(params, seed=seed))) for seed in range(args.samples)), args.samples
        backend._share_prefill = mode == "together"
        return sum(len(texts) for texts in backend.generate_batch_samples(batch, params, every * len(batch))), 1

    for number, batch in enumerate(batches):
        for mode in MODES[number % 3 :] + MODES[: number % 3]:
            figures = totals[mode]
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            began, cpu_began = time.perf_counter(), _cpu()
            outputs, calls = run(mode, batch)
            if cuda:
                torch.cuda.synchronize()
                figures["peak_gpu_mib"] = max(figures["peak_gpu_mib"], torch.cuda.max_memory_allocated() / 2**20)
            figures["seconds"] += time.perf_counter() - began
            figures["cpu_seconds"] += _cpu() - cpu_began
            figures["outputs"] += outputs
            figures["model_calls"] += calls
    backend._share_prefill = True
    return {"cases": len(cases), "batches": len(batches), "cuda": cuda, **totals}


def pytest_runs(args: argparse.Namespace) -> dict[str, Any]:
    """One ``--taskbench-repeats=N`` run against N single-sample runs (each its own seed), fresh processes, taking turns."""
    work = Path(tempfile.mkdtemp(prefix="bench-sampling-"))
    try:
        suites = []
        for seed in range(args.samples):
            target = work / f"seed{seed}"
            shutil.copytree(args.suite, target / "cases")
            _set_seed(target / "cases" / "taskbench.yaml", seed)
            suites.append(target)
        selection = _selection(args, suites[0])
        common = [f"--taskbench-model={args.model}", f"--taskbench-temperature={TEMPERATURE}", "--taskbench-no-cache", f"--taskbench-threads={args.threads}"]
        common += [f"--taskbench-device={args.device}", f"--taskbench-batch-size={args.batch_size}", "-q", "--tb=no", "-p", "no:cacheprovider"]
        rounds: dict[str, list[dict[str, float]]] = {"together": [], "separately": []}
        for number in range(args.rounds):
            for mode in ("together", "separately") if number % 2 == 0 else ("separately", "together"):
                if mode == "together":
                    rounds[mode].append(_pytest(suites[0], [*selection, *common, f"--taskbench-repeats={args.samples}"]))
                else:
                    runs = [_pytest(directory, [*selection, *common]) for directory in suites]
                    rounds[mode].append(
                        {
                            "seconds": sum(r["seconds"] for r in runs),
                            "cpu_seconds": sum(r["cpu_seconds"] for r in runs),
                            "generation_seconds": sum(r["generation_seconds"] for r in runs),
                            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                        }
                    )
        return {mode: {name: statistics.median(r[name] for r in results) for name in results[0]} for mode, results in rounds.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _set_seed(suite_file: Path, seed: int) -> None:
    import yaml

    data = yaml.safe_load(suite_file.read_text(encoding="utf-8"))
    data.setdefault("generation", {})["seed"] = seed
    suite_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _selection(args: argparse.Namespace, directory: Path) -> list[str]:
    """The test paths: every case file, or ``-k`` over the first ``--cases`` case ids."""
    if not args.cases:
        return ["cases"]
    from pytest_taskbench.suite import load_suite

    cases = load_suite(directory / "cases" / "taskbench.yaml").valid_cases()[: args.cases]
    return ["cases", "-k", " or ".join(case.id for case in cases)]


def _pytest(directory: Path, arguments: list[str]) -> dict[str, float]:
    """One pytest run in a fresh process: wall time, CPU time and peak RSS (from its own rusage)."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "pytest", *arguments], cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read() if process.stdout is not None else b""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"pytest failed ({process.returncode}) in {directory}:\n{output.decode(errors='replace')[-3000:]}")
    generation = re.search(r"^generation: .* in ([0-9.]+)s", output.decode(errors="replace"), re.MULTILINE)
    return {
        "seconds": time.perf_counter() - began,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "generation_seconds": float(generation.group(1)) if generation else float("nan"),
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def main() -> None:
    args = parse_args()
    sections = set(args.sections.split(","))
    load = os.getloadavg()[0]
    print(
        f"N={args.samples} samples per case at temperature {TEMPERATURE}, batch size {args.batch_size}, {args.threads} torch thread(s), {args.device}, "
        f"model {args.model.name}; load average {load:.1f} at the start"
    )
    # pytest first: a child's peak RSS counts what it inherited from this process at fork, so this process must still be small
    if "pytest" in sections:
        result = pytest_runs(args)
        together, separately = result["together"], result["separately"]
        print(f"pytest, fresh processes, median of {args.rounds} round(s):")
        print(
            f"  one run, --taskbench-repeats={args.samples}  {together['seconds']:7.1f}s wall {together['cpu_seconds']:7.1f}s CPU "
            f"(generation {together['generation_seconds']:.1f}s)  peak RSS {together['peak_rss_mib']:.0f} MiB"
        )
        print(
            f"  {args.samples} runs, one sample each  {separately['seconds']:7.1f}s wall {separately['cpu_seconds']:7.1f}s CPU "
            f"(generation {separately['generation_seconds']:.1f}s)  peak RSS {separately['peak_rss_mib']:.0f} MiB (the largest of the {args.samples})"
        )
        print(
            f"  speed-up of one run with repeats: {separately['seconds'] / together['seconds']:.2f}x wall, "
            f"{separately['cpu_seconds'] / together['cpu_seconds']:.2f}x CPU (target >= 2x); "
            f"peak memory {together['peak_rss_mib'] / separately['peak_rss_mib']:.2f}x"
        )
    if "generation" in sections:
        result = generation(args)
        print(f"generation, one process, the modes taking turns over {result['batches']} batches of {result['cases']} cases:")
        for mode in MODES:
            r = result[mode]
            gpu = f", peak GPU {r['peak_gpu_mib']:.0f} MiB" if result["cuda"] else ""
            print(f"  {mode:22s} {r['seconds']:7.1f}s wall {r['cpu_seconds']:7.1f}s CPU  {r['outputs']} outputs in {r['model_calls']} generate calls{gpu}")
        for mode in ("together", "num_return_sequences"):
            print(
                f"  separately / {mode}: {result['separately']['seconds'] / result[mode]['seconds']:.2f}x wall, "
                f"{result['separately']['cpu_seconds'] / result[mode]['cpu_seconds']:.2f}x CPU"
            )
    print(f"load average {os.getloadavg()[0]:.1f} at the end; peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
