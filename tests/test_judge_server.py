"""A judge served by a real `transformers serve`: the shipped 2M-parameter model, measured against the labels and not trusted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.judging import write_labelled_suite
from tests.helpers.serve import Server

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "task-api-tiny"


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(SHIPPED, tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow  # starts `transformers serve`
def test_the_shipped_model_as_a_served_judge_is_untrusted_and_its_category_is_not_gated(pytester: pytest.Pytester, shipped_server: Server) -> None:
    url = shipped_server.ensure()
    # the shipped model has no chat template: the server's completions endpoint takes the plain-text prompt
    write_labelled_suite(pytester.path, f"{{model: '{url}', endpoint: completions, max_new_tokens: 48}}")
    served = pytester.runpytest("cases", "--taskbench-outputs=outputs.jsonl")
    served.stdout.fnmatch_lines(["judges: 10 answers (10 asked, 0 from cache; * model calls)"])
    served.stdout.fnmatch_lines(
        [
            "judge calibration (agreement with the human labels):",
            "  judge default (pass_fail) on replies: 10 of 10 judged cases labelled; accuracy *; kappa *; NOT trusted: lower bound of kappa's 95% interval * < 0.5 required",
            "    human \\ judge  fail  pass*",
        ]
    )
    served.stdout.fnmatch_lines(["note: judge default is not trusted (*): replies reported, not gated", "verdict: PASS*"])
    assert "min_category[replies]" not in served.stdout.str()
    assert served.ret == pytest.ExitCode.OK
    # the same labelled set with a judge that matches the labels: trusted, and its category's gate fails the run
    oracle = pytester.runpytest("cases", "--taskbench-outputs=outputs.jsonl", "--taskbench-judge-model=judges:oracle")
    oracle.stdout.fnmatch_lines(["*kappa 1.000 (95% CI 1.000 to 1.000); trusted*", "  FAIL min_category?replies?: replies mean 0.500 < 0.900"])
    assert oracle.ret == pytest.ExitCode.TESTS_FAILED
    # the served judge's answers are cached: asked nothing again
    pytester.runpytest("cases", "--taskbench-outputs=outputs.jsonl").stdout.fnmatch_lines(["judges: 10 answers (0 asked, 10 from cache; 0 model calls)"])
