"""The generation cache through pytest: re-runs, --lf, new cases, scorer changes, resume after a kill, options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Counts its calls (one line per call: how many prompts) and can die mid-run like a killed job.
COUNTING_MODEL = """\
import os
from pathlib import Path

def respond(prompts):
    log = Path(__file__).with_name("calls.log")
    with log.open("a") as stream:
        stream.write(f"{len(prompts)}\\n")
    limit = os.environ.get("DIE_AFTER_CALLS")
    if limit and len(log.read_text().splitlines()) > int(limit):
        os._exit(3)
    return [prompt.upper() for prompt in prompts]
"""
SUITE = """\
name: cached
categories:
  shout: {weight: 1.0, scorer: exact_match}
"""
MODEL = "--taskbench-model=model:respond"


def write_cases(pytester: pytest.Pytester, words: list[str], suite: str = SUITE) -> None:
    cases = pytester.path / "cases"
    cases.mkdir(exist_ok=True)
    (cases / "taskbench.yaml").write_text(suite)
    rows = [{"id": word, "input": word, "expected": word.upper() if word != "wrong" else "nope", "category": "shout", "difficulty": "simple"} for word in words]
    (cases / "shout.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (pytester.path / "model.py").write_text(COUNTING_MODEL)


def calls(pytester: pytest.Pytester) -> list[int]:
    log = pytester.path / "calls.log"
    return [int(line) for line in log.read_text().splitlines()] if log.exists() else []


def reset_calls(pytester: pytest.Pytester) -> None:
    (pytester.path / "calls.log").unlink(missing_ok=True)


WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "wrong"]


def test_a_rerun_makes_zero_model_calls(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    first = pytester.runpytest(MODEL)
    first.assert_outcomes(passed=5, failed=1)
    assert sum(calls(pytester)) == 6
    reset_calls(pytester)
    second = pytester.runpytest(MODEL)
    second.assert_outcomes(passed=5, failed=1)
    assert calls(pytester) == []
    second.stdout.fnmatch_lines(["*0 generated, 6 from cache*"])


def test_adding_a_case_generates_only_the_new_one(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    pytester.runpytest(MODEL).assert_outcomes(passed=5, failed=1)
    reset_calls(pytester)
    write_cases(pytester, [*WORDS, "foxtrot"])
    pytester.runpytest(MODEL).assert_outcomes(passed=6, failed=1)
    assert calls(pytester) == [1]


def test_last_failed_rerun_comes_from_the_cache(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    pytester.runpytest(MODEL)
    reset_calls(pytester)
    result = pytester.runpytest(MODEL, "--lf")
    result.assert_outcomes(failed=1)
    assert calls(pytester) == []


def test_changing_the_scorer_rescores_from_the_cache(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    pytester.runpytest(MODEL).assert_outcomes(passed=5, failed=1)
    reset_calls(pytester)
    lenient = SUITE.replace("scorer: exact_match", "scorer: {name: exact_match, ignore_case: true}")
    write_cases(pytester, WORDS, suite=lenient)
    pytester.runpytest(MODEL, "--taskbench-pass-threshold=0").assert_outcomes(passed=6)
    assert calls(pytester) == []


def test_a_changed_generation_setting_regenerates(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    pytester.runpytest(MODEL)
    reset_calls(pytester)
    pytester.runpytest(MODEL, "--taskbench-max-new-tokens=7")
    assert sum(calls(pytester)) == 6


def test_no_cache_refresh_and_clear(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    pytester.runpytest(MODEL, "--taskbench-no-cache")
    assert not list(pytester.path.glob(".pytest_cache/d/taskbench/v1/*/*/*.json"))
    pytester.runpytest(MODEL)
    reset_calls(pytester)
    pytester.runpytest(MODEL, "--taskbench-refresh-cache")
    assert sum(calls(pytester)) == 6
    reset_calls(pytester)
    pytester.runpytest(MODEL, "--taskbench-clear-cache")
    assert sum(calls(pytester)) == 6
    reset_calls(pytester)
    pytester.runpytest(MODEL)
    assert calls(pytester) == []


def test_cache_dir_option(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    pytester.runpytest(MODEL, "--taskbench-cache-dir=gen-cache", "-p", "no:cacheprovider")
    assert len(list((pytester.path / "gen-cache").glob("v1/*/*/*.json"))) == 6
    reset_calls(pytester)
    pytester.makeini("[pytest]\ntaskbench_cache_dir = gen-cache\n")
    pytester.runpytest(MODEL, "-p", "no:cacheprovider")
    assert calls(pytester) == []


def test_model_errors_are_not_cached(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    (pytester.path / "model.py").write_text(
        COUNTING_MODEL.replace("return [", "if 'ECHO' in [p.upper() for p in prompts]: raise RuntimeError('flaky')\n    return [")
    )
    pytester.runpytest(MODEL, "--taskbench-batch-size=1").assert_outcomes(passed=4, failed=2)
    reset_calls(pytester)
    pytester.runpytest(MODEL, "--taskbench-batch-size=1")
    assert calls(pytester) == [1]  # only the failed case is asked again


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cases(pytester, WORDS)
    monkeypatch.setenv("DIE_AFTER_CALLS", "2")
    killed = pytester.runpytest_subprocess(MODEL, "--taskbench-batch-size=2")
    assert killed.ret == 3  # os._exit in the third call: the process died mid-run
    assert calls(pytester) == [2, 2, 2]
    monkeypatch.delenv("DIE_AFTER_CALLS")
    reset_calls(pytester)
    resumed = pytester.runpytest(MODEL, "--taskbench-batch-size=2")
    resumed.assert_outcomes(passed=5, failed=1)
    assert calls(pytester) == [2]  # the two batches finished before the kill came from the cache
    resumed.stdout.fnmatch_lines(["*2 generated, 4 from cache*"])


def test_corrupt_cache_is_reported_once_and_the_run_completes(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    pytester.runpytest(MODEL)
    for entry in pytester.path.glob(".pytest_cache/d/taskbench/v1/*/*/*.json"):
        entry.write_bytes(b"\x00garbage")
    reset_calls(pytester)
    result = pytester.runpytest(MODEL)
    result.assert_outcomes(passed=5, failed=1)
    assert sum(calls(pytester)) == 6
    assert result.stdout.str().count("corrupt cache entry") == 1
    result.stdout.fnmatch_lines(["*corrupt cache entry*(and 5 more like it)*"])
    reset_calls(pytester)
    pytester.runpytest(MODEL)
    assert calls(pytester) == []  # the corrupt entries were rewritten


@pytest.mark.slow
def test_xdist_workers_share_the_cache(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    first = pytester.runpytest(MODEL, "-n", "2")
    first.assert_outcomes(passed=5, failed=1)
    assert sum(calls(pytester)) >= 6  # workers may both generate a case ahead; the cache keeps one
    reset_calls(pytester)
    second = pytester.runpytest(MODEL)
    second.assert_outcomes(passed=5, failed=1)
    assert calls(pytester) == []
    second.stdout.fnmatch_lines(["*0 generated, 6 from cache*"])


def test_non_interactive_progress_stays_quiet_for_quick_generation(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    result = pytester.runpytest(MODEL)
    assert "taskbench: generat" not in result.stdout.str()


def test_cache_files_never_hold_the_api_key_name_or_scores(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    pytester.runpytest(MODEL)
    entry = json.loads(next(pytester.path.glob(".pytest_cache/d/taskbench/v1/*/*/*.json")).read_text())
    assert set(entry) == {"key", "output", "model"}
    assert entry["model"].startswith("callable:model:respond:")


def test_help_lists_the_generation_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*--taskbench-cache-dir=DIR*",
            "*--taskbench-no-cache*",
            "*--taskbench-refresh-cache*",
            "*--taskbench-clear-cache*",
            "*--taskbench-outputs=FILE.jsonl*",
            "*--taskbench-check-batching=N*",
        ]
    )


def test_cached_entries_are_one_file_per_output(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    pytester.runpytest(MODEL)
    entries = list(Path(pytester.path).glob(".pytest_cache/d/taskbench/v1/*/*/*.json"))
    assert len(entries) == 6


@pytest.mark.slow
def test_the_batching_check_says_it_is_skipped_under_xdist(pytester: pytest.Pytester) -> None:
    write_cases(pytester, WORDS)
    result = pytester.runpytest(MODEL, "-n", "2", "--taskbench-check-batching=3")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["taskbench generation: --taskbench-check-batching is skipped under pytest-xdist: run it without -n"])
