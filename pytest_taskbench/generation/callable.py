"""A Python callable as a model: ``--taskbench-model=package.module:function``.

The function takes a list of prompt strings and returns a list of output strings
of the same length. Rule-based baselines and fast tests use it.

A function marked with ``@prompt_model`` takes the whole prompt instead:
``function(prompts: list[Prompt], params: GenerationParams) -> list[str]``, each
``Prompt`` with its chat ``messages`` and its plain ``text``, and ``params`` the
suite's generation settings (``max_new_tokens``, ``stop``, ``temperature``,
``use_chat_template``). Stop sequences are still cut from what it returns.

For a sampled suite (``repeats``, temperature above 0) a prompt is passed once per
sample. A function with a parameter named ``samples`` is also given, by keyword, the
sample index of each prompt in the list (0, 1, ... for one case's samples), to seed
its own randomness; functions without it work as they always did.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pytest_taskbench.generation.base import BaseBackend, GenerationParams, ModelLoadError, Prompt

PromptFunction = Callable[..., list[str]]  # (list[str]) -> list[str], or (list[Prompt], GenerationParams) -> list[str] with @prompt_model
WANTS_PROMPTS = "taskbench_prompt_model"  # the attribute @prompt_model sets
F = TypeVar("F", bound=Callable[..., Any])


def prompt_model(function: F) -> F:
    """Mark a model function as taking ``(prompts: list[Prompt], params: GenerationParams)`` instead of a list of strings.

    Example::

        from pytest_taskbench import prompt_model

        @prompt_model
        def respond(prompts, params):
            return [my_chat_api(prompt.messages, max_tokens=params.max_new_tokens) for prompt in prompts]

    It sets the attribute ``taskbench_prompt_model = True`` on the function and returns it unchanged.
    """
    setattr(function, WANTS_PROMPTS, True)
    return function


class CallableBackend(BaseBackend):
    name = "callable"

    def __init__(self, spec: str, function: PromptFunction, batch_size: int = 64) -> None:
        super().__init__(batch_size)
        self.spec = spec
        self.function = function
        self.wants_prompts = getattr(function, WANTS_PROMPTS, False) is True
        self.wants_samples = _takes(function, "samples")
        self._identity: str | None = None

    @classmethod
    def from_spec(cls, spec: str, batch_size: int = 64) -> CallableBackend:
        module_name, _, attribute = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ModelLoadError(f"cannot import model module {module_name!r} from {spec!r}: {type(exc).__name__}: {exc}") from None
        function = getattr(module, attribute, None)
        if not callable(function):
            raise ModelLoadError(f"{spec!r}: module {module_name!r} has no callable {attribute!r}")
        backend = cls(spec, function, batch_size)
        backend.weight_loads = 1
        return backend

    def identity(self) -> str:
        """The spec and a hash of the function's module source, computed once per process."""
        if self._identity is None:
            try:
                source = inspect.getsource(inspect.getmodule(self.function) or self.function)
            except (OSError, TypeError):
                source = ""
            self._identity = f"callable:{self.spec}:{hashlib.sha256(source.encode()).hexdigest()[:16]}"
        return self._identity

    def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
        return self._ask(prompts, params, None)

    def generate_batch_samples(self, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]) -> list[list[str]]:
        flat = [prompt for prompt, indices in zip(prompts, samples) for _ in indices]
        texts = self._ask(flat, params, [index for indices in samples for index in indices])
        if not isinstance(texts, list) or len(texts) != len(flat):
            raise TypeError(f"{self.spec} returned {type(texts).__name__} for {len(flat)} prompts; expected a list of {len(flat)} strings")
        grouped, start = [], 0
        for indices in samples:
            grouped.append(texts[start : start + len(indices)])
            start += len(indices)
        return grouped

    def _ask(self, prompts: Sequence[Prompt], params: GenerationParams, samples: list[int] | None) -> list[str]:
        extra = {"samples": samples if samples is not None else [0] * len(prompts)} if self.wants_samples else {}
        if self.wants_prompts:
            return self.function(list(prompts), params, **extra)
        return self.function([prompt.text for prompt in prompts], **extra)


def _takes(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` has a parameter called ``name`` (that can be passed by keyword)."""
    try:
        parameter = inspect.signature(function).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
