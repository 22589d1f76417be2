"""The core plugin end to end: collection, summary, gates, exit statuses, subsets, bad input."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_taskbench.settings import OPTIONS
from tests.helpers.suites import jsonl

MODEL = "--taskbench-model=model:respond"


def test_collects_one_item_per_case_with_readable_node_ids(pytester: pytest.Pytester, demo_suite: Path) -> None:
    result = pytester.runpytest("cases", "--co", "-q")
    result.stdout.fnmatch_lines(
        ["cases/greet.jsonl::g1", "cases/greet.jsonl::g2", "cases/greet.jsonl::g3", "cases/greet.jsonl::g4", "cases/shout.yaml::s1", "5 tests collected*"]
    )
    assert result.ret == 0


def test_summary_reports_categories_difficulties_and_weighted_aggregate(pytester: pytest.Pytester, demo_suite: Path) -> None:
    result = pytester.runpytest("cases", MODEL)
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*taskbench: demo*",
            "5 of 5 cases ran",
            "category  cases   mean  pass rate  weight",
            "greet         4  0.500      50.0%    0.75",
            "shout         1  1.000     100.0%    0.25",
            "difficulty   cases   mean  pass rate",
            "simple           3  0.667      66.7%",
            "moderate         1  1.000     100.0%",
            "adversarial      1  0.000       0.0%",
            "aggregate (category-weighted mean score): 0.625  [significant issues]",
            "pass rate: 3/5 cases scored >= 0.8 (60.0%)",
            "verdict: PASS (all gates hold; 2 cases below the pass threshold)",
        ]
    )
    # cases below the threshold fail as items, but with every gate holding the run passes
    assert result.ret == 0


def test_failing_case_shows_input_expected_output_and_reason(pytester: pytest.Pytester, demo_suite: Path) -> None:
    result = pytester.runpytest("cases", MODEL)
    result.stdout.fnmatch_lines(
        [
            "*greet: g3*",
            "score 0.000 < 0.8: expected 'HI', got 'hi'",
            "case:     cases/greet.jsonl:4 (greet, simple)",
            "input:    hi",
            "expected: HI",
            "output:   hi",
        ]
    )


def test_failing_gate_names_gate_value_and_threshold_and_exits_1(pytester: pytest.Pytester, demo_suite: Path) -> None:
    result = pytester.runpytest("cases", MODEL, "--taskbench-min-aggregate=0.7")
    result.stdout.fnmatch_lines(["  FAIL min_aggregate: weighted aggregate 0.625 < 0.700", "verdict: FAIL (1 gate failed: min_aggregate)"])
    assert result.ret == 1


@pytest.mark.parametrize(
    ("args", "line", "ret"),
    [
        (["--taskbench-min-category=shout=0.9"], "  PASS min_category[shout]: shout mean 1.000 >= 0.900", 0),
        (["--taskbench-min-category=greet=0.6"], "  FAIL min_category[greet]: greet mean 0.500 < 0.600", 1),
        (["--taskbench-min-category=*=0.6"], "  FAIL min_category[greet]: greet mean 0.500 < 0.600", 1),
        (["--taskbench-min-pass-rate=0.5"], "  PASS min_pass_rate: pass rate 0.600 >= 0.500", 0),
        (["--taskbench-strict"], "  FAIL strict: cases below the pass threshold 2 > 0", 1),
        (["--taskbench-pass-threshold=0.0"], "verdict: PASS (all gates hold)", 0),
    ],
)
def test_gate_options(pytester: pytest.Pytester, demo_suite: Path, args: list[str], line: str, ret: int) -> None:
    result = pytester.runpytest("cases", MODEL, *args)
    result.stdout.fnmatch_lines([line])
    assert result.ret == ret


def test_gates_from_suite_file_and_ini_with_cli_overriding(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(
        suite="""\
        name: gated
        categories:
          greet: {weight: 1, scorer: exact_match}
        gates:
          min_aggregate: 0.9
        """,
        files={"greet.jsonl": jsonl([{"id": "a", "input": "x", "expected": "x"}, {"id": "b", "input": "y", "expected": "z"}], {"difficulty": "simple"})},
    )
    from_suite = pytester.runpytest("cases", MODEL)
    from_suite.stdout.fnmatch_lines(["  FAIL min_aggregate: weighted aggregate 0.500 < 0.900"])
    assert from_suite.ret == 1

    pytester.makeini("[pytest]\ntaskbench_model = model:respond\ntaskbench_min_aggregate = 0.4\n")
    from_ini = pytester.runpytest("cases")
    from_ini.stdout.fnmatch_lines(["  PASS min_aggregate: weighted aggregate 0.500 >= 0.400"])
    assert from_ini.ret == 0

    cli_wins = pytester.runpytest("cases", "--taskbench-min-aggregate=0.6")
    cli_wins.stdout.fnmatch_lines(["  FAIL min_aggregate: weighted aggregate 0.500 < 0.600"])
    assert cli_wins.ret == 1


def test_ordinary_test_failure_still_fails_the_run(pytester: pytest.Pytester, demo_suite: Path) -> None:
    pytester.makepyfile(test_other="def test_broken():\n    assert False\n")
    result = pytester.runpytest("cases", "test_other.py", MODEL)
    result.stdout.fnmatch_lines(["verdict: PASS*"])
    assert result.ret == 1


def test_model_error_fails_only_its_case_and_the_max_errors_gate(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(
        files={"greet.jsonl": jsonl([{"id": f"c{i}", "input": f"in{i}", "expected": f"in{i}"} for i in range(4)], {"difficulty": "simple"})},
        model="def respond(prompts):\n    if 'in2' in prompts:\n        raise RuntimeError('GPU on fire')\n    return list(prompts)\n",
    )
    result = pytester.runpytest("cases", MODEL)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*greet: c2*", "model error: RuntimeError: GPU on fire", "  FAIL max_errors: cases the model failed to answer 1 > 0"])
    assert result.ret == 1
    tolerated = pytester.runpytest("cases", MODEL, "--taskbench-max-errors=1")
    assert tolerated.ret == 0


def test_model_returning_wrong_shape_is_a_per_case_error(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(
        files={"greet.jsonl": jsonl([{"id": "a", "input": "x", "expected": "x"}], {"difficulty": "simple"})}, model="def respond(prompts):\n    return 'x'\n"
    )
    result = pytester.runpytest("cases", MODEL)
    result.stdout.fnmatch_lines(["model error: TypeError: callable returned str for 1 prompts; expected a list of 1 strings"])
    assert result.ret == 1


def test_subset_with_k_says_so_and_rewights(pytester: pytest.Pytester, demo_suite: Path) -> None:
    result = pytester.runpytest("cases", MODEL, "-k", "greet and adversarial")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "1 of 5 cases ran (a subset: figures cover only the cases that ran)",
            "aggregate (category-weighted mean score): 0.000  [significant issues]",
            "note: no cases ran for shout: the aggregate re-weights the categories that ran",
        ]
    )


def test_k_selects_by_category_difficulty_and_tag(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(
        files={
            "greet.jsonl": jsonl(
                [
                    {"id": "a", "input": "x", "expected": "x", "difficulty": "complex", "tags": ["calendar"]},
                    {"id": "b", "input": "y", "expected": "y", "difficulty": "simple"},
                ]
            )
        }
    )
    # file-level defaults may omit category: the file stem "greet" names a category
    result = pytester.runpytest("cases", MODEL, "-k", "complex and calendar", "--co", "-q")
    result.stdout.fnmatch_lines(["cases/greet.jsonl::a", "1/2 tests collected (1 deselected)*"])


def test_last_failed_reruns_only_failures_and_reports_a_subset(pytester: pytest.Pytester, demo_suite: Path) -> None:
    pytester.runpytest("cases", MODEL, "-p", "cacheprovider")
    result = pytester.runpytest("cases", MODEL, "--lf")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["2 of 5 cases ran (a subset*"])


def test_exitfirst_stops_and_summarises_what_ran(pytester: pytest.Pytester, demo_suite: Path) -> None:
    result = pytester.runpytest("cases", MODEL, "-x")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["3 of 5 cases ran (a subset*"])
    assert result.ret == 1  # -x interrupts the session on a failure: pytest's status stands


def test_no_model_is_one_usage_error(pytester: pytest.Pytester, demo_suite: Path) -> None:
    result = pytester.runpytest("cases")
    result.stderr.fnmatch_lines(
        [
            "ERROR: taskbench: 5 benchmark cases collected but no model; pass --taskbench-model=PATH, URL, NAME:ARGS or module:function (or --taskbench-outputs=FILE)"
        ]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("missing/checkpoint", "ERROR: taskbench: model path 'missing/checkpoint' does not exist*"),
        ("nomodule:respond", "ERROR: taskbench: cannot import model module 'nomodule'*"),
        ("model:absent", "ERROR: taskbench: 'model:absent': module 'model' has no callable 'absent'"),
    ],
)
def test_bad_model_is_one_usage_error_before_any_item(pytester: pytest.Pytester, demo_suite: Path, model: str, message: str) -> None:
    result = pytester.runpytest("cases", f"--taskbench-model={model}")
    result.stderr.fnmatch_lines([message])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "PASSED" not in result.stdout.str() and "FAILED" not in result.stdout.str()


def test_directory_without_weights_is_a_usage_error(pytester: pytest.Pytester, demo_suite: Path) -> None:
    checkpoint = pytester.mkdir("ckpt")
    (checkpoint / "config.json").write_text('{"model_type": "llama"}')
    result = pytester.runpytest("cases", "--taskbench-model=ckpt")
    result.stderr.fnmatch_lines(["ERROR: taskbench: model path 'ckpt' holds no weights*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--taskbench-min-aggregate=high"],
            "ERROR: taskbench: --taskbench-min-aggregate / ini taskbench_min_aggregate must be a number from 0 to 1, got 'high'",
        ),
        (["--taskbench-min-category=greet"], "ERROR: taskbench: --taskbench-min-category / ini taskbench_min_category: expected CATEGORY=SCORE, got 'greet'"),
        (["--taskbench-batch-size=0"], "ERROR: taskbench: --taskbench-batch-size / ini taskbench_batch_size must be a whole number >= 1, got 0 (or auto)"),
        (["--taskbench-threads=0"], "ERROR: taskbench: --taskbench-threads / ini taskbench_threads must be a whole number >= 1, got 0"),
    ],
)
def test_bad_option_values_are_usage_errors(pytester: pytest.Pytester, demo_suite: Path, args: list[str], message: str) -> None:
    result = pytester.runpytest("cases", MODEL, *args)
    result.stderr.fnmatch_lines([message])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_help_lists_every_option_in_one_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["taskbench: benchmark a language model on your own cases:"])
    text = result.stdout.str()
    for option in OPTIONS:
        assert option.flag in text, option.flag
        assert option.ini_name in text, option.ini_name


def test_taskbench_model_fixture_shares_the_session_model(pytester: pytest.Pytester, demo_suite: Path) -> None:
    pytester.makepyfile(
        test_uses_model="""
        def test_generate(taskbench_model):
            assert taskbench_model.generate(["ping", "pong"]) == ["ping", "pong"]
        """
    )
    result = pytester.runpytest("test_uses_model.py", MODEL)
    result.assert_outcomes(passed=1)


def test_taskbench_model_fixture_without_a_model_fails_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_uses_model="def test_generate(taskbench_model):\n    pass\n")
    result = pytester.runpytest("test_uses_model.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the taskbench_model fixture needs a model: pass --taskbench-model=PATH, URL, NAME:ARGS or module:function*"])


def test_model_heap_is_frozen_while_cases_run_and_handed_back_after(pytester: pytest.Pytester, demo_suite: Path) -> None:
    # pytest's full collections at unconfigure walked the whole torch/transformers heap; the plugin freezes it
    pytester.makepyfile(test_heap="import gc\n\ndef test_frozen_during_the_run():\n    assert gc.get_freeze_count() > 0\n")
    assert gc.get_freeze_count() == 0
    result = pytester.runpytest_inprocess("cases", "test_heap.py", MODEL)
    result.assert_outcomes(passed=4, failed=2)
    assert gc.get_freeze_count() == 0  # an in-process run must not keep the caller's objects from the collector


def test_heap_frozen_by_the_caller_stays_the_callers(pytester: pytest.Pytester, demo_suite: Path) -> None:
    gc.freeze()
    try:
        result = pytester.runpytest_inprocess("cases", MODEL)
        result.assert_outcomes(passed=3, failed=2)
        assert gc.get_freeze_count() > 0  # the plugin did not unfreeze what it had not frozen
    finally:
        gc.unfreeze()


@pytest.mark.slow
def test_interpreter_exit_skips_walking_the_model_heap(pytester: pytest.Pytester, demo_suite: Path) -> None:
    # atexit runs handlers last-in first-out: this one, registered at conftest import, runs after the plugin's
    pytester.makeconftest("import atexit, gc\natexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n")
    result = pytester.runpytest_subprocess("cases", MODEL)
    result.stdout.fnmatch_lines(["frozen at exit: True"])
    no_model = pytester.runpytest_subprocess("cases", "--collect-only")
    no_model.stdout.fnmatch_lines(["frozen at exit: False"])


@pytest.mark.slow  # runs pytest in a subprocess
def test_a_function_model_resolves_from_where_pytest_was_started(pytester: pytest.Pytester) -> None:
    """A project whose pytest config sits higher up (so the rootdir is above) still finds the model module beside the user."""
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    project = pytester.mkdir("bench")
    (project / "cases").mkdir()
    (project / "cases" / "taskbench.yaml").write_text("categories: {a: {weight: 1, scorer: exact_match}}\n")
    (project / "cases" / "a.jsonl").write_text('{"id": "x", "input": "hi", "expected": "hi", "category": "a", "difficulty": "simple"}\n')
    (project / "bench_model.py").write_text("def respond(prompts):\n    return list(prompts)\n")
    console_script = Path(sys.executable).parent / "pytest"  # not `python -m pytest`, which puts the directory on sys.path itself
    done = subprocess.run(
        [str(console_script), "cases", "--taskbench-model=bench_model:respond", "-p", "no:cacheprovider"], cwd=project, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
