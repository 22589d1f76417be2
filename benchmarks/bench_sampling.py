"""Sampling benchmark: N samples per case in one run (``num_return_sequences``) against N single-sample runs.

    nice python benchmarks/bench_sampling.py                      # N=5, every case of the shipped suite, the shipped model
    python benchmarks/bench_sampling.py --cases 100 --samples 5   # a quicker look

Both modes generate the same number of outputs (N per case) at temperature 0.7 through
the plugin's engine and the transformers backend, with the cache off, each in a fresh
process (the model loaded once per process, as a run does):

- ``together``: one run with ``repeats: N``: every batch of ``--batch-size`` prompts
  draws each prompt's N samples in one ``generate`` call (``num_return_sequences=N``).
- ``separately``: N runs with ``repeats: 1`` and seeds 0..N-1, one after another in one
  process: what a user without repeats does (N separate pytest runs, minus N-1 model
  loads and imports, which favours this side).

It prints the wall and CPU time of each and their ratios (target: together at least 2x
faster; on a shared machine the CPU time is the steadier figure), and the peak resident
memory of each process (and, on CUDA, the peak GPU memory torch allocated).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "models/task-api-tiny")
    parser.add_argument("--suite", type=Path, default=REPO / "cases")
    parser.add_argument("--cases", type=int, default=0, help="the first N cases of the suite (0: all)")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per batch (the plugin's default)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mode", choices=("together", "separately"), help=argparse.SUPPRESS)  # the child process's part
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """In a child process: generate N samples per case one way; time it and report peak memory."""
    from dataclasses import replace

    from pytest_taskbench.generation.engine import GenerationEngine, Job
    from pytest_taskbench.generation.hf import TransformersBackend
    from pytest_taskbench.suite import load_suite

    suite = load_suite(args.suite / "taskbench.yaml")
    cases = suite.valid_cases()
    cases = cases[: args.cases] if args.cases else cases
    params = replace(suite.generation, temperature=0.7, seed=0)
    backend = TransformersBackend(args.model, batch_size=args.batch_size, device=args.device, threads=args.threads)
    engine = GenerationEngine(lambda: backend)
    engine.load()
    began, cpu_began = time.perf_counter(), _cpu_seconds()
    if args.mode == "together":
        jobs = [Job(case.id, suite.prompt_for(case), params, case.id, args.samples) for case in cases]
        engine.plan(jobs)
        engine.prefetch()
        outputs = [len(engine.samples(job)) for job in jobs]
    else:
        outputs = []
        for seed in range(args.samples):
            jobs = [Job((seed, case.id), suite.prompt_for(case), replace(params, seed=seed), case.id, 1) for case in cases]
            engine.plan(jobs)
            engine.prefetch()
            outputs += [len(engine.samples(job)) for job in jobs]
    seconds, cpu = time.perf_counter() - began, _cpu_seconds() - cpu_began
    result: dict[str, Any] = {
        "mode": args.mode,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "outputs": sum(outputs),
        "model_calls": backend.model_calls,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if str(backend.device).startswith("cuda"):
        import torch

        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--mode", mode, *sys.argv[1:]]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    args = parse_args()
    if args.mode:
        print(json.dumps(measure(args)))
        return
    results = {mode: child(args, mode) for mode in ("together", "separately")}
    together, separately = results["together"], results["separately"]
    cases = together["outputs"] // args.samples
    print(
        f"{cases} cases x {args.samples} samples at temperature 0.7, batch size {args.batch_size}, {args.threads} threads, {args.device}, model {args.model.name}"
    )
    for mode, described in (("together", "one run, num_return_sequences"), ("separately", f"{args.samples} single-sample runs")):
        r = results[mode]
        gpu = f", peak GPU {r['peak_gpu_mib']:.0f} MiB" if "peak_gpu_mib" in r else ""
        print(
            f"  {described:32s} {r['seconds']:7.1f}s wall, {r['cpu_seconds']:7.1f}s CPU  {r['outputs']} outputs, {r['model_calls']} generate calls, peak RSS {r['peak_rss_mib']:.0f} MiB{gpu}"
        )
    print(
        f"speed-up of one run with num_return_sequences: {separately['seconds'] / together['seconds']:.2f}x wall, "
        f"{separately['cpu_seconds'] / together['cpu_seconds']:.2f}x CPU time (target >= 2x)"
    )
    print(f"peak memory, one run / single-sample runs: {together['peak_rss_mib'] / separately['peak_rss_mib']:.2f}x RSS")


if __name__ == "__main__":
    main()
