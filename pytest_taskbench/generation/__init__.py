"""Model backends behind one interface, and ``load_backend`` that picks one from a model spec."""

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
)

if TYPE_CHECKING:
    from pytest_taskbench.generation.http import HttpOptions
    from pytest_taskbench.settings import Settings

__all__ = [
    "Backend",
    "BaseBackend",
    "Generation",
    "GenerationParams",
    "ModelLoadError",
    "Prompt",
    "apply_stop",
    "backend_for_settings",
    "check_model_spec",
    "load_backend",
    "model_kind",
]


def model_kind(spec: str) -> str:
    """'http', 'callable' or 'transformers' for a ``--taskbench-model`` value."""
    if spec.startswith(("http://", "https://")):
        return "http"
    if ":" in spec and not Path(spec).exists() and "/" not in spec.partition(":")[0]:
        return "callable"
    return "transformers"


def check_model_spec(spec: str) -> None:
    """Cheap validation before any item runs (no weights are loaded)."""
    kind = model_kind(spec)
    if kind == "http":
        from pytest_taskbench.generation.http import check_base_url

        check_base_url(spec)
    if kind == "transformers":
        from pytest_taskbench.generation.hf import check_checkpoint

        check_checkpoint(Path(spec))


def backend_for_settings(settings: Settings, rootdir: Path) -> Backend:
    """The backend the run's settings ask for: saved outputs (``outputs``) or the model (``model``)."""
    if settings.outputs:
        from pytest_taskbench.generation.outputs import SavedOutputs

        return SavedOutputs.load(Path(rootdir, settings.outputs))
    if not settings.model:
        raise ModelLoadError("no model configured: pass --taskbench-model=PATH, module:function or http://host:port/v1")
    http = None
    if model_kind(settings.model) == "http":
        from pytest_taskbench.generation.http import HttpOptions

        http = HttpOptions(
            endpoint=settings.http_endpoint,
            model=settings.http_model,
            api_key_env=settings.http_api_key_env,
            concurrency=settings.http_concurrency,
            timeout=float(settings.http_timeout),
            retries=settings.http_retries,
        )
    return load_backend(settings.model, batch_size=settings.batch_size, device=settings.device, dtype=settings.dtype, threads=settings.threads, http=http)


def load_backend(
    spec: str, *, batch_size: int = 8, device: str = "cpu", dtype: str = "auto", threads: int | None = None, http: HttpOptions | None = None
) -> Backend:
    """Create the backend a model spec names. Raises ModelLoadError with a readable cause.

    ``batch_size`` 0 means auto (transformers); a callable gets 64 then. ``threads`` sets torch's CPU
    threads for a transformers model (None: torch's own choice).
    """
    kind = model_kind(spec)
    if kind == "callable":
        from pytest_taskbench.generation.callable import CallableBackend

        return CallableBackend.from_spec(spec, batch_size=batch_size or 64)
    if kind == "http":
        from pytest_taskbench.generation.http import HttpBackend, HttpOptions

        return HttpBackend(spec, http or HttpOptions())
    from pytest_taskbench.generation.hf import TransformersBackend

    return TransformersBackend(spec, batch_size=batch_size, device=device, dtype=dtype, threads=threads)  # weights load on the first cache miss
