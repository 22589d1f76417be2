"""A sampled case's result: each distinct sample scored once, the scores combined by the case's policy."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from pytest_taskbench.generation.base import Generation
from pytest_taskbench.results import CaseResult, Policy, SampleResult
from pytest_taskbench.scoring.judge import Judged
from pytest_taskbench.scoring.score import Score


def sampled_result(base: CaseResult, generations: Sequence[Generation], score_text: Callable[[str], Score], policy: Policy) -> CaseResult:
    """A case's result from its samples: each scored (equal outputs once), combined by ``policy``.

    The case shows one *representative* sample (its output, reason and details, which the failure analysis
    reads): the first whose pass state is the case's. A sample the model failed on scores 0; the case is an
    error only when every sample is.
    """
    threshold = base.threshold
    scored: dict[str, Score] = {}
    samples: list[SampleResult] = []
    for generation in generations:
        if generation.text is None:
            samples.append(SampleResult(None, 0.0, False, f"model error: {generation.error}", generation.error))
            continue
        if generation.text not in scored:
            scored[generation.text] = score_text(generation.text)
        score = scored[generation.text]
        samples.append(SampleResult(generation.text, score.value, score.value >= threshold, score.reason))
    value, passed = policy.combine([sample.score for sample in samples], threshold)
    shown = next((i for i, sample in enumerate(samples) if sample.passed == passed and sample.error is None), 0)
    sample = samples[shown]
    result = replace(base, score=value, passed=passed, samples=tuple(samples), policy=str(policy), output=sample.output)
    passes = sum(s.passed for s in samples)
    summary = f"{passes}/{len(samples)} samples passed ({policy}); sample {shown + 1}: "
    if all(s.error is not None for s in samples):
        return replace(result, status="error", reason=summary + sample.reason, details={"model_error": sample.error})
    representative = scored[sample.output] if sample.output is not None else None
    return replace(result, reason=summary + sample.reason, details=dict(representative.details) if representative is not None else {})


def judged_samples(base: CaseResult, generations: Sequence[Generation], judged: Mapping[str, Judged], policy: Policy) -> CaseResult:
    """A sampled case a judge scored (``judged``: each distinct output's verdict): a sample with no verdict scores 0, with the reason.

    The case is a judge error when the judge gave a verdict on none of the outputs the model gave.
    """

    def score_text(text: str) -> Score:
        verdict = judged[text]
        if verdict.score is not None:
            return verdict.score
        return Score(0.0, f"judge error: {verdict.error}", {"judge": dict(verdict.details), "judge_error": verdict.error})

    result = sampled_result(base, generations, score_text, policy)
    if judged and all(verdict.score is None for verdict in judged.values()):
        return replace(result, status="judge_error", details={**result.details, "judge_error": next(iter(judged.values())).error})
    return result
