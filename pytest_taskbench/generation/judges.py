"""The judge models of a run: each a backend behind its own engine and cache, loaded once, on first use.

A judge is declared in the suite file (``judges: {NAME: SPEC}`` or ``{NAME: {model:
SPEC, max_new_tokens, temperature, chat_template, endpoint}}``) or by
``--taskbench-judge-model=SPEC`` (the judge named ``default``). SPEC is any model
spec ``--taskbench-model`` takes (a checkpoint, an http(s):// URL,
``package.module:function``, ``NAME:ARGS``), resolved by the same backend
registry (``registry.py``). Judges decode greedily unless told otherwise.

The run sends a judge the prompts of every judge-scored case it is about to
score in one go (``JudgePanel.answer``); the engine groups them in batches and
looks each up in the cache first, keyed by the judge's identity and the prompt,
which holds the rubric, the case and the output being judged. A judge that
cannot load fails the cases it judges, each with the reason; the run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_taskbench.generation.base import Backend, Generation, GenerationParams, ModelLoadError
from pytest_taskbench.generation.engine import CacheFactory, GenerationEngine, Job
from pytest_taskbench.generation.registry import BackendOptions, create_backend
from pytest_taskbench.guards import validation

JUDGE_KEYS = ("model", "max_new_tokens", "temperature", "chat_template", "endpoint")
JUDGE_MAX_NEW_TOKENS = 256


@dataclass(frozen=True)
class JudgeModel:
    """One judge: its model spec, how it generates, and (for a server) which endpoint it answers on."""

    spec: str
    params: GenerationParams = GenerationParams(max_new_tokens=JUDGE_MAX_NEW_TOKENS)
    endpoint: str | None = None  # chat or completions; None: --taskbench-http-endpoint


def parse_judge(name: str, value: Any) -> JudgeModel:
    """One entry of a suite's ``judges:``; raises ``validation.Invalid`` naming the key."""
    where = f"judges.{name}"
    if isinstance(value, str):
        return JudgeModel(validation.text(where, value).strip())
    value = validation.mapping(where, value, what="a model spec, or a mapping with model (and max_new_tokens, temperature, chat_template, endpoint)")
    validation.only_keys(where, value, JUDGE_KEYS)
    if "model" not in value:
        raise validation.Invalid(f"{where} needs 'model': a checkpoint path, an http(s):// URL, package.module:function or NAME:ARGS")
    params = GenerationParams(
        max_new_tokens=validation.whole(f"{where}.max_new_tokens", value.get("max_new_tokens", JUDGE_MAX_NEW_TOKENS), minimum=1, maximum=100_000),
        temperature=validation.number(f"{where}.temperature", value.get("temperature", 0.0), minimum=0, maximum=10),
        use_chat_template=validation.flag(f"{where}.chat_template", value.get("chat_template", True)),
    )
    endpoint = None if value.get("endpoint") is None else validation.choice(f"{where}.endpoint", value["endpoint"], ("chat", "completions"))
    return JudgeModel(validation.text(f"{where}.model", value["model"]).strip(), params, endpoint)


@dataclass
class _Judge:
    model: JudgeModel
    engine: GenerationEngine
    failure: str | None = None


class JudgePanel:
    """The run's judges by name (see the module docstring).

    Args:
        models: name -> judge.
        options: the run's backend options (a judge's ``endpoint`` replaces ``http_endpoint``).
        cache_factory: backend -> its cache (the run's generation cache), or None.
        roots: folders a relative checkpoint path is looked up in (the suite file's first).
    """

    def __init__(
        self, models: Mapping[str, JudgeModel], options: BackendOptions, cache_factory: CacheFactory | None = None, roots: Sequence[Path] = ()
    ) -> None:
        self._judges: dict[str, _Judge] = {}
        for name, model in models.items():
            spec = next(
                (str(Path(root, model.spec)) for root in roots if not model.spec.startswith(("http:", "https:")) and Path(root, model.spec).exists()),
                model.spec,
            )
            judge_options = replace(options, http_endpoint=model.endpoint or options.http_endpoint, http_model=None)
            engine = GenerationEngine(_factory(spec, judge_options), cache_factory=cache_factory)
            self._judges[name] = _Judge(replace(model, spec=spec), engine)

    def names(self) -> list[str]:
        return list(self._judges)

    def params(self, name: str) -> GenerationParams:
        return self._judges[name].model.params

    def answer(self, name: str, jobs: Sequence[Job]) -> list[Generation]:
        """The judge's answer to each job, generated in batches through the cache (a failed load: every answer says why)."""
        judge = self._judges[name]
        if judge.failure is None:
            try:
                judge.engine.plan(jobs)
                judge.engine.prefetch()
            except ModelLoadError as exc:
                judge.failure = f"cannot load {judge.model.spec}: {exc}"
        if judge.failure is not None:
            return [Generation(None, judge.failure) for _ in jobs]
        return [judge.engine.get(job) for job in jobs]

    def counters(self) -> dict[str, int]:
        """Totals over every judge: answers handed to cases, generated, from the cache, model calls and loads."""
        totals = {"judge_answers": 0, "judge_generated": 0, "judge_cached": 0, "judge_model_calls": 0, "judge_model_loads": 0}
        for judge in self._judges.values():
            counters = judge.engine.counters
            totals["judge_answers"] += counters.served
            totals["judge_generated"] += counters.generated
            totals["judge_cached"] += counters.cached
            totals["judge_model_calls"] += counters.model_calls
            totals["judge_model_loads"] += judge.engine.weight_loads
        return totals

    def notes(self) -> list[str]:
        return [note for judge in self._judges.values() for note in judge.engine.notes()]

    def close(self) -> None:
        for judge in self._judges.values():
            judge.engine.close()


def _factory(spec: str, options: BackendOptions) -> Any:
    def create() -> Backend:
        return create_backend(spec, options)

    return create
