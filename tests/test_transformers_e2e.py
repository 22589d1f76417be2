"""End to end with a real transformers checkpoint on disk: loaded once, generated greedily, scored."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pytest_taskbench.generation.runtime import threads_per_process
from tests.helpers.tiny_models import build_tiny_model, build_tiny_seq2seq

# every test builds a checkpoint and loads it with torch, most of them in a pytest subprocess: seconds each
pytestmark = pytest.mark.slow

pytestmark = pytest.mark.slow  # every test here loads a real transformers checkpoint

PROMPTS = ["hello world", "book a meeting with ana", "the quick brown fox"]


def bare_generate(model_dir: Path, prompts: list[str], max_new_tokens: int, seq2seq: bool = False) -> list[str]:
    """What plain transformers produces for each prompt, one at a time, greedy: the reference."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(model_dir, local_files_only=True)
    outputs = []
    for prompt in prompts:
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=seq2seq)
        with torch.inference_mode():
            ids = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        new_tokens = ids[0] if seq2seq else ids[0, encoded["input_ids"].shape[1] :]
        outputs.append(tokenizer.decode(new_tokens, skip_special_tokens=True))
    return outputs


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("ckpt") / "tiny", chat_template=False)


def test_suite_runs_through_a_real_checkpoint_loaded_once(pytester: pytest.Pytester, checkpoint: Path) -> None:
    expected = bare_generate(checkpoint, PROMPTS, max_new_tokens=6)
    assert all(expected), "the reference produced empty outputs; the test would prove nothing"
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text(
        textwrap.dedent(
            """\
            name: tiny
            categories:
              echo: {weight: 1, scorer: exact_match}
            generation: {max_new_tokens: 6}
            """
        )
    )
    rows = [{"id": f"c{i}", "input": prompt, "expected": output, "difficulty": "simple"} for i, (prompt, output) in enumerate(zip(PROMPTS, expected))]
    rows.append({"id": "wrong", "input": "hello world today", "expected": "certainly not this", "difficulty": "complex"})
    (cases / "echo.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")

    args = ("cases", f"--taskbench-model={checkpoint}", "--taskbench-batch-size=4", "--taskbench-cache-dir=.outputs")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3, failed=1)  # batched outputs equal the one-at-a-time reference
    result.stdout.fnmatch_lines(
        ["aggregate (category-weighted mean score): 0.750*", "generation: 4 outputs (4 generated, 0 from cache)*; model loaded 1 time; on cpu (float32)"]
    )
    assert result.ret == 0

    warm = pytester.runpytest_subprocess(*args)
    warm.assert_outcomes(passed=3, failed=1)
    warm.stdout.fnmatch_lines(["generation: 4 outputs (0 generated, 4 from cache)*"])
    assert "model loaded" not in warm.stdout.str()  # every output came from the cache: the weights were never read


def test_broken_weights_are_one_usage_error(pytester: pytest.Pytester, checkpoint: Path) -> None:
    broken = pytester.mkdir("broken")
    for file in checkpoint.iterdir():
        (broken / file.name).write_bytes(file.read_bytes())
    (broken / "model.safetensors").write_bytes(b"this is not a safetensors file")
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text("name: tiny\ncategories:\n  echo: {weight: 1, scorer: exact_match}\n")
    (cases / "echo.jsonl").write_text('{"id": "a", "input": "hello", "expected": "x", "difficulty": "simple"}\n')
    result = pytester.runpytest_subprocess("cases", f"--taskbench-model={broken}")
    result.stderr.fnmatch_lines(["ERROR: taskbench: cannot load model from *broken*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_an_encoder_decoder_checkpoint_is_loaded_as_one_and_batched_correctly(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory) -> None:
    checkpoint = build_tiny_seq2seq(tmp_path_factory.mktemp("t5") / "tiny-t5")
    prompts = ["hello world", "the quick brown fox jumps over the lazy dog", "book a meeting"]
    expected = bare_generate(checkpoint, prompts, max_new_tokens=5, seq2seq=True)
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text("name: t5\ncategories:\n  echo: {weight: 1, scorer: exact_match}\ngeneration: {max_new_tokens: 5}\n")
    rows = [{"id": f"c{i}", "input": prompt, "expected": output, "difficulty": "simple"} for i, (prompt, output) in enumerate(zip(prompts, expected))]
    (cases / "echo.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    result = pytester.runpytest_subprocess("cases", f"--taskbench-model={checkpoint}", "--taskbench-batch-size=3", "--taskbench-no-cache")
    # prompts of different lengths in one right-padded batch give the one-at-a-time outputs
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize(
    ("args", "omp_threads", "expected"),
    [
        pytest.param([], None, threads_per_process(2), id="cpus-shared-among-workers"),
        # values other than the default share, so that each case fails if the share overrode it, on any machine
        pytest.param([f"--taskbench-threads={threads_per_process(2) + 2}"], None, threads_per_process(2) + 2, id="option-wins"),
        pytest.param([], str(threads_per_process(2) + 1), threads_per_process(2) + 1, id="OMP_NUM_THREADS-respected"),
    ],
)
def test_xdist_workers_share_the_cpus(
    pytester: pytest.Pytester, checkpoint: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], omp_threads: str | None, expected: int
) -> None:
    # two workers each running torch with one thread per CPU made the shipped suite 15x slower on two cores
    if omp_threads is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp_threads)
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text("name: tiny\ncategories:\n  echo: {weight: 1, scorer: exact_match}\ngeneration: {max_new_tokens: 2}\n")
    (cases / "echo.jsonl").write_text(
        "".join(f'{{"id": "c{i}", "input": "{prompt}", "expected": "x", "difficulty": "simple"}}\n' for i, prompt in enumerate(PROMPTS))
    )
    pytester.makepyfile(
        test_threads=f"""
        import torch

        def test_threads_after_the_model_loaded():
            assert torch.get_num_threads() == {expected}
        """
    )
    result = pytester.runpytest_subprocess(
        "cases", "test_threads.py", f"--taskbench-model={checkpoint}", "--taskbench-no-cache", "-n", "2", "-p", "xdist", *args
    )
    result.assert_outcomes(passed=1, failed=3)
