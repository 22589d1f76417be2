"""The ``taskbench`` command: suite maintenance outside a pytest run.

Each subcommand is one ``Command`` in ``COMMANDS``: a name, a help line, a
function that declares its arguments and a function that runs it and returns
the exit status (0 success, 1 refused or failed, 2 usage error from argparse;
``merge`` returns the merged run's status, as pytest would, and 4 when it refuses its input).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import DIFFICULTIES
from pytest_taskbench.cli.calibrate import configure_calibrate, run_calibrate
from pytest_taskbench.cli.merge import configure_history, configure_merge, run_history, run_merge
from pytest_taskbench.guards.files import split_lines
from pytest_taskbench.lmeval.export import configure_export, run_export


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def json_value(text: str) -> Any:
    """argparse type: a JSON value, or a clean usage error that quotes the problem."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at column {exc.colno}): {text!r}") from None


def tag_list(text: str) -> list[str]:
    """argparse type: comma-separated tags."""
    return [tag.strip() for tag in text.split(",") if tag.strip()]


# --------------------------------------------------------------------------- add-case


def _configure_add_case(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the JSONL case file to append to (created if missing)")
    parser.add_argument("--id", required=True, help="case id, unique in the file (e.g. action_101)")
    parser.add_argument("--input", required=True, help="the request, exactly as production saw it")
    parser.add_argument("--expected", required=True, type=json_value, help='the right answer as JSON, e.g. \'{"action": "list"}\'')
    parser.add_argument("--category", help="the case's category (default: the file's stem when it names a suite category)")
    parser.add_argument("--difficulty", required=True, help=f"the case's difficulty: {', '.join(DIFFICULTIES)}, or one of the suite's own difficulties")
    parser.add_argument("--rationale", default="", help="why this case exists and what a right answer must get right")
    parser.add_argument("--tags", type=tag_list, default=[], help="comma-separated tags, e.g. regression,prod-2026-03")
    parser.add_argument("--critical", action="store_true", help="a case that must never regress")
    parser.add_argument("--scorer", help="scorer name for this case only (default: the category's)")


def _run_add_case(args: argparse.Namespace) -> int:
    from pytest_taskbench.cli.case_files import append_case, check_new_case

    case: dict[str, Any] = {"id": args.id, "input": args.input, "expected": args.expected}
    if args.category:
        case["category"] = args.category
    case["difficulty"] = args.difficulty
    if args.scorer:
        case["scorer"] = args.scorer
    if args.critical:
        case["critical"] = True
    if args.tags:
        case["tags"] = args.tags
    if args.rationale:
        case["rationale"] = args.rationale
    problems = check_new_case(args.file, case)
    if problems:
        print(f"taskbench add-case: not added to {args.file}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    append_case(args.file, case)
    print(f"added case {args.id!r} to {args.file}")
    return 0


# --------------------------------------------------------------------------- generate


def _configure_generate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="YAML generator spec: slots, templates, quotas (see docs)")
    parser.add_argument("--out", type=Path, required=True, help="directory receiving one <category>.jsonl per category")
    parser.add_argument("--seed", type=int, help="override the spec's seed")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="replace only the cases tagged 'generated' in existing files, keeping hand-written cases",
    )


def _run_generate(args: argparse.Namespace) -> int:
    from pytest_taskbench.cli.case_files import CasegenError, merge_generated, write_case_file
    from pytest_taskbench.cli.casegen import generate_from_spec, load_spec

    try:
        spec = load_spec(args.spec)
        avoid = _hand_written_inputs(args.out) if args.merge else set()
        cases = generate_from_spec(spec, seed=args.seed, avoid_inputs=avoid)
    except CasegenError as exc:
        print(f"taskbench generate: {exc}", file=sys.stderr)
        return 1
    by_category: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        by_category.setdefault(case["category"], []).append(case)
    for category, group in by_category.items():
        target = args.out / f"{category}.jsonl"
        if args.merge:
            written, kept = merge_generated(target, group)
            print(f"{target}: {written} generated cases, {kept} other lines kept")
        else:
            write_case_file(target, group)
            print(f"{target}: {len(group)} cases")
    return 0


def _hand_written_inputs(directory: Path) -> set[str]:
    """Inputs of the existing non-generated cases, so generation never duplicates one."""
    from pytest_taskbench.cli.case_files import GENERATED_TAG

    inputs: set[str] = set()
    for file in sorted(directory.glob("*.jsonl")):
        for line in split_lines(file.read_text(encoding="utf-8")):
            try:
                data = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(data, dict) and isinstance(data.get("input"), str) and GENERATED_TAG not in (data.get("tags") or []):
                inputs.add(data["input"])
    return inputs


COMMANDS: list[Command] = [
    Command("add-case", "validate one case and append it to a case file", _configure_add_case, _run_add_case),
    Command("generate", "generate stratified cases from a template spec", _configure_generate, _run_generate),
    Command("export-lm-eval", "export a suite (or one category) as an lm-evaluation-harness task directory", configure_export, run_export),
    Command("merge", "one verdict and every report from the results files of a run's shards (--taskbench-results)", configure_merge, run_merge),
    Command("history", "the trend of the runs recorded with --taskbench-history", configure_history, run_history),
    Command("calibrate-judge", "measure how far a suite's model judge agrees with the human labels", configure_calibrate, run_calibrate),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskbench", description="Maintain pytest-taskbench suites.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``taskbench`` console script."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
