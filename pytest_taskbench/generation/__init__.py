"""Model backends behind one interface, and ``load_backend`` that picks one from a model spec."""

from __future__ import annotations

from pathlib import Path

from pytest_taskbench.generation.base import (
    Backend,
    BaseBackend,
    Generation,
    GenerationParams,
    ModelLoadError,
    Prompt,
    apply_stop,
)

__all__ = [
    "Backend",
    "BaseBackend",
    "Generation",
    "GenerationParams",
    "ModelLoadError",
    "Prompt",
    "apply_stop",
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
    if model_kind(spec) == "transformers":
        from pytest_taskbench.generation.hf import check_checkpoint

        check_checkpoint(Path(spec))


def load_backend(spec: str, *, batch_size: int = 8, device: str = "cpu", dtype: str = "auto") -> Backend:
    """Create the backend a model spec names. Raises ModelLoadError with a readable cause."""
    kind = model_kind(spec)
    if kind == "callable":
        from pytest_taskbench.generation.callable import CallableBackend

        return CallableBackend.from_spec(spec)
    if kind == "http":
        raise ModelLoadError(f"{spec!r}: the HTTP backend is not available in this version")
    from pytest_taskbench.generation.hf import TransformersBackend

    backend = TransformersBackend(spec, batch_size=batch_size, device=device, dtype=dtype)
    backend.load()
    return backend
