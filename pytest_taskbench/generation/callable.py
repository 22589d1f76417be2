"""A Python callable as a model: ``--taskbench-model=package.module:function``.

The function takes a list of prompt strings and returns a list of output strings
of the same length. Rule-based baselines and fast tests use it.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Sequence

from pytest_taskbench.generation.base import BaseBackend, GenerationParams, ModelLoadError, Prompt

PromptFunction = Callable[[list[str]], list[str]]


class CallableBackend(BaseBackend):
    name = "callable"

    def __init__(self, spec: str, function: PromptFunction, batch_size: int = 64) -> None:
        super().__init__(batch_size)
        self.spec = spec
        self.function = function
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
        return self.function([prompt.text for prompt in prompts])
