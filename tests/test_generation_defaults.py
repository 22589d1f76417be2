"""The defaults chosen for the user: batch size and device auto, dtype auto resolved per device."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_taskbench import defaults
from pytest_taskbench.generation.hf import TransformersBackend, resolve_dtype
from pytest_taskbench.settings import Settings

MODEL = Path(__file__).resolve().parents[1] / "models" / "task-api-tiny"


def test_batch_size_and_device_are_auto_by_default() -> None:
    settings = Settings()
    assert settings.batch_size == defaults.BATCH_SIZE == 0  # 0 is auto
    assert settings.device == defaults.DEVICE == "auto"
    assert settings.dtype == "auto"
    assert settings.http_concurrency == 256 and not settings.http_fixed_concurrency


@pytest.mark.parametrize(
    ("dtype", "device", "resolved"),
    [("auto", "cpu", "float32"), ("auto", "mps", "float16"), ("bfloat16", "cpu", "bfloat16"), ("float16", "cuda:1", "float16")],
)
def test_dtype_auto_is_float32_on_cpu_and_half_precision_elsewhere(dtype: str, device: str, resolved: str) -> None:
    assert resolve_dtype(dtype, device) == resolved


def test_the_identity_names_the_resolved_device_and_dtype() -> None:
    pinned = TransformersBackend(MODEL, device="cpu", dtype="float32").identity()
    assert ":float32:cpu:" in pinned
    assert TransformersBackend(MODEL, device="cpu").identity() == pinned  # auto on the CPU is float32: the same cache entries
    assert TransformersBackend(MODEL, device="cpu", dtype="bfloat16").identity() != pinned
