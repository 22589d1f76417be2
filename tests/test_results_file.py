"""--taskbench-results files: the case round trip, atomic writing, and every refusal of taskbench merge with its message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_taskbench.results import CaseResult, SampleResult
from pytest_taskbench.resultsfile import ResultsFileError, read_results_file
from tests.helpers.merging import merge, run_shards
from tests.helpers.suites import jsonl

MODEL = "--taskbench-model=model:respond"
REFUSED = 4

texts = st.text(max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | texts, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=8
)
results = st.builds(
    CaseResult,
    case_id=st.text(min_size=1, max_size=20),
    nodeid=st.text(min_size=1, max_size=40),
    suite=st.text(min_size=1, max_size=20),
    category=texts,
    difficulty=texts,
    score=st.floats(0, 1),
    passed=st.booleans(),
    status=st.sampled_from(["scored", "error", "broken"]),
    reason=texts,
    output=st.none() | texts,
    input=texts,
    expected=json_values,
    details=st.dictionaries(texts, json_values, max_size=3),
    tags=st.lists(st.text(min_size=1, max_size=8), max_size=3).map(tuple),
    critical=st.booleans(),
    path=texts,
    line=st.integers(0, 10_000),
    threshold=st.floats(0, 1),
    samples=st.lists(
        st.builds(SampleResult, output=st.none() | texts, score=st.floats(0, 1), passed=st.booleans(), reason=texts, error=st.none() | texts), max_size=4
    ).map(tuple),
    policy=st.sampled_from(["mean", "all", "any", "majority", "rate:0.8", "rate:1"]),
)


@pytest.fixture(autouse=True)
def _not_on_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs must not write to the step summary of a CI job that runs the tests."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


@given(results)
def test_a_case_result_comes_back_equal_through_json(result: CaseResult) -> None:
    assert CaseResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_a_case_line_from_a_newer_writer_keeps_loading_and_a_broken_one_is_refused() -> None:
    line = {"case_id": "a", "nodeid": "c/x.jsonl::a", "suite": "c/taskbench.yaml", "category": "k", "difficulty": "simple", "score": 1.0, "passed": True}
    assert CaseResult.from_dict({**line, "judgements": [1, 0, 1]}).score == 1.0  # a field this version does not know
    with pytest.raises(ValueError, match="a case result lacks passed"):
        CaseResult.from_dict({k: v for k, v in line.items() if k != "passed"})
    with pytest.raises(ValueError, match="score must be a number from 0 to 1, got 'high'"):
        CaseResult.from_dict({**line, "score": "high"})
    with pytest.raises(ValueError, match=r"samples\[1\] must be a mapping, got 0"):
        CaseResult.from_dict({**line, "samples": [{"output": "x", "score": 1.0, "passed": True}, 0]})
    with pytest.raises(ValueError, match=r"samples\[0\].score must be a number from 0 to 1, got 2"):
        CaseResult.from_dict({**line, "samples": [{"output": "x", "score": 2, "passed": True}]})
    with pytest.raises(ValueError, match="policy must be one of mean, all, any, majority, rate:X, got 'often'"):
        CaseResult.from_dict({**line, "policy": "often"})


@pytest.fixture
def shards(pytester: pytest.Pytester, demo_suite: Path) -> list[Path]:
    """The demo suite's three shards, written by real runs."""
    return run_shards(pytester, 3, MODEL)


def test_the_shards_merge_and_write_no_temporary_file(pytester: pytest.Pytester, shards: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    status, printed, _ = merge(capsys, *shards)
    assert status == 0 and "taskbench merge: 5 case results from 3 files (3 shards)" in printed
    assert sorted(p.name for p in pytester.path.iterdir() if p.name.endswith(".jsonl") or p.name.endswith(".tmp")) == [f"shard-{i}.jsonl" for i in (1, 2, 3)]
    header = json.loads(shards[0].read_text().splitlines()[0])
    assert header["format"] == "pytest-taskbench-results" and header["shard"] == {"index": 1, "count": 3}
    assert set(header) >= {"suites", "model", "settings", "taskbench_version", "selection", "cases"}
    assert header["suites"]["cases/taskbench.yaml"]["selected"] == 5 and len(header["suites"]["cases/taskbench.yaml"]["content_hash"]) == 64
    assert header["counters"]["generated"] == header["cases"] == len(shards[0].read_text().splitlines()) - 1  # a shard generates only its own cases


def test_a_missing_shard_is_refused(shards: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = merge(capsys, shards[0], shards[2])
    assert status == REFUSED
    assert "shard 2/3 missing: given 1/3 (" in err and "shard-1.jsonl), 3/3 (" in err and "pass every shard's results file" in err


def test_a_shard_given_twice_is_refused(pytester: pytest.Pytester, shards: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    copy = pytester.path / "copy.jsonl"
    shutil.copy(shards[0], copy)
    status, _, err = merge(capsys, *shards, copy)
    assert status == REFUSED
    assert f"{copy}: shard 1/3 is also {shards[0]}: a shard given twice" in err


def test_overlapping_cases_are_refused(shards: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    first, second = (part.read_text().splitlines() for part in shards[:2])
    header = json.loads(second[0])
    header["cases"] += 1
    shards[1].write_text("\n".join([json.dumps(header), *second[1:], first[1]]) + "\n")
    nodeid = json.loads(first[1])["nodeid"]
    status, _, err = merge(capsys, *shards)
    assert status == REFUSED
    assert f"{shards[1]}:{len(second) + 1}: case {nodeid} is also in {shards[0]}:2: the shards overlap" in err


def test_a_file_cut_inside_a_line_is_refused_as_truncated(shards: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    biggest = max(shards, key=lambda p: len(p.read_text().splitlines()))
    text = biggest.read_bytes()
    biggest.write_bytes(text[: len(text) - 20])
    lines = len(text.splitlines())
    status, _, err = merge(capsys, *shards)
    assert status == REFUSED
    assert f"{biggest}:{lines}: truncated: the last line ends inside its JSON" in err


def test_a_file_missing_whole_lines_is_refused_as_truncated(shards: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    biggest = max(shards, key=lambda p: len(p.read_text().splitlines()))
    lines = biggest.read_text().splitlines()
    biggest.write_text("\n".join(lines[:-1]) + "\n")
    status, _, err = merge(capsys, *shards)
    assert status == REFUSED
    assert f"{biggest}: truncated: the header promises {len(lines) - 1} case results, the file holds {len(lines) - 2}" in err


def test_a_file_that_is_no_results_file_is_refused(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    other = pytester.path / "samples.jsonl"
    other.write_text('{"id": "a1"}\n')
    status, _, err = merge(capsys, other)
    assert status == REFUSED and f"{other}:1: not a pytest-taskbench results file" in err
    assert merge(capsys, pytester.path / "absent.jsonl")[2].startswith(f"taskbench merge: {pytester.path / 'absent.jsonl'}: cannot read the results file")


def test_shards_of_different_models_are_refused(pytester: pytest.Pytester, demo_suite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_shards(pytester, 2, MODEL)
    pytester.makepyfile(other="def respond(prompts):\n    return [p.upper() for p in prompts]\n")
    pytester.runpytest("cases", "--taskbench-model=other:respond", "--taskbench-shard=2/2", "--taskbench-results=other.jsonl")
    status, _, err = merge(capsys, first[0], "other.jsonl")
    assert status == REFUSED
    assert "other.jsonl: model 'callable:other:respond:" in err and f"but {first[0]} has 'callable:model:respond:" in err
    assert "shards of different models cannot be merged" in err


def test_shards_of_different_suite_versions_are_refused(pytester: pytest.Pytester, demo_suite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_shards(pytester, 2, MODEL)
    (demo_suite / "greet.jsonl").write_text(jsonl([{"id": "g1", "input": "hello", "expected": "hello", "difficulty": "simple"}]))
    pytester.runpytest("cases", MODEL, "--taskbench-shard=2/2", "--taskbench-results=changed.jsonl")
    status, _, err = merge(capsys, first[0], "changed.jsonl")
    assert status == REFUSED
    assert "changed.jsonl: suite cases/taskbench.yaml has content hash '" in err and "the shards ran different versions of the suite" in err


def test_a_suite_changed_since_the_shards_ran_is_refused(
    pytester: pytest.Pytester, shards: list[Path], demo_suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (demo_suite / "shout.yaml").write_text("- id: s1\n  input: abc\n  expected: abc\n  difficulty: moderate\n  category: shout\n")
    status, _, err = merge(capsys, *shards)
    assert status == REFUSED
    assert f"{shards[0]}: suite cases/taskbench.yaml changed since the shards ran" in err and "merge in a checkout of the commit the shards ran" in err


def test_shards_with_other_score_settings_are_refused(pytester: pytest.Pytester, demo_suite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_shards(pytester, 2, MODEL)
    pytester.runpytest("cases", MODEL, "--taskbench-shard=2/2", "--taskbench-results=lenient.jsonl", "--taskbench-pass-threshold=0.5")
    status, _, err = merge(capsys, first[0], "lenient.jsonl")
    assert status == REFUSED
    assert 'lenient.jsonl: score-changing settings pass_threshold = {"pass_threshold": 0.5}, but' in err


def test_reading_a_file_reports_the_line_of_a_bad_case(tmp_path: Path, shards: list[Path]) -> None:
    lines = shards[0].read_text().splitlines()
    row = json.loads(lines[1])
    row["passed"] = "yes"
    shards[0].write_text("\n".join([lines[0], json.dumps(row), *lines[2:]]) + "\n")
    with pytest.raises(ResultsFileError, match=r"shard-1.jsonl:2: passed must be true or false, got 'yes'"):
        read_results_file(shards[0])
