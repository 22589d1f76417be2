"""Fast by default: every figure is a ratio against a reference measured in the same run.

    nice python benchmarks/bench_defaults.py                      # every section
    python benchmarks/bench_defaults.py --sections http,startup   # some of them

Sections (targets from issue #21):

- ``sweep``: seconds per case at batch sizes 4 to 128 on CPU (``--threads`` torch threads), for the
  shipped model and a larger random one built here (same architecture, 2.7x wider, 2x deeper), with the most tokens
  one batch held (batch x (longest prompt + max_new_tokens)): the data the automatic batch
  size's CPU token budget is chosen from.
- ``defaults``: ``pytest cases`` on the shipped suite (500 cases, no cache) with today's defaults
  against the old ones (``--taskbench-batch-size=8 --taskbench-device=cpu --taskbench-decoding=generate``), ``--threads`` torch threads on both sides, fresh processes
  taking turns, medians: generation-time ratio (target <= 0.6), peak RSS difference (target
  <= 200 MB), and whether the 500 outputs are identical.
- ``http``: a local OpenAI-compatible server (stdlib, started here) that answers every request in
  200 ms however many are in flight. 2,000 prompts with the default settings against 256 requests
  held in flight (the reference; target >= 80% of its requests per second) and against the old
  default of 8 (target >= 5x).
- ``slowing``: the same server, but its latency grows with the requests in flight beyond 16:
  how many the default keeps in flight (fewer than the cap) and the requests per second against 256.
- ``serve``: ``transformers serve`` with the shipped model, 200 prompts: default settings against 8
  requests in flight.
- ``startup``: ``pytest --co -q cases`` with the plugin as it is against the same with torch and
  transformers imported first (what importing them at start-up would cost); a run of the main job
  served from the cache against the same suite with an instant callable model (old figure 1.14x);
  whether torch was imported; the time from start to the first generated output.
- ``continuous``: transformers' continuous batching (``generate_batch``, paged KV cache) against the
  backend's length-sorted static batches on CPU, the same 16 prompts and 32 new tokens: time ratio
  and identical outputs.

Nothing is downloaded; everything runs offline on CPU.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

from bench_generation import timed  # noqa: E402 - the same fresh-process stopwatch (this directory is on sys.path)

from pytest_taskbench.generation.base import GenerationParams, Prompt  # noqa: E402

MODEL = REPO / "models" / "task-api-tiny"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="sweep,defaults,http,slowing,serve,startup,continuous")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side in the defaults and startup sections, taking turns")
    parser.add_argument("--sweep-cases", type=int, default=96)
    parser.add_argument("--sweep-batches", default="4,8,16,32,64,128")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the sweep (one: on a shared machine more only wait on each other)")
    parser.add_argument("--http-cases", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=None)
    return parser.parse_args(argv)


def text_prompt(text: str) -> Prompt:
    return Prompt(({"role": "user", "content": text},), text)


def shipped_prompts(limit: int | None = None) -> tuple[list[Prompt], GenerationParams]:
    from pytest_taskbench.cases import load_case_file
    from pytest_taskbench.suite import load_suite

    suite = load_suite(REPO / "cases" / "taskbench.yaml")
    per_file = [load_case_file(p, categories=list(suite.categories), difficulties=suite.difficulties).cases for p in sorted(suite.case_files())]
    cases = [c for index in range(max(map(len, per_file))) for cases in per_file if index < len(cases) for c in [cases[index]]]  # round-robin
    return [suite.prompt_for(case) for case in cases[:limit]], suite.generation


# sweep ------------------------------------------------------------------------------


def larger_model(workdir: Path) -> Path:
    """The shipped model's architecture and tokenizer, 4x wider and 2x deeper, random weights (it generates to max_new_tokens)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    target = workdir / "larger-model"
    if (target / "config.json").exists():
        return target
    config = AutoConfig.from_pretrained(MODEL, local_files_only=True)
    config.hidden_size, config.intermediate_size, config.num_hidden_layers = 512, 1536, 8
    config.num_attention_heads = config.num_key_value_heads = 8
    config.head_dim = 64
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(target)
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(MODEL / name, target / name)
    return target


def sweep(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import torch

    from pytest_taskbench.generation.hf import TransformersBackend

    torch.set_num_threads(args.threads)
    prompts, params = shipped_prompts(args.sweep_cases)
    results: dict[str, Any] = {}
    for label, path, new_tokens in (("shipped", MODEL, params.max_new_tokens), ("larger (random)", larger_model(workdir), 64)):
        run_params = GenerationParams(max_new_tokens=new_tokens, stop=params.stop, use_chat_template=params.use_chat_template)
        print(f"sweep: {label} model, {len(prompts)} shipped prompts, max_new_tokens {new_tokens}, {args.threads} torch thread(s)")
        rows = []
        for batch in map(int, args.sweep_batches.split(",")):
            backend = TransformersBackend(path, batch_size=batch, device="cpu")
            backend.load()
            backend.generate(prompts[:2], run_params)
            longest = max(len(backend.encode(p, run_params)) for p in prompts)
            began = time.perf_counter()
            backend.generate(prompts, run_params)
            seconds = time.perf_counter() - began
            tokens = min(batch, len(prompts)) * (longest + new_tokens)
            rows.append((batch, seconds, tokens))
            print(f"  batch {batch:>3}: {1000 * seconds / len(prompts):7.1f} ms/case  (largest batch {tokens:>6} tokens)")
        best = min(rows, key=lambda row: row[1])
        print(f"  fastest: batch {best[0]} ({best[2]} tokens per batch)")
        results[label] = [{"batch": b, "ms_per_case": 1000 * s / len(prompts), "tokens": t} for b, s, t in rows]
    return results


# defaults vs old defaults -------------------------------------------------------------


def generation_seconds(report: Path) -> float:
    suites = json.loads(report.read_text())["taskbench"]["suites"]
    return float(next(iter(suites.values()))["generation"]["generation_seconds"])


def outputs(samples: Path) -> dict[str, str]:
    return {row["case_id"]: row["output"] for row in map(json.loads, samples.read_text().splitlines())}


def defaults(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    root = workdir / "defaults"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    shutil.copytree(REPO / "cases", root / "cases")
    base = [sys.executable, "-m", "pytest", "cases", f"--taskbench-model={MODEL}", "--taskbench-no-cache", "-q", "-p", "no:cacheprovider", "--tb=no"]
    base.append(f"--taskbench-threads={args.threads}")  # the same on both sides: on a shared machine, more threads only wait on each other
    sides = {"old defaults": ["--taskbench-batch-size=8", "--taskbench-device=cpu", "--taskbench-decoding=generate"], "defaults": []}
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in sides}
    for turn in range(args.repeat):
        for name, extra in sides.items():
            tag = name.replace(" ", "-")
            report, samples = root / f"{tag}-{turn}.json", root / f"{tag}-{turn}.jsonl"
            wall, peak, _ = timed([*base, *extra, "--json-report", f"--json-report-file={report}", f"--taskbench-log-samples={samples}"], root)
            runs[name].append((wall, generation_seconds(report), peak))
    old, new = (outputs(root / "old-defaults-0.jsonl"), outputs(root / "defaults-0.jsonl"))
    same = sum(old[key] == new.get(key) for key in old)
    medians = {name: tuple(statistics.median(run[i] for run in values) for i in range(3)) for name, values in runs.items()}
    print(f"defaults vs old defaults (shipped suite, {len(old)} cases, no cache, fresh processes, median of {args.repeat})")
    for name, (wall, generation, peak) in medians.items():
        print(f"  {name:<13} wall {wall:6.2f}s  generation {generation:6.2f}s  peak RSS {peak / 1024:7.1f} MB")
    ratio = medians["defaults"][1] / medians["old defaults"][1]
    memory = (medians["defaults"][2] - medians["old defaults"][2]) / 1024
    print(f"  generation-time ratio: {ratio:.2f}x  (target <= 0.6)")
    print(f"  peak memory difference: {memory:+.1f} MB  (target <= 200 MB)")
    print(f"  identical greedy outputs: {same}/{len(old)}")
    return {"ratio": ratio, "memory_mb": memory, "identical": same, "cases": len(old)}


# HTTP -----------------------------------------------------------------------------


class ScriptedServer(http.server.ThreadingHTTPServer):
    """An OpenAI-compatible server whose latency is ``latency(in_flight)`` seconds."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, latency: Callable[[int], float]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send({"data": [{"id": "scripted"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.in_flight += 1
            self.server.peak = max(self.server.peak, self.server.in_flight)
            in_flight = self.server.in_flight
        time.sleep(self.server.latency(in_flight))
        with self.server.lock:
            self.server.in_flight -= 1
        self._send({"choices": [{"message": {"role": "assistant", "content": '{"action": "list"}'}}]})


def serving(latency: Callable[[int], float]) -> ScriptedServer:
    server = ScriptedServer(latency)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def http_rate(url: str, count: int, concurrency: int, fixed: bool) -> tuple[float, dict[str, Any]]:
    """Requests per second for ``count`` prompts through the HTTP backend, and what the backend reports."""
    from pytest_taskbench.generation.http import HttpBackend, HttpOptions

    backend = HttpBackend(url, HttpOptions(concurrency=concurrency, fixed_concurrency=fixed, model=None))
    prompts = [text_prompt(f"request {i}") for i in range(count)]
    params = GenerationParams(max_new_tokens=16)
    began = time.perf_counter()
    results = backend.generate(prompts, params)
    seconds = time.perf_counter() - began
    backend.close()
    failed = sum(r.text is None for r in results)
    if failed:
        raise RuntimeError(f"{failed} of {count} requests failed: {next(r.error for r in results if r.text is None)}")
    return count / seconds, backend.generation_facts()


def http_fixed_latency(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from pytest_taskbench import defaults as taskbench_defaults

    server = serving(lambda in_flight: 0.2)
    count = args.http_cases
    reference, _ = http_rate(server.url, count, 256, fixed=True)
    server.peak = 0
    default, facts = http_rate(server.url, count, taskbench_defaults.HTTP_CONCURRENCY, fixed=False)
    old, _ = http_rate(server.url, max(80, count // 10), 8, fixed=True)  # 8 in flight: 40 requests/s at best; fewer prompts keep it short
    ideal = 256 / 0.2
    server.shutdown()
    print(f"HTTP, server answering in 200 ms at any load ({count} prompts; ideal at 256 in flight {ideal:.0f} requests/s)")
    print(f"  256 in flight (reference): {reference:7.1f} requests/s")
    print(
        f"  default (adaptive, cap {taskbench_defaults.HTTP_CONCURRENCY}): {default:7.1f} requests/s, up to {facts['http_peak_in_flight']} in flight, "
        f"{facts['http_connections']} connections opened"
    )
    print(f"  old default (8 in flight): {old:7.1f} requests/s")
    print(f"  default / 256 in flight: {default / reference:.2f}  (target >= 0.8)")
    print(f"  default / old default:   {default / old:.1f}x  (target >= 5x)")
    return {"vs_256": default / reference, "vs_old": default / old, "default_rps": default, "reference_rps": reference, "peak": facts["http_peak_in_flight"]}


def http_slowing(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    knee = 16
    server = serving(lambda in_flight: 0.05 * max(1.0, in_flight / knee))  # beyond 16 in flight, each request waits for the others
    count = min(args.http_cases, 1000)
    reference, _ = http_rate(server.url, count, 256, fixed=True)
    server.peak = 0
    default, facts = http_rate(server.url, count, 256, fixed=False)
    server.shutdown()
    print(f"HTTP, server slowing down beyond {knee} requests in flight (50 ms each up to {knee}; {count} prompts)")
    print(f"  256 in flight: {reference:7.1f} requests/s")
    print(f"  default:       {default:7.1f} requests/s, up to {facts['http_peak_in_flight']} in flight (server saw {server.peak})")
    return {"default_rps": default, "reference_rps": reference, "peak": facts["http_peak_in_flight"]}


def transformers_serve(model: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``transformers serve`` on a free loopback port, once it answers /health."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    process = subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"transformers serve did not start:\n{log.read_text()[-2000:]}")


def serve(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from pytest_taskbench.generation.http import HttpBackend, HttpOptions

    prompts, params = shipped_prompts(200)
    process, url = transformers_serve(MODEL, workdir / "serve.log")
    rates = {}
    try:
        for label, concurrency, fixed in (("8 in flight", 8, True), ("default", 256, False)):
            backend = HttpBackend(url, HttpOptions(concurrency=concurrency, fixed_concurrency=fixed))
            began = time.perf_counter()
            backend.generate(prompts, params)
            rates[label] = (len(prompts) / (time.perf_counter() - began), backend.generation_facts())
            backend.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"transformers serve with the shipped model ({len(prompts)} shipped prompts)")
    for label, (rate, facts) in rates.items():
        print(f"  {label:<11} {rate:6.1f} requests/s, up to {facts['http_peak_in_flight']} in flight")
    print(f"  default / 8 in flight: {rates['default'][0] / rates['8 in flight'][0]:.2f}x")
    return {label: rate for label, (rate, _) in rates.items()}


# start-up ---------------------------------------------------------------------------

IMPORTS_FIRST = "import torch, transformers  # noqa\n"
FIRST_OUTPUT = """\
import sys, time
from pytest_taskbench.generation.hf import TransformersBackend
from pytest_taskbench.generation.base import GenerationParams, Prompt
backend = TransformersBackend(sys.argv[1])
prompt = Prompt(({"role": "user", "content": "list my tasks"},), "list my tasks")
for _ in backend.generate_iter([prompt] * 8, GenerationParams(max_new_tokens=32)):
    print("FIRST", flush=True)
    break
"""
INSTANT = 'def respond(prompts):\n    return [\'{"action": "list"}\' for _ in prompts]\n'
MODULES_AT_END = "import sys\ndef pytest_unconfigure():\n    print('HEAVY', ' '.join(m for m in ('torch', 'transformers') if m in sys.modules))\n"


def startup(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    root = workdir / "startup"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    shutil.copytree(REPO / "cases", root / "cases")
    (root / "heavy_first.py").write_text(IMPORTS_FIRST)
    (root / "instant.py").write_text(INSTANT)
    (root / "modules_at_end.py").write_text(MODULES_AT_END)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)])}
    collect = [sys.executable, "-m", "pytest", "--co", "-q", "cases", "-p", "no:cacheprovider", "-p", "modules_at_end"]
    main_job = [sys.executable, "-m", "pytest", "cases", "-q", "--tb=no", "-p", "modules_at_end", "--taskbench-cache-dir=gen-cache"]
    fill = [*main_job, f"--taskbench-model={MODEL}", "--taskbench-threads=1"]  # one thread: on a busy machine, more only wait on each other
    subprocess.run(fill, cwd=root, env=env, capture_output=True, check=False)  # fill the cache
    runs: dict[str, list[float]] = {"collect": [], "collect, heavy imports first": [], "cached run": [], "instant model": []}
    heavy: dict[str, str] = {}
    for _ in range(args.repeat):
        for name, command in (
            ("collect", collect),
            ("collect, heavy imports first", [*collect, "-p", "heavy_first"]),
            ("cached run", [*main_job, f"--taskbench-model={MODEL}"]),
            ("instant model", [*main_job, "--taskbench-model=instant:respond", "--taskbench-no-cache"]),
        ):
            wall, _, output = timed(command, root, env)
            runs[name].append(wall)
            heavy[name] = next((line.removeprefix("HEAVY").strip() for line in output.splitlines() if line.startswith("HEAVY")), "?") or "none"
    began = time.perf_counter()
    first = subprocess.Popen([sys.executable, "-c", FIRST_OUTPUT, str(MODEL)], stdout=subprocess.PIPE, text=True, env=env)
    assert first.stdout is not None
    first.stdout.readline()
    to_first = time.perf_counter() - began
    first.wait()
    median = {name: statistics.median(values) for name, values in runs.items()}
    print(f"start-up (shipped suite, fresh processes, median of {args.repeat})")
    for name, wall in median.items():
        print(f"  {name:<30} {wall:6.2f}s  torch/transformers imported: {heavy[name]}")
    print(f"  collect: {median['collect']:.2f}s vs {median['collect, heavy imports first']:.2f}s with torch and transformers imported first")
    print(f"  cached run / instant model: {median['cached run'] / median['instant model']:.2f}x  (old figure 1.14x)")
    print(f"  from start to the first generated output (shipped model, 8 prompts): {to_first:.2f}s")
    return {
        "collect": median["collect"],
        "collect_heavy": median["collect, heavy imports first"],
        "cached_ratio": median["cached run"] / median["instant model"],
        "first_output": to_first,
        "heavy": heavy,
    }


# continuous batching -----------------------------------------------------------------


def continuous(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import torch
    from transformers import GenerationConfig

    from pytest_taskbench.generation.hf import TransformersBackend

    prompts, params = shipped_prompts(16)  # continuous batching takes tens of seconds per call on CPU: a few prompts say enough
    params = GenerationParams(max_new_tokens=32, use_chat_template=params.use_chat_template)  # no stop strings: the same work both ways
    backend = TransformersBackend(MODEL, batch_size=0, device="cpu")
    backend.load()
    backend.generate(prompts[:2], params)
    began = time.perf_counter()
    static = [g.text for g in backend.generate(prompts, params)]
    static_seconds = time.perf_counter() - began
    model, tokenizer = backend._model, backend._tokenizer  # noqa: SLF001 - the same weights and tokenizer
    inputs = [backend.encode(p, params) for p in prompts]
    config = GenerationConfig(max_new_tokens=params.max_new_tokens, do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    try:
        with torch.inference_mode():
            began = time.perf_counter()
            answers = model.generate_batch(inputs, generation_config=config, warmup=False)
            paged_seconds = time.perf_counter() - began
    except Exception as exc:  # noqa: BLE001 - report what transformers says
        print(f"continuous batching on CPU: not available ({type(exc).__name__}: {str(exc)[:300]})")
        return {"available": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    ordered = [answers[key] for key in sorted(answers, key=lambda k: int(str(k).rsplit("_", 1)[-1]))]
    paged = [tokenizer.decode(a.generated_tokens, skip_special_tokens=True) for a in ordered]
    same = sum(a == b for a, b in zip(static, paged))
    print(f"continuous batching vs static length-sorted batches (CPU, {len(prompts)} shipped prompts, max_new_tokens {params.max_new_tokens})")
    print(f"  static (auto batch): {static_seconds:6.2f}s")
    print(f"  generate_batch:      {paged_seconds:6.2f}s")
    print(f"  ratio: {paged_seconds / static_seconds:.2f}x; identical outputs {same}/{len(prompts)}")
    return {"available": True, "ratio": paged_seconds / static_seconds, "identical": same}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-defaults-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    table: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
        "sweep": sweep,
        "defaults": defaults,
        "http": http_fixed_latency,
        "slowing": http_slowing,
        "serve": serve,
        "startup": startup,
        "continuous": continuous,
    }
    results = {}
    for name in sections:
        results[name] = table[name](args, workdir)
        print()
    print(f"load average at end: {os.getloadavg()[0]:.1f}; peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(json.dumps(results, default=str))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
