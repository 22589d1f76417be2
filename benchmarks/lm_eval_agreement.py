"""Do pytest-taskbench and lm-evaluation-harness agree on the same task and the same local model?

Exports one category of a taskbench suite (or all of it) as an lm-eval task,
runs it through ``lm_eval --model hf`` and through pytest with the same model,
batch size and dtype, and prints per-document agreement of the generated text
and of exact_match, and the median wall time of both tools over ``--repeat``
fresh processes each (model loading and interpreter exit included), the tools
taking turns after one untimed warm-up run each.

lm-eval is not a dependency of pytest-taskbench; install it in its own venv,
torch pinned in the same command so pip never swaps in a CUDA build:

    python -m venv /tmp/lmeval-venv
    /tmp/lmeval-venv/bin/pip install "torch==2.13.0" "transformers==5.24.0" "accelerate==1.15.0" "lm-eval[hf]"

Then (offline; nothing is downloaded):

    python benchmarks/lm_eval_agreement.py --model models/task-api-tiny --category action_recognition --batch-size 8
    python benchmarks/lm_eval_agreement.py --category all --batch-size auto --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pytest_taskbench.lmeval.export import export_suite  # noqa: E402
from pytest_taskbench.suite import load_suite  # noqa: E402


@dataclass
class Row:
    output: str
    exact_match: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_model = next((p for p in (REPO / "models/task-api-tiny", REPO / "models/task-api-tiny-early") if p.is_dir()), REPO / "models/task-api-tiny")
    parser.add_argument("--model", type=Path, default=default_model, help="local transformers checkpoint")
    parser.add_argument("--suite", type=Path, default=REPO / "cases", help="taskbench suite directory")
    parser.add_argument("--category", default="action_recognition", help="category exported as the lm-eval task ('all': the whole suite as one task)")
    parser.add_argument("--limit", type=int, default=0, help="first N documents only (0: all)")
    parser.add_argument(
        "--batch-size",
        default="8",
        help="the same batch size for both runs; 'auto': each tool sizes its own batches; 'default': each tool's default (lm-eval 1, pytest-taskbench 8)",
    )
    parser.add_argument("--lm-eval", default="/tmp/lmeval-venv/bin/lm_eval", help="the lm_eval executable")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lm_eval_agreement"))
    parser.add_argument("--no-warmup", action="store_true", help="time the first (cold) run of each tool instead")
    parser.add_argument(
        "--chat-template",
        action="store_true",
        help="lm_eval --apply_chat_template vs --taskbench-lm-eval-chat-template (a model without a chat template is copied and given a simple one)",
    )
    parser.add_argument("--all-plugins", action="store_true", help="let pytest load every installed plugin, as a user's environment would")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each tool, taking turns; the medians are compared")
    return parser.parse_args(argv)


# Role markers show the template was applied; ending on the user's own text ("... JSON:") lets a model trained
# without a chat template still answer, so the outputs compared are real answers rather than all empty.
SIMPLE_CHAT_TEMPLATE = "{% for message in messages %}[{{ message['role'] }}] {{ message['content'] }}{% if not loop.last %}\n{% endif %}{% endfor %}"


def with_chat_template(model: Path, workdir: Path) -> Path:
    """The model itself when its tokenizer has a chat template, else a copy given a simple one."""
    config = json.loads((model / "tokenizer_config.json").read_text())
    if config.get("chat_template") or (model / "chat_template.jinja").is_file():
        return model
    copy = workdir / f"{model.name}-chat"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(model, copy)
    (copy / "chat_template.jinja").write_text(SIMPLE_CHAT_TEMPLATE)
    return copy


def offline_env() -> dict[str, str]:
    # Both tools run as on an ordinary machine: bytecode caching on (some sandboxes and CI images set
    # PYTHONDONTWRITEBYTECODE, which makes every run recompile torch, transformers and the tool itself).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@dataclass
class ToolRun:
    """One tool's command line, environment and log, and where its per-document results land."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    results: Path

    def run(self, cwd: Path, quiet: bool = False) -> float:
        """Wall time of one fresh process (model loading and interpreter exit included)."""
        began = time.perf_counter()
        with open(os.devnull, "w") if quiet else self.log.open("w") as out:
            completed = subprocess.run(self.command, cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, check=False)
        elapsed = time.perf_counter() - began
        if completed.returncode not in (0, 1):  # pytest exits 1 when cases fail: that is a result, not a crash
            sys.exit(f"{self.name} exited {completed.returncode}; see {self.log}")
        return elapsed


def lm_eval_run(args: argparse.Namespace, task_dir: Path, task: str) -> ToolRun:
    model_args = f"pretrained={args.model.resolve()},dtype=float32"
    command = [args.lm_eval, "--model", "hf", "--model_args", model_args, "--device", "cpu"]
    command += [] if args.batch_size == "default" else ["--batch_size", args.batch_size]
    results = args.workdir / "lm_eval_out"
    command += ["--include_path", str(task_dir), "--tasks", task, "--log_samples", "--output_path", str(results)]
    command += ["--apply_chat_template"] if args.chat_template else []
    return ToolRun("lm-eval", command, offline_env(), args.workdir / "lm_eval.log", results)


def lm_eval_rows(tool: ToolRun, task: str) -> dict[int, Row]:
    """Per-document results of the latest lm-eval run (each run writes its own samples file)."""
    samples = max(tool.results.rglob(f"samples_{task}_*.jsonl"), key=lambda p: p.stat().st_mtime)
    rows = {}
    for line in samples.read_text().splitlines():
        sample = json.loads(line)
        rows[int(sample["doc_id"])] = Row(sample["resps"][0][0], float(sample["exact_match"]))
    return rows


def pytest_run(args: argparse.Namespace, task_file: Path) -> ToolRun:
    (args.workdir / "pytest.ini").write_text("[pytest]\n")  # keep the repository's pytest configuration out
    # Each tool alone: pytest loads only the taskbench plugin, not whatever else the environment has installed
    # (this repository's test extra brings hypothesis, whose plugin imports all of hypothesis in every session).
    only_taskbench = [] if args.all_plugins else ["-p", "pytest_taskbench.plugin"]
    env = offline_env() if args.all_plugins else {**offline_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [sys.executable, "-m", "pytest", *only_taskbench, str(task_file), f"--taskbench-model={args.model.resolve()}"]
    command += [] if args.batch_size == "default" else [f"--taskbench-batch-size={args.batch_size}"]
    command += ["--taskbench-lm-eval-chat-template"] if args.chat_template else []
    results = args.workdir / "pytest_samples.jsonl"
    command += ["--taskbench-dtype=float32", "--taskbench-no-cache", f"--taskbench-log-samples={results}", "-p", "no:cacheprovider", "-q", "-c", "pytest.ini"]
    return ToolRun("pytest", command, env, args.workdir / "pytest.log", results)


def pytest_rows(tool: ToolRun) -> dict[int, Row]:
    rows = {}
    for line in tool.results.read_text().splitlines():
        sample = json.loads(line)
        metric = next(value for key, value in sample["details"].items() if key.startswith("exact_match,"))
        rows[int(sample["case_id"].removeprefix("doc_"))] = Row(sample["output"], float(metric))
    return rows


def timed_alternately(runs: list[ToolRun], cwd: Path, repeat: int, warmup: bool) -> dict[str, list[float]]:
    """``repeat`` wall times per tool, the tools taking turns so drift in machine load hits both alike.

    One untimed warm-up run per tool first fills the bytecode and file-system caches for both tools alike.
    """
    if warmup:
        for tool in runs:
            tool.run(cwd, quiet=True)
    times: dict[str, list[float]] = {tool.name: [] for tool in runs}
    for _ in range(repeat):
        for tool in runs:
            times[tool.name].append(tool.run(cwd))
    return times


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    task_dir = args.workdir / "task"
    result = export_suite(
        load_suite(args.suite / "taskbench.yaml"), task_dir, category=None if args.category == "all" else args.category, task_name=f"agreement_{args.category}"
    )
    if args.limit:
        lines = result.data_path.read_text().splitlines(keepends=True)[: args.limit]
        result.data_path.write_text("".join(lines))
    task = result.yaml_path.stem
    if args.chat_template:
        args.model = with_chat_template(args.model.resolve(), args.workdir)
    print(
        f"task {task}: {len(result.data_path.read_text().splitlines())} documents, model {args.model}, batch size {args.batch_size}, cpu, float32{', chat template' if args.chat_template else ''}"
    )

    lm_eval_tool, pytest_tool = lm_eval_run(args, task_dir, task), pytest_run(args, result.yaml_path)
    times = timed_alternately([lm_eval_tool, pytest_tool], args.workdir, args.repeat, not args.no_warmup)
    lm_rows, py_rows = lm_eval_rows(lm_eval_tool, task), pytest_rows(pytest_tool)
    lm_seconds, py_seconds = statistics.median(times["lm-eval"]), statistics.median(times["pytest"])

    docs = sorted(lm_rows)
    missing = sorted(set(lm_rows) ^ set(py_rows))
    same_text = [d for d in docs if d in py_rows and lm_rows[d].output == py_rows[d].output]
    same_em = [d for d in docs if d in py_rows and lm_rows[d].exact_match == py_rows[d].exact_match]
    print(f"documents compared:        {len(docs)} (only in one run: {len(missing)})")
    print(f"identical generated text:  {len(same_text)}/{len(docs)}")
    print(f"identical exact_match:     {len(same_em)}/{len(docs)}")
    print(
        f"exact_match mean:          lm-eval {sum(r.exact_match for r in lm_rows.values()) / len(docs):.4f}, pytest {sum(r.exact_match for r in py_rows.values()) / max(1, len(py_rows)):.4f}"
    )
    runs = ", ".join(f"{name} " + " ".join(f"{t:.1f}" for t in values) for name, values in times.items())
    print(
        f"wall time (median of {args.repeat}): lm-eval {lm_seconds:.1f}s, pytest {py_seconds:.1f}s (pytest/lm-eval = {py_seconds / lm_seconds:.2f}; runs: {runs})"
    )
    for d in [d for d in docs if d not in same_text][:5]:
        print(f"  doc_{d}: lm-eval {lm_rows[d].output!r} vs pytest {py_rows.get(d, Row('<missing>', 0)).output!r}")
    return 0 if len(same_text) == len(same_em) == len(docs) and not missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
