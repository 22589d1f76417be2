"""Environments by name: ``@environment("name")``, the built-in ones and the entry-point group.

Example (a team's own world in one file, named by a case's ``environment: cart``)::

    from pytest_taskbench.environments import Action, Observation, RecordCollection, environment

    @environment("cart")
    class Cart:
        collections = (RecordCollection("items", key="sku"),)
        ...  # problems, reset, execute, state: see environments/base.py
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TypeVar

from pytest_taskbench.environments.base import Environment, EnvironmentProblem
from pytest_taskbench.formatting import defined_at

ENTRY_POINT_GROUP = "pytest_taskbench.environments"
CORE_MODULES: tuple[str, ...] = ("pytest_taskbench.environments.task_api",)  # the built-in environments

EnvironmentFactory = Callable[[], Environment]
F = TypeVar("F", bound=Callable[[], Environment])


@dataclass(frozen=True)
class Registration:
    factory: EnvironmentFactory
    where: str  # the factory's module and name, to tell a second registration apart


_REGISTRY: dict[str, Registration] = {}
_loaded = False


def environment(name: str) -> Callable[[F], F]:
    """Register an environment class (or a function of no arguments returning one) under ``name``.

    Raises:
        EnvironmentProblem: another factory is registered under ``name`` already (the message names both).
    """

    def register(factory: F) -> F:
        _register(name, factory)
        return factory

    return register


def _register(name: str, factory: EnvironmentFactory) -> None:
    where = defined_at(factory)
    earlier = _REGISTRY.get(name)
    # The same factory registered again (a conftest.py imported by a second in-process session) replaces itself.
    if earlier is not None and earlier.where != where:
        raise EnvironmentProblem(f"environment {name!r} is registered twice: by {earlier.where} and by {where}; rename one of them")
    _REGISTRY[name] = Registration(factory, where)


def _load() -> None:
    """Import the built-in environments and the entry points (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in CORE_MODULES:
        importlib.import_module(module)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        _register(entry_point.name, entry_point.load())


def registered_environments() -> dict[str, EnvironmentFactory]:
    _load()
    return {name: entry.factory for name, entry in _REGISTRY.items()}


def make_environment(name: str) -> Environment:
    """A fresh environment registered as ``name``, or imported from ``package.module:factory``.

    Raises:
        EnvironmentProblem: no such environment (the message lists the known ones), or its factory failed.
    """
    known = registered_environments()
    if name in known:
        factory = known[name]
    elif ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise EnvironmentProblem(f"environment {name!r} cannot be imported: {exc}") from None
    else:
        raise EnvironmentProblem(f"unknown environment {name!r}; known: {', '.join(sorted(known)) or 'none'}")
    try:
        made = factory()
    except Exception as exc:  # a plug-in's constructor: its error, named, not a crash of the run
        raise EnvironmentProblem(f"environment {name!r} could not be made: {type(exc).__name__}: {exc}") from None
    if not isinstance(made, Environment):
        raise EnvironmentProblem(f"environment {name!r} does not provide collections, problems, reset, execute and state")
    return made
