"""``python -m pytest_taskbench.schemas``: write the shipped JSON Schemas again from the loaders' tables."""

from pathlib import Path

from pytest_taskbench.schemas import write

for path in write(Path(__file__).parent):
    print(f"wrote {path}")
