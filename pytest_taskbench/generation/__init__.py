"""Model backends behind one interface, and the functions that pick one from a model spec.

How a ``--taskbench-model`` value selects a backend, and how to add one, is in
``registry.py``. Nothing here imports torch or transformers: a checkpoint's
backend imports them when it loads the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pytest_taskbench.generation.base import (
    Backend,
    BaseBackend,
    Generation,
    GenerationParams,
    ModelLoadError,
    Prompt,
    apply_stop,
    backend_identity,
)
from pytest_taskbench.generation.registry import (
    BackendError,
    BackendOptions,
    ModelChoice,
    backend,
    check_choice,
    create_backend,
    registered_backends,
    resolve_model,
)

if TYPE_CHECKING:
    from pytest_taskbench.settings import Settings

__all__ = [
    "Backend",
    "BackendError",
    "BackendOptions",
    "BaseBackend",
    "Generation",
    "GenerationParams",
    "ModelChoice",
    "ModelLoadError",
    "Prompt",
    "apply_stop",
    "backend",
    "backend_for_settings",
    "backend_options",
    "backend_identity",
    "check_model_spec",
    "load_backend",
    "model_kind",
    "registered_backends",
    "resolve_model",
]


def model_kind(spec: str) -> str:
    """The registered name of the backend a ``--taskbench-model`` value selects: 'transformers', 'openai', 'callable' or another."""
    return resolve_model(spec).backend


def check_model_spec(spec: str) -> None:
    """Cheap validation before any item runs (no weights are loaded, torch is not imported). Raises ModelLoadError."""
    check_choice(spec, resolve_model(spec))


def backend_for_settings(settings: Settings, rootdir: Path) -> Backend:
    """The backend the run's settings ask for: saved outputs (``outputs``) or the model (``model``)."""
    if settings.outputs:
        from pytest_taskbench.generation.outputs import SavedOutputs

        return SavedOutputs.load(Path(rootdir, settings.outputs))
    if not settings.model:
        raise ModelLoadError("no model configured: pass --taskbench-model=PATH, module:function, http://host:port/v1 or NAME:ARGS")
    return load_backend(settings.model, backend_options(settings, rootdir))


def backend_options(settings: Settings, rootdir: Path) -> BackendOptions:
    """The run's options a backend factory may use (the model's, and a judge's)."""
    return BackendOptions(
        batch_size=settings.batch_size,
        device=settings.device,
        dtype=settings.dtype,
        decoding=settings.decoding,
        threads=settings.threads,
        rootdir=rootdir,
        http_endpoint=settings.http_endpoint,
        http_model=settings.http_model,
        http_api_key_env=settings.http_api_key_env,
        http_concurrency=settings.http_concurrency,
        http_fixed_concurrency=settings.http_fixed_concurrency,
        http_timeout=float(settings.http_timeout),
        http_retries=settings.http_retries,
    )


def load_backend(spec: str, options: BackendOptions | None = None) -> Backend:
    """Create the backend a model spec names (see ``registry.py``). Raises ModelLoadError with a readable cause.

    ``options.batch_size`` 0 means auto (transformers); a callable gets 64 then. ``options.threads``
    sets torch's CPU threads for a transformers model (None: torch's own choice).
    """
    return create_backend(spec, options or BackendOptions())
