"""The judge scorer in real pytest runs: trusted and untrusted judges, judge errors, the cache, bad input, xdist, the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_taskbench.cli.main import main
from tests.helpers.judging import write_labelled_suite


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("cases", "--taskbench-outputs=outputs.jsonl", *args)


def test_an_oracle_judge_is_trusted_and_its_category_gates(pytester: pytest.Pytester) -> None:
    write_labelled_suite(pytester.path, "judges:oracle")
    result = run(pytester)
    result.stdout.fnmatch_lines(
        [
            "judge calibration (agreement with the human labels):",
            "  judge default (pass_fail) on replies: 10 of 10 judged cases labelled; accuracy 100.0% (10/10); kappa 1.000 (95% CI 1.000 to 1.000); trusted:*",
            "    human \\ judge  fail  pass",
            "    fail              5     0",
            "    pass              0     5",
        ]
    )
    result.stdout.fnmatch_lines(["*FAIL min_category?replies?: replies mean 0.500 < 0.900", "*PASS judge_min_agreement?default?:*trusted, replies gated"])
    # the judge's reasoning is in the failure message
    result.stdout.fnmatch_lines(["score 0.000 < 0.8: judge default: fail; the response * differs from the reference", "judge:    default said fail: *"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_judge_that_disagrees_with_people_is_not_trusted_and_cannot_fail_the_run(pytester: pytest.Pytester) -> None:
    write_labelled_suite(pytester.path, "judges:contrarian")
    result = run(pytester)
    result.stdout.fnmatch_lines(
        [
            "note: judge default is not trusted (lower bound of kappa's 95% interval -1.000 < 0.5 required): replies reported, not gated",
            "note: the gates read the categories a trusted scorer scored (plain; their weighted aggregate 1.000)",
        ]
    )
    result.stdout.fnmatch_lines(["*accuracy 0.0% (0/10); kappa -1.000 (95% CI -1.000 to *); NOT trusted*"])
    result.stdout.fnmatch_lines(["*PASS judge_min_agreement?default?:*NOT trusted: replies reported, not gated", "verdict: PASS*"])
    assert "min_category[replies]" not in result.stdout.str()  # the untrusted category is not gated
    result.assert_outcomes(passed=7, failed=5)  # its cases still pass or fail on the judge's word: reported
    assert result.ret == pytest.ExitCode.OK


def test_a_rerun_asks_the_judge_nothing(pytester: pytest.Pytester) -> None:
    write_labelled_suite(pytester.path, "judges:oracle")
    run(pytester).stdout.fnmatch_lines(["judges: 10 answers (10 asked, 0 from cache; 1 model call, judge loaded 1 time)"])
    again = run(pytester)
    again.stdout.fnmatch_lines(["judges: 10 answers (0 asked, 10 from cache; 0 model calls, judge loaded 1 time)"])  # a callable: imported
    assert len(list(pytester.path.glob(".pytest_cache/d/taskbench/v1/*/*/*.json"))) == 10
    # a changed rubric is another prompt: asked again
    suite = pytester.path / "cases" / "taskbench.yaml"
    suite.write_text(suite.read_text().replace("same action and title", "same action, title and nothing else"))
    run(pytester).stdout.fnmatch_lines(["judges: 10 answers (10 asked, 0 from cache; 1 model call*"])


def test_an_answer_with_no_verdict_is_a_judge_error_on_its_case_and_gated(pytester: pytest.Pytester) -> None:
    write_labelled_suite(pytester.path, "judges:mumbler")
    suite = pytester.path / "cases" / "taskbench.yaml"
    suite.write_text(suite.read_text().replace("  judge_min_agreement: 0.5\n", ""))
    result = run(pytester)
    result.stdout.fnmatch_lines(["replies      10  0.000       0.0%    0.50  (10 judge errors)"])
    result.stdout.fnmatch_lines(["judge error: judge 'default' gave no readable verdict (\"pass\" or \"fail\"): 'hmm, hard to say'"])
    result.stdout.fnmatch_lines(["  FAIL max_judge_errors: cases the judge gave no readable verdict on 10 > 0"])
    result.stdout.fnmatch_lines(["*judge default (pass_fail)*accuracy 0.0% (0/10); kappa 0.000*no minimum agreement required*"])
    result.assert_outcomes(passed=2, failed=10)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_judge_that_cannot_load_fails_its_cases_and_the_run_goes_on(pytester: pytest.Pytester) -> None:
    write_labelled_suite(pytester.path, "models/no-such-judge")
    result = run(pytester)
    result.stdout.fnmatch_lines(["judge error: judge 'default' failed: cannot load models/no-such-judge: model path 'models/no-such-judge' does not exist*"])
    result.assert_outcomes(passed=2, failed=10)


def test_a_rubric_with_no_scale_is_a_broken_case_that_names_its_file_and_line(pytester: pytest.Pytester) -> None:
    write_labelled_suite(pytester.path)
    suite = pytester.path / "cases" / "taskbench.yaml"
    suite.write_text(suite.read_text().replace(", scale: pass_fail", ""))
    result = run(pytester)
    result.stdout.fnmatch_lines(
        ["broken case definition: cases/replies.jsonl:1: case 'r00': bad parameters for scorer 'judge': the judge needs a scale: pass_fail, *"]
    )
    result.assert_outcomes(passed=2, failed=10)


def test_a_label_off_the_scale_or_an_unknown_judge_is_a_broken_case(pytester: pytest.Pytester) -> None:
    write_labelled_suite(pytester.path)
    replies = pytester.path / "cases" / "replies.jsonl"
    replies.write_text(replies.read_text().replace('"human_label": "pass"', '"human_label": "maybe"', 1))
    (pytester.path / "cases" / "extra.yaml").write_text(
        "- {id: x1, category: replies, input: hi, expected: hi, difficulty: simple, scorer: {name: judge, judge: strict, rubric: ok, scale: 5}}\n"
    )
    result = run(pytester)
    result.stdout.fnmatch_lines(["*cases/replies.jsonl:1: case 'r00': scorer 'judge': human_label 'maybe' is not on the judge's scale pass_fail (fail, pass)"])
    result.stdout.fnmatch_lines(["*cases/extra.yaml:1: case 'x1': bad parameters for scorer 'judge': no judge named 'strict': the suite declares default*"])


PAIRWISE = """\
name: pairs
categories:
  better: {weight: 1, scorer: {name: judge, rubric: "The more helpful answer.", scale: pairwise}}
judges:
  default: judges:first
"""
FIRST = """\
import json


def first(prompts):
    return [json.dumps({"reasoning": "A reads better", "verdict": "A"}) for _ in prompts]
"""


def test_a_pairwise_judge_that_always_prefers_the_first_answer_flips_on_every_case(pytester: pytest.Pytester) -> None:
    pytester.mkdir("cases")
    (pytester.path / "cases" / "taskbench.yaml").write_text(PAIRWISE)
    rows = [{"id": f"b{i}", "input": f"q{i}", "expected": "short", "difficulty": "simple", "human_label": "tie"} for i in range(4)]
    (pytester.path / "cases" / "better.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (pytester.path / "judges.py").write_text(FIRST)
    (pytester.path / "model.py").write_text("def respond(prompts):\n    return ['a much longer answer' for _ in prompts]\n")
    result = pytester.runpytest("cases", "--taskbench-model=model:respond", "--taskbench-pass-threshold=0.5")
    result.stdout.fnmatch_lines(["    position bias: the verdict flips when the answers swap places in 4 of 4 cases (100.0%)"])
    result.stdout.fnmatch_lines(["*judge default (pairwise) on better: 4 of 4 judged cases labelled; accuracy 100.0% (4/4)*"])
    result.assert_outcomes(passed=4)  # a full flip is a tie: 0.5


@pytest.mark.slow  # runs under pytest-xdist
def test_two_workers_give_the_same_summary(pytester: pytest.Pytester) -> None:
    write_labelled_suite(pytester.path, "judges:oracle")
    one = run(pytester, "-p", "no:cacheprovider", "--taskbench-markdown=one.md")
    two = run(pytester, "-p", "no:cacheprovider", "-n", "2", "--taskbench-markdown=two.md")
    assert one.ret == two.ret == pytest.ExitCode.TESTS_FAILED
    assert (pytester.path / "one.md").read_text() == (pytester.path / "two.md").read_text()
    assert "kappa 1.000" in (pytester.path / "two.md").read_text()


def test_calibrate_judge_prints_the_agreement_and_says_whether_the_judge_is_trusted(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = write_labelled_suite(pytester.path, "judges:oracle")
    monkeypatch.chdir(pytester.path)
    monkeypatch.syspath_prepend(str(pytester.path))
    assert main(["calibrate-judge", "cases", f"--outputs={outputs}", "--json=agreement.json"]) == 0
    printed = capsys.readouterr().out
    assert "10 labelled cases judged (labelled)" in printed
    assert "kappa 1.000 (95% CI 1.000 to 1.000); trusted: lower bound of kappa's 95% interval 1.000 >= 0.5 required" in printed
    [figures] = json.loads(Path("agreement.json").read_text())
    assert figures["confusion"] == {"human": ["fail", "pass"], "judge": ["fail", "pass"], "counts": [[5, 0], [0, 5]]}
    assert main(["calibrate-judge", "cases", f"--outputs={outputs}", "--judge-model=judges:contrarian"]) == 1
    assert "NOT trusted" in capsys.readouterr().out


SAMPLED = """\
name: sampled
categories:
  replies: {weight: 1, scorer: {name: judge, rubric: "Says it is right.", scale: pass_fail, reference: false}}
generation: {temperature: 0.8}
repeats: 4
judges:
  default: judges:says_right
"""
SAMPLED_JUDGE = """\
import json


def says_right(prompts):
    answers = []
    for prompt in prompts:
        response = prompt.split("Response to grade:\\n", 1)[1].split("\\n\\n", 1)[0]
        if "mumble" in response:
            answers.append("no idea")
        else:
            answers.append(json.dumps({"reasoning": "checked", "verdict": "pass" if response == "RIGHT" else "fail"}))
    return answers
"""
SAMPLED_MODEL = """\
def respond(prompts, samples):
    out = []
    for prompt, index in zip(prompts, samples):
        word = prompt.split()[-1]
        out.append("mumble" if word == "lost" else ("RIGHT" if word == "steady" or index % 2 == 0 else "wrong"))
    return out
"""


def test_a_sampled_case_has_each_sample_judged_and_a_judge_that_answers_none_is_a_judge_error(pytester: pytest.Pytester) -> None:
    pytester.mkdir("cases")
    (pytester.path / "cases" / "taskbench.yaml").write_text(SAMPLED)
    rows = [
        {"id": "steady", "input": "say steady", "expected": "RIGHT", "difficulty": "simple", "human_label": "pass"},
        {"id": "flaky", "input": "say flaky", "expected": "RIGHT", "difficulty": "simple", "human_label": "fail"},
        {"id": "lost", "input": "say lost", "expected": "RIGHT", "difficulty": "simple"},
    ]
    (pytester.path / "cases" / "replies.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (pytester.path / "judges.py").write_text(SAMPLED_JUDGE)
    (pytester.path / "model.py").write_text(SAMPLED_MODEL)
    result = pytester.runpytest("cases", "--taskbench-model=model:respond", "--taskbench-log-samples=samples.jsonl", "-p", "no:cacheprovider")
    logged = {row["case_id"]: row for row in map(json.loads, (pytester.path / "samples.jsonl").read_text().splitlines())}
    assert logged["steady"]["score"] == 1.0 and logged["flaky"]["score"] == 0.5  # two of the flaky case's four samples are right
    assert [sample["passed"] for sample in logged["flaky"]["samples"]] == [True, False, True, False]
    assert logged["lost"]["status"] == "judge_error" and "no readable verdict" in logged["lost"]["reason"]
    # every distinct output judged once: steady 1, flaky 2, lost 1
    result.stdout.fnmatch_lines(["judges: 4 answers (4 asked, 0 from cache; * model call*"])
    result.stdout.fnmatch_lines(["*judge default (pass_fail) on replies: 2 of 3 judged cases labelled; accuracy 100.0% (2/2)*"])
    result.stdout.fnmatch_lines(["replies       3  0.500*(1 judge error)"])
