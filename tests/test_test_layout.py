"""The test suite's own layout: shared helpers live in tests/helpers/, fixtures in conftest.py.

A test module that imports another test module (or conftest.py) ties the two
together: the helper's home depends on which tests happen to use it, and moving
or deleting a test breaks an unrelated one. Helpers go in ``tests.helpers``;
fixtures stay in conftest.py, where pytest finds them without an import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SOURCES = sorted(TESTS.rglob("*.py"))


def imported_modules(source: str, module: str) -> set[str]:
    """Every module ``source`` (the module named ``module``) imports, by absolute dotted name, at any depth."""
    package = module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # ``from tests import test_x`` imports a module too
    return found


def is_test_module(name: str) -> bool:
    """``tests.test_x``, ``tests.conftest``, or the same without the package (rootdir-relative imports)."""
    last = name.rsplit(".", 1)[-1]
    return (name.startswith("tests.") or "." not in name) and (last.startswith("test_") or last == "conftest")


def dotted(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(TESTS)))
def test_no_module_imports_a_test_module_or_conftest(path: Path) -> None:
    wrong = sorted(name for name in imported_modules(path.read_text(), dotted(path)) if is_test_module(name))
    assert not wrong, f"{path.relative_to(TESTS.parent)} imports {', '.join(wrong)}: move what it needs into tests/helpers/"


@pytest.mark.parametrize("path", sorted((TESTS / "helpers").rglob("*.py")), ids=lambda path: path.name)
def test_helpers_define_no_fixtures(path: Path) -> None:
    assert "pytest.fixture" not in path.read_text(), f"{path.relative_to(TESTS.parent)} defines a fixture: fixtures belong in tests/conftest.py"


@pytest.mark.parametrize(
    "source",
    [
        "from tests.test_analysis import summary_of",
        "from tests.conftest import jsonl",
        "import tests.test_cases",
        "from tests import test_cases",
        "from . import test_cases",
        "from .conftest import jsonl",
        "from test_analysis import summary_of",
        "def later():\n    from tests.test_analysis import summary_of",
    ],
)
def test_the_guard_sees_an_import_of_a_test_module(source: str) -> None:
    assert any(is_test_module(name) for name in imported_modules(source, "tests.test_example"))


@pytest.mark.parametrize("source", ["from tests.helpers.suites import jsonl", "import pytest", "from .helpers import suites", "import testfixtures"])
def test_the_guard_lets_helpers_and_libraries_through(source: str) -> None:
    assert not any(is_test_module(name) for name in imported_modules(source, "tests.test_example"))
