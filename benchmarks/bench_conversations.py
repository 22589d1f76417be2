"""Conversation benchmark: the plugin's turn-by-turn batching against one conversation at a time, same outputs.

    nice python benchmarks/bench_conversations.py                     # 200 conversations, the shipped model
    python benchmarks/bench_conversations.py --conversations 40       # a quicker look

The script builds ``--conversations`` conversations of 2 to 5 turns (seeded) against the
built-in ``task_api`` environment and runs them twice, each in a fresh process (imports and
the model's load included), with ``--threads`` torch threads:

- **plugin**: ``pytest`` on a suite of those cases with ``--taskbench-model=MODEL`` and the cache
  off: turn 1 of every conversation in length-sorted batches, then turn 2, and so on;
- **one at a time**: a loop that plays each conversation to its end before the next, one
  prompt per ``model.generate`` call (plain transformers, greedy, the same stop sequence),
  building each prompt with the same transcript code and executing each answer in ``task_api``.

It asserts that both produce the same output at every turn of every conversation (exit
status 1 and the differing turns listed otherwise) and prints the time ratio. Target: >= 3x.
Nothing is downloaded; everything runs offline on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

SUITE = """\
name: bench-conversations
environment: task_api
conversation_policy: mean
reference_date: 2026-03-04
categories:
  talk: {weight: 1.0, scorer: json_subset}
prompt:
  template: "Today is Wednesday {reference_date}.\\nRequest: {input}\\nJSON:"
  turn_template: "Request: {input}\\nJSON:"
  observation_template: "Result: {observation}"
  chat_template: false
generation:
  max_new_tokens: 96
  stop: ["\\n"]
  temperature: 0
min_cases: 1
"""
TITLES = [
    "call the plumber", "pay rent", "book the dentist", "renew my passport", "order printer ink", "water the plants",
    "send the invoice", "prepare slides for Monday", "buy a birthday gift for Ana", "fix the bike", "email the landlord",
    "review the contract", "pick up the dry cleaning", "schedule a haircut", "file the expense report", "clean the garage",
]  # fmt: skip
FOLLOW_UPS = [
    ("make it high priority", {"action": "update", "priority": "high"}),
    ("actually make it urgent", {"action": "update", "priority": "urgent"}),
    ("move it to March {day}", {"action": "update", "due_date": "2026-03-{day:02d}"}),
    ("that one's done", {"action": "complete"}),
    ("show me my open tasks", {"action": "list"}),
    ("give it to Bruno", {"action": "update", "assignee": "Bruno"}),
    ("delete it", {"action": "delete"}),
]


def build_cases(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` conversations of 2 to 5 turns: a task created, then follow-ups that refer to it."""
    rng = random.Random(seed)
    cases = []
    for index in range(count):
        title = rng.choice(TITLES)
        turns: list[dict[str, Any]] = [{"user": f"add a task to {title}", "expected": {"action": "create"}}]
        for _ in range(rng.randint(1, 4)):
            text, expected = rng.choice(FOLLOW_UPS)
            day = rng.randint(5, 28)
            turns.append({"user": text.format(day=day), "expected": {k: v.format(day=day) if isinstance(v, str) else v for k, v in expected.items()}})
        initial = {"tasks": [{"title": rng.choice([t for t in TITLES if t != title]).capitalize(), "priority": "medium", "status": "open"}]}
        cases.append({"id": f"conv_{index:03d}", "category": "talk", "difficulty": "simple", "initial_state": initial, "turns": turns})
    return cases


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "models/task-api-tiny", help="local transformers checkpoint")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target is for 2 CPU cores)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)  # internal: run the one-at-a-time loop in this process
    return parser.parse_args(argv)


def one_at_a_time(model_path: Path, suite_dir: Path, out: Path, threads: int) -> None:
    """Play every conversation to its end before the next: one prompt per ``generate`` call. Writes each case's outputs."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pytest_taskbench.environments.conversation import Exchange, execute_all, observation_json, opening_prompt, read_actions, start, turn_prompt
    from pytest_taskbench.generation.base import apply_stop
    from pytest_taskbench.suite import load_suite

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    suite = load_suite(suite_dir / "taskbench.yaml")
    params = suite.generation
    outputs: dict[str, list[str]] = {}
    for path in suite.case_files():
        for case in suite.load_cases(path).cases:
            assert case.conversation is not None
            environment = start(case, suite.conversation)
            users = [turn.user for turn in case.conversation.turns]
            exchanges: list[Exchange] = []
            texts: list[str] = []
            opening = opening_prompt(suite.prompt_for(case), environment)
            for _ in users:
                prompt = turn_prompt(opening, suite.conversation, users, exchanges)
                ids = tokenizer(prompt.text, add_special_tokens=False, return_tensors="pt")
                with torch.inference_mode():
                    generated = model.generate(
                        **ids, max_new_tokens=params.max_new_tokens, do_sample=False, pad_token_id=pad, stop_strings=list(params.stop), tokenizer=tokenizer
                    )
                text = apply_stop(tokenizer.decode(generated[0, ids["input_ids"].shape[1] :], skip_special_tokens=True), params.stop)
                texts.append(text)
                exchanges.append(Exchange(text, observation_json(execute_all(environment, read_actions(text, case, "auto")))))
            outputs[case.id] = texts
    out.write_text(json.dumps(outputs), encoding="utf-8")


def plugin_outputs(results: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in results.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        conversation = row.get("conversation") if isinstance(row, dict) else None
        if conversation:
            found[row["case_id"]] = [turn["output"] for turn in conversation["turns"]]
    return found


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode not in (0, 1):  # 1: some conversations fail their cases, which is not the benchmark's business
        sys.exit(f"command failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.loop:
        assert args.workdir is not None
        one_at_a_time(args.model.resolve(), args.workdir / "suite", args.workdir / "loop.json", args.threads)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-conv-") as scratch:
        work = args.workdir or Path(scratch)
        suite = work / "suite"
        suite.mkdir(parents=True, exist_ok=True)
        (suite / "taskbench.yaml").write_text(SUITE, encoding="utf-8")
        cases = build_cases(args.conversations)
        (suite / "talk.jsonl").write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
        turns = sum(len(case["turns"]) for case in cases)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        model = str(args.model.resolve())
        print(f"{len(cases)} conversations, {turns} turns (2 to 5 a conversation), model {args.model}, {args.threads} torch threads")
        plugin_command = [
            sys.executable,
            "-m",
            "pytest",
            str(suite),
            f"--taskbench-model={model}",
            "--taskbench-no-cache",
            "-p",
            "no:cacheprovider",
            "-q",
            "--tb=no",
        ]
        plugin_command += [f"--taskbench-results={work / 'results.jsonl'}", f"--taskbench-threads={args.threads}"]
        plugin = timed(plugin_command, work, env)
        loop = timed([sys.executable, __file__, "--loop", f"--model={model}", f"--workdir={work}", f"--threads={args.threads}"], work, env)
        batched, alone = plugin_outputs(work / "results.jsonl"), json.loads((work / "loop.json").read_text(encoding="utf-8"))
        differing = [
            (case_id, turn)
            for case_id, texts in alone.items()
            for turn, text in enumerate(texts, start=1)
            if batched.get(case_id, [])[turn - 1 : turn] != [text]
        ]
        print(f"plugin (turn by turn, batched across conversations): {plugin:.1f}s")
        print(f"one conversation at a time (transformers generate):  {loop:.1f}s")
        print(f"ratio: {loop / plugin:.2f}x faster (target >= 3x)")
        print(f"outputs: {turns - len(differing)} of {turns} turns identical")
        for case_id, turn in differing[:10]:
            print(f"  differs: {case_id} turn {turn}: plugin {batched.get(case_id, [])[turn - 1 : turn]!r} vs alone {alone[case_id][turn - 1]!r}")
        return 1 if differing or len(batched) != len(alone) else 0


if __name__ == "__main__":
    sys.exit(main())
