"""The package's layout holds: layers import only downwards, nothing imports in a cycle, only the pytest bridge imports pytest.

The layers, lowest first (see docs/explanation/architecture.md): a module may import modules
of its own layer or a lower one. Imports inside ``if TYPE_CHECKING:`` are for
annotations only and are not counted; imports inside functions are.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pytest_taskbench"
LAYERS: list[tuple[str, ...]] = [
    ("defaults", "formatting", "guards", "version"),  # foundations: named defaults, number formats, reading and showing untrusted input
    (
        "discovery",
        "cases",
        "results",
        "calls",
        "call_parsers",
        "shards",
        "turns",
        "generation.base",
    ),  # the data: case files and a case, a case's result, tool calls, a conversation's turns, a prompt and a generation
    (
        "scoring",
        "generation",
        "environments",
        "baseline",
        "resultsfile",
        "history",
    ),  # scoring an output, generating outputs, the worlds conversations act on, storing a run, its results, its history
    ("verdict",),  # from results to a summary, intervals, a comparison, gates and a failure analysis
    ("suite", "settings"),  # reading the configuration: the suite file and the options
    ("catalog", "lmeval", "reports", "schemas"),  # what a process reads once; lm-eval task files; rendering reports; JSON Schemas
    (
        "run",
        "meaning",
        "sampling",
        "conversations",
    ),  # a run: prepare, evaluate, finish; the judges and embedding models it scores with; sampled cases; conversations
    ("items", "session", "plugin", "hookspecs", "cli", ""),  # entry points: the pytest bridge, the taskbench command, the public API
]
PYTEST_BRIDGE = {"items", "session", "plugin", "hookspecs"}
MAX_MODULE_LINES = 500


def module_name(path: Path) -> str:
    """``pytest_taskbench/verdict/gates.py`` -> ``verdict.gates``; a package's ``__init__`` is the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The layer of the longest prefix that names it (``generation.base`` before ``generation``)."""
    best = (-1, -1)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + ".") or (prefix == "" and module == ""):
                best = max(best, (len(prefix), index))
    if best[1] < 0:
        raise AssertionError(f"module {module!r} is in no layer: add it to LAYERS")
    return best[1]


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(the package modules it imports, the top-level names of everything it imports), outside TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _type_checking_lines(tree)
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from package import module`` depends on the module; ``from module import name``, on the module
            submodules = [f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}".removeprefix("pytest_taskbench.") in MODULES]
            names = submodules if len(submodules) == len(node.names) else [node.module, *submodules]
        else:
            continue
        for name in names:
            external.add(name.split(".")[0])
            if name == "pytest_taskbench" or name.startswith("pytest_taskbench."):
                inner = name.removeprefix("pytest_taskbench").removeprefix(".")
                if inner in MODULES:
                    internal.add(inner)
    return internal, external


GRAPH = {name: imports(path)[0] - {name} for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES), ids=lambda name: name or "__init__")
def test_a_module_imports_only_its_own_layer_or_lower(module: str) -> None:
    upward = sorted(f"{target} (layer {layer_of(target)})" for target in GRAPH[module] if layer_of(target) > layer_of(module))
    assert not upward, f"{module or '__init__'} (layer {layer_of(module)}) imports upward: {', '.join(upward)}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that returns to its start, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_module_imports_itself_through_others() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(name or "__init__" for name in cycle or [])


def test_the_cycle_check_sees_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name.split(".")[0] not in PYTEST_BRIDGE), ids=lambda name: name or "__init__")
def test_domain_module_does_not_import_pytest(module: str) -> None:
    assert not imports(MODULES[module])[1] & {"pytest", "_pytest", "pluggy"}


def test_the_guards_see_an_import() -> None:
    assert "pytest" in imports(MODULES["plugin"])[1]
    assert "run" in GRAPH["plugin"] or "session" in GRAPH["plugin"]
    assert layer_of("generation.base") < layer_of("generation.engine") < layer_of("verdict.gates") < layer_of("settings")


@pytest.mark.parametrize("module", sorted(MODULES), ids=lambda name: name or "__init__")
def test_no_module_is_longer_than_the_limit(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{MODULES[module].relative_to(ROOT)} has {lines} lines; split it by concern"


@pytest.mark.slow  # a Python process of its own: about a second
def test_importing_the_package_loads_no_heavy_modules() -> None:
    code = "import sys, pytest_taskbench, pytest_taskbench.plugin; print(sorted(m for m in ('torch', 'transformers', 'scipy') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert output == "[]"
