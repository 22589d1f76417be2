"""Domain modules never import pytest: only the plugin layer does (see STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_taskbench"
PLUGIN_LAYER = {"plugin.py", "items.py", "hookspecs.py"}
DOMAIN_MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name not in PLUGIN_LAYER)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", DOMAIN_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_module_does_not_import_pytest(module: Path) -> None:
    assert not imported_modules(module) & {"pytest", "_pytest", "pluggy"}


def test_the_guard_sees_an_import() -> None:
    assert "pytest" in imported_modules(PACKAGE / "plugin.py")


def test_importing_the_package_loads_no_heavy_modules() -> None:
    import subprocess
    import sys

    code = "import sys, pytest_taskbench, pytest_taskbench.plugin; print(sorted(m for m in ('torch', 'transformers', 'scipy') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert output == "[]"
