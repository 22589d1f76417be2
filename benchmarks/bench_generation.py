"""Generation engine benchmarks: every figure is a ratio against a reference measured in the same run.

    nice python benchmarks/bench_generation.py                 # all sections, the shipped model and suite
    python benchmarks/bench_generation.py --sections cache     # one section

Sections (targets from issue #5):

- ``throughput``: batched (``--batch-size``, default 16) vs one-at-a-time greedy
  generation on the shipped model and the first ``--cases`` cases of the shipped
  suite, in one process with ``--threads`` torch threads (default 2). Target >= 3x.
  Also prints the agreement rate: how many batched outputs equal the one-at-a-time output.
- ``plugin``: wall time of ``pytest`` on those cases (no cache) vs a bare
  transformers ``generate`` loop over the same prompts at the same batch size,
  each a fresh process (imports and model load included), and the peak RSS of
  both. Targets: at most 1.15x the time, within 150 MB of the memory.
- ``cache``: a warm-cache re-run of a 500-case suite with a real (tiny, random)
  transformers model vs the same suite with an instant ``module:function`` model
  (no cache). Target: at most 1.2x, zero model calls.
- ``identity``: how long the model fingerprint takes on the shipped checkpoint
  and on an 8 GiB weight file (sparse: the fingerprint reads ~2.1 MiB of it).

Nothing is downloaded; everything runs offline on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

from pytest_taskbench.cases import Case, load_case_file  # noqa: E402
from pytest_taskbench.suite import Suite, load_suite  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_model = next((p for p in (REPO / "models/task-api-tiny", REPO / "models/task-api-tiny-early") if p.is_dir()), REPO / "models/task-api-tiny")
    parser.add_argument("--model", type=Path, default=default_model, help="local transformers checkpoint")
    parser.add_argument("--suite", type=Path, default=REPO / "cases", help="taskbench suite directory")
    parser.add_argument("--cases", type=int, default=64, help="cases for the throughput and plugin sections")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target is for 2 CPU cores)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of the bare loop and of pytest, taking turns; medians compared")
    parser.add_argument("--sections", default="throughput,plugin,cache,identity")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a temporary one)")
    return parser.parse_args(argv)


def shipped_cases(suite_dir: Path, limit: int) -> tuple[Suite, list[Case]]:
    suite = load_suite(suite_dir / "taskbench.yaml")
    files = sorted(suite.case_files())
    per_file = [load_case_file(path, categories=list(suite.categories), difficulties=suite.difficulties).cases for path in files]
    picked: list[Case] = []
    index = 0
    while len(picked) < limit and any(index < len(cases) for cases in per_file):  # round-robin: every category
        picked.extend(cases[index] for cases in per_file if index < len(cases))
        index += 1
    return suite, picked[:limit]


# throughput and agreement -----------------------------------------------------------


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from pytest_taskbench.generation.hf import TransformersBackend

    torch.set_num_threads(args.threads)
    suite, cases = shipped_cases(args.suite, args.cases)
    prompts = [suite.prompt_for(case) for case in cases]
    params = suite.generation
    backend = TransformersBackend(args.model, batch_size=args.batch_size)
    backend.load()
    backend.generate(prompts[:2], params)  # warm-up
    began = time.perf_counter()
    alone = [backend.generate([prompt], params)[0] for prompt in prompts]
    alone_seconds = time.perf_counter() - began
    began = time.perf_counter()
    batched = backend.generate(prompts, params)
    batched_seconds = time.perf_counter() - began
    agree = sum(a.text == b.text for a, b in zip(alone, batched))
    print(f"throughput ({len(prompts)} shipped cases, max_new_tokens {params.max_new_tokens}, {args.threads} threads, {args.model.name})")
    print(f"  one at a time:     {alone_seconds:7.2f}s  {len(prompts) / alone_seconds:6.2f} cases/s")
    print(f"  batched (bs {args.batch_size:>2}):   {batched_seconds:7.2f}s  {len(prompts) / batched_seconds:6.2f} cases/s")
    print(f"  speed-up: {alone_seconds / batched_seconds:.2f}x  (target >= 3x)")
    print(f"  agreement batched vs one at a time: {agree}/{len(prompts)} identical outputs ({100 * agree / len(prompts):.1f}%)")
    return {"speedup": alone_seconds / batched_seconds, "agreement": agree / len(prompts)}


# plugin vs bare loop, and memory ------------------------------------------------------

BARE_LOOP = """\
import json, sys, time
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model_path, prompts_file, batch_size, max_new_tokens, stop, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
prompts = json.loads(open(prompts_file).read())
tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
tokenizer.padding_side = "left"
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
model = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True).eval()
outputs = []
for start in range(0, len(prompts), batch_size):
    batch = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id, stop_strings=stop or None, tokenizer=tokenizer if stop else None)
    outputs.extend(tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True))
print(len(outputs))
"""

MEASURE = "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and output of a fresh process."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - began
    peak = next((int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("PEAK_RSS_KB")), 0)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{command[:4]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, peak, done.stdout


def subset_suite(args: argparse.Namespace, workdir: Path) -> tuple[Path, list[str]]:
    """A copy of the shipped suite holding only the benchmark's cases, and their prompts in run order."""
    suite, cases = shipped_cases(args.suite, args.cases)
    target = workdir / "subset" / "cases"
    shutil.rmtree(target.parent, ignore_errors=True)
    shutil.copytree(args.suite, target)
    keep: dict[str, set[int]] = {}
    for case in cases:
        keep.setdefault(Path(case.path).name, set()).add(case.line)
    for file in target.glob("*.jsonl"):
        lines = file.read_text().splitlines(keepends=True)
        file.write_text("".join(line for number, line in enumerate(lines, start=1) if number in keep.get(file.name, set())))
    subset = load_suite(target / "taskbench.yaml")
    ordered = [
        c for path in sorted(subset.case_files()) for c in load_case_file(path, categories=list(subset.categories), difficulties=subset.difficulties).cases
    ]
    return target, [subset.prompt_for(case).text for case in ordered]


def plugin_vs_bare(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    cases_dir, prompts = subset_suite(args, workdir)
    suite = load_suite(cases_dir / "taskbench.yaml")
    prompts_file = workdir / "prompts.json"
    prompts_file.write_text(json.dumps(prompts))
    bare_script = workdir / "bare_loop.py"
    bare_script.write_text(BARE_LOOP)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    bare_command = [
        sys.executable,
        str(bare_script),
        str(args.model),
        str(prompts_file),
        str(args.batch_size),
        str(suite.generation.max_new_tokens),
        json.dumps(list(suite.generation.stop)),
        str(args.threads),
    ]
    plugin_command = [
        sys.executable,
        "-m",
        "pytest",
        str(cases_dir),
        f"--taskbench-model={args.model}",
        f"--taskbench-batch-size={args.batch_size}",
        "--taskbench-no-cache",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
    ]
    bare_runs, plugin_runs = [], []
    for _ in range(args.repeat):  # taking turns, so drift in machine load hits both alike
        bare_runs.append(timed(bare_command, workdir, env))
        plugin_runs.append(timed(plugin_command, workdir / "subset", env))
    bare = (statistics.median(r[0] for r in bare_runs), statistics.median(r[1] for r in bare_runs))
    plugin = (statistics.median(r[0] for r in plugin_runs), statistics.median(r[1] for r in plugin_runs))
    print(f"plugin vs bare generate loop ({len(prompts)} cases, batch {args.batch_size}, fresh processes, load included, median of {args.repeat})")
    print(f"  bare transformers loop: {bare[0]:7.2f}s  peak RSS {bare[1] / 1024:7.1f} MB")
    print(f"  pytest --taskbench-*:   {plugin[0]:7.2f}s  peak RSS {plugin[1] / 1024:7.1f} MB")
    print(f"  wall-time ratio: {plugin[0] / bare[0]:.2f}x  (target <= 1.15x)")
    print(f"  memory difference: {(plugin[1] - bare[1]) / 1024:+.1f} MB  (target within 150 MB)")
    return {"time_ratio": plugin[0] / bare[0], "memory_mb": (plugin[1] - bare[1]) / 1024}


# warm cache vs instant model -------------------------------------------------------

INSTANT_MODEL = "def respond(prompts):\n    return [p.split()[-1] for p in prompts]\n"


def warm_cache(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests" / "helpers"))
    from tiny_models import build_tiny_model
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" would break the report

    root = workdir / "warm"
    shutil.rmtree(root, ignore_errors=True)
    (root / "cases").mkdir(parents=True)
    (root / "cases" / "taskbench.yaml").write_text("name: warm\ncategories:\n  echo: {weight: 1.0, scorer: exact_match}\ngeneration: {max_new_tokens: 4}\n")
    words = "hello world book a meeting cancel my order the quick brown fox".split()
    rows = [
        {
            "id": f"c{i:03d}",
            "input": f"{words[i % len(words)]} {words[(i * 7) % len(words)]} {i}",
            "expected": str(i),
            "category": "echo",
            "difficulty": "simple",
        }
        for i in range(500)
    ]
    (root / "cases" / "echo.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (root / "instant.py").write_text(INSTANT_MODEL)
    model = build_tiny_model(root / "model")
    common = ["-m", "pytest", "cases", "-q", "-p", "no:randomly", "--taskbench-cache-dir=gen-cache", "--taskbench-batch-size=32"]
    fill = timed([sys.executable, *common, f"--taskbench-model={model}"], root)
    warm = timed([sys.executable, *common, f"--taskbench-model={model}", "--json-report", "--json-report-file=warm.json"], root)
    counters = json.loads((root / "warm.json").read_text())["taskbench"]["suites"]
    generation = next(iter(counters.values())).get("generation", {})
    instant = timed(
        [sys.executable, *common, "--taskbench-model=instant:respond", "--taskbench-no-cache", "--json-report", "--json-report-file=instant.json"], root
    )
    line = next((text for text in warm[2].splitlines() if text.startswith("generation:")), "(no generation line)")
    print("warm-cache re-run vs an instant module:function model (500 cases, fresh processes)")
    print(f"  cold run, tiny transformers model:  {fill[0]:6.2f}s")
    print(f"  warm re-run, same model:            {warm[0]:6.2f}s  {line}")
    print(f"  instant module:function, no cache:  {instant[0]:6.2f}s")
    print(f"  model calls in the warm re-run: {generation.get('model_calls')} (cached {generation.get('cached')}, generated {generation.get('generated')})")
    print(f"  warm / instant: {warm[0] / instant[0]:.2f}x  (target <= 1.2x, zero model calls)")
    return {"ratio": warm[0] / instant[0], "model_calls": generation.get("model_calls"), "warm_line": line}


# identity -------------------------------------------------------------------------


def identity(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from pytest_taskbench.generation.hf import fingerprint_checkpoint

    began = time.perf_counter()
    fingerprint_checkpoint(args.model)
    small = time.perf_counter() - began
    big = workdir / "big-checkpoint"
    shutil.rmtree(big, ignore_errors=True)
    shutil.copytree(args.model, big)
    weights = big / "model.safetensors"
    size = weights.stat().st_size
    with weights.open("r+b") as stream:  # keep the real header, grow the file to 8 GiB (sparse)
        stream.truncate(8 << 30)
    began = time.perf_counter()
    fingerprint_checkpoint(big)
    large = time.perf_counter() - began
    shutil.rmtree(big)
    print("model identity (fingerprint_checkpoint)")
    print(f"  shipped checkpoint ({size / 1e6:.1f} MB weights, hashed in full): {1000 * small:.1f} ms")
    print(f"  8 GiB weight file (sampled: ~2.1 MiB read):               {1000 * large:.1f} ms")
    return {"small_ms": 1000 * small, "large_ms": 1000 * large}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.model = args.model.resolve()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-generation-"))
    workdir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at start; model {args.model}")
    results: dict[str, Any] = {}
    for name, run in (("identity", identity), ("throughput", lambda a, w: throughput(a)), ("plugin", plugin_vs_bare), ("cache", warm_cache)):
        if name in sections:
            results[name] = run(args, workdir)
            print()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print(json.dumps(results, default=str))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
