"""The progress display: in place on a terminal, a few lines in CI logs, nothing with -q or quick generation."""

from __future__ import annotations

import json

import pytest

from pytest_taskbench.generation.engine import Progress
from pytest_taskbench.generation.progress import ProgressPrinter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_printer(printer: ProgressPrinter, clock: Clock, total: int = 100, step: int = 5, seconds_per_step: float = 0.5) -> None:
    printer(Progress(total, 0, 3, 0.0))
    done = 0
    while done < total:
        done += step
        clock.now += seconds_per_step
        printer(Progress(total, done, 3, clock.now))
    printer(Progress(total, total, 3, clock.now, finished=True))


def test_ci_logs_get_a_few_lines_for_long_generation() -> None:
    lines: list[str] = []
    clock = Clock()
    run_printer(ProgressPrinter(lines.append, None, clock), clock)
    assert 3 <= len(lines) <= 5
    assert lines[0] == "taskbench: generating 100 outputs, 3 from cache ..."
    assert lines[-1].startswith("taskbench: generated 100 outputs, 3 from cache in 10.0s")


def test_ci_logs_get_nothing_for_quick_generation() -> None:
    lines: list[str] = []
    clock = Clock()
    run_printer(ProgressPrinter(lines.append, None, clock), clock, seconds_per_step=0.01)
    assert lines == []


def test_a_terminal_gets_one_line_rewritten_in_place() -> None:
    lines: list[str] = []
    rewrites: list[str] = []
    clock = Clock()
    run_printer(ProgressPrinter(lines.append, rewrites.append, clock), clock, seconds_per_step=0.1)
    assert lines == [""]  # only the newline that ends the progress line
    assert rewrites[0].endswith("...") and rewrites[-1].startswith("taskbench: generated 100")
    assert len(rewrites) <= 2 + 100 // 5 // 2 + 1  # throttled to ~5 a second


SLOW_MODEL = """\
import time

def respond(prompts):
    time.sleep(0.6)
    return list(prompts)
"""


@pytest.mark.slow
@pytest.mark.parametrize(("flags", "expect_progress"), [((), True), (("-q",), False)])
def test_progress_in_a_slow_run_and_quiet_with_q(pytester: pytest.Pytester, flags: tuple[str, ...], expect_progress: bool) -> None:
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text("name: slow\ncategories:\n  echo: {weight: 1.0, scorer: exact_match}\n")
    rows = [{"id": f"c{i}", "input": f"w{i}", "expected": f"w{i}", "category": "echo", "difficulty": "simple"} for i in range(6)]
    (cases / "echo.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (pytester.path / "model.py").write_text(SLOW_MODEL)
    result = pytester.runpytest("--taskbench-model=model:respond", "--taskbench-batch-size=1", "--taskbench-no-cache", *flags)
    result.assert_outcomes(passed=6)
    output = result.stdout.str()
    assert ("taskbench: generating 6 outputs ..." in output) is expect_progress
    assert ("taskbench: generated 6 outputs" in output) is expect_progress
    assert output.count("taskbench: generat") <= 5
