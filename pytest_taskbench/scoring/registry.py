"""The registry of scorer factories: ``@scorer``, packs, entry points and dotted paths.

A *scorer factory* is registered under a name with ``@scorer("name")``. It takes
keyword parameters (from the suite file or a case) and returns a *scorer*: a
function ``(output, case) -> Score``. Factories run once per distinct spec, so
expensive set-up (a compiled JSON Schema validator) happens once.

Where scorers come from:

- the core scorers (``general.py``, ``json_scorers.py``), always there;
- *packs*, scorers for one kind of task that a suite names in ``scorer_packs:``
  (``task_api``: the Task API suite's five scorers; ``lm_eval``: lm-eval's
  exact_match), so a suite says which domain it scores and another suite's
  names never leak into it;
- installed packages, through the entry-point group ``pytest_taskbench.scorers``;
- ``@scorer`` in a ``conftest.py`` or any imported module;
- ``package.module:function`` in the suite file, imported when first used.

A name registered twice from two places is an error naming both.

Parameters a factory declares but the spec does not give are filled from the
suite's *scoring context* when it has them: ``schema`` (the suite's output JSON
Schema), ``reference_date``, ``defaults``, ``extract_json``, ``suite_dir``, and
from the run: ``tool_parser`` (``--taskbench-tool-parser``), ``judges`` (the names
of the suite's judges) and ``embeddings`` (its embedding models, ``scoring/semantic.py``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pytest_taskbench.formatting import defined_at
from pytest_taskbench.scoring.score import Scorer

if TYPE_CHECKING:
    from pytest_taskbench.cases import ScorerSpec

ENTRY_POINT_GROUP = "pytest_taskbench.scorers"
CORE_MODULES = (
    "pytest_taskbench.scoring.general",
    "pytest_taskbench.scoring.json_scorers",
    "pytest_taskbench.scoring.tool_calls",
    "pytest_taskbench.scoring.semantic",
    "pytest_taskbench.scoring.judge",
    "pytest_taskbench.scoring.state",
)
PACKS: Mapping[str, str] = {"task_api": "pytest_taskbench.scoring.packs.taskapi", "lm_eval": "pytest_taskbench.scoring.packs.lm_eval"}

ScorerFactory = Callable[..., Scorer]


class ScorerError(Exception):
    """An unknown scorer or bad scorer parameters (reported at collection with the case's file and line)."""


@dataclass(frozen=True)
class Registration:
    factory: ScorerFactory
    where: str  # the factory's module and name, to tell a second registration apart
    pack: str | None = None  # the pack that registered it; None: available to every suite


_REGISTRY: dict[str, Registration] = {}
_loaded = False


def scorer(name: str, *, pack: str | None = None) -> Callable[[ScorerFactory], ScorerFactory]:
    """Register a scorer factory under ``name`` (in ``pack``: only suites that list the pack can name it).

    Example::

        from pytest_taskbench import Score, scorer

        @scorer("starts_with")
        def starts_with(prefix: str = "{"):
            def score(output, case):
                ok = output.lstrip().startswith(prefix)
                return Score(1.0 if ok else 0.0, "" if ok else f"does not start with {prefix!r}")
            return score

    Raises:
        ScorerError: another factory is registered under ``name`` already (the message names both).
    """

    def register(factory: ScorerFactory) -> ScorerFactory:
        _register(name, factory, pack)
        return factory

    return register


def _register(name: str, factory: ScorerFactory, pack: str | None) -> None:
    where = defined_at(factory)
    earlier = _REGISTRY.get(name)
    # The same factory registered again (a conftest.py imported by a second in-process session) replaces itself.
    if earlier is not None and earlier.where != where:
        raise ScorerError(f"scorer {name!r} is registered twice: by {earlier.where} and by {where}; rename one of them")
    _REGISTRY[name] = Registration(factory, where, pack)


def _load() -> None:
    """Import the core scorers, every pack and the entry points (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in (*CORE_MODULES, *PACKS.values()):
        importlib.import_module(module)
    # An entry point clashes with a @scorer of the same name whichever loads first: the error names both.
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        _register(entry_point.name, entry_point.load(), None)


def registered_scorers(packs: Iterable[str] | None = None) -> dict[str, ScorerFactory]:
    """The scorer factories a suite using ``packs`` can name (every registered one when ``packs`` is None)."""
    _load()
    wanted = None if packs is None else set(packs)
    return {name: entry.factory for name, entry in _REGISTRY.items() if entry.pack is None or wanted is None or entry.pack in wanted}


def resolve_factory(name: str, packs: Iterable[str] = ()) -> ScorerFactory:
    """Find a factory by registered name (in the core, the given packs or anywhere but another pack), or import ``package.module:function``."""
    known = registered_scorers(packs)
    if name in known:
        return known[name]
    entry = _REGISTRY.get(name)
    if entry is not None and entry.pack is not None:
        raise ScorerError(f"scorer {name!r} is in the {entry.pack} pack; add it to the suite file: scorer_packs: [{entry.pack}]")
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            factory = getattr(module, attribute)
        except (ImportError, AttributeError) as exc:
            raise ScorerError(f"cannot import scorer {name!r}: {exc}; {_naming_hint(known)}") from None
        if not callable(factory):
            raise ScorerError(f"scorer {name!r} is not callable")
        return factory  # type: ignore[no-any-return]
    raise ScorerError(f"unknown scorer {name!r}; {_naming_hint(known)}")


def _naming_hint(known: Mapping[str, ScorerFactory]) -> str:
    packs = f"; packs: {', '.join(PACKS)}" if PACKS else ""
    return f"known scorers: {', '.join(sorted(known))} (or give package.module:function){packs}"


def split_spec(spec: ScorerSpec) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``{"name": ..., **params}`` -> (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    params = dict(spec)
    name = params.pop("name", None)
    if not isinstance(name, str):
        raise ScorerError(f"a scorer mapping needs a 'name', got {dict(spec)!r}")
    return name, params


def build_scorer(spec: ScorerSpec, context: Mapping[str, Any] | None = None, packs: Iterable[str] = ()) -> Scorer:
    """Build a scorer from a spec, filling declared parameters from the suite's scoring context.

    Raises:
        ScorerError: unknown name, failed import, or parameters the factory rejects.
    """
    name, params = split_spec(spec)
    factory = resolve_factory(name, packs)
    accepted = _accepted_parameters(factory)
    for key, value in (context or {}).items():
        if key not in params and (accepted is None or key in accepted):
            params[key] = value
    try:
        built = factory(**params)
    except (TypeError, ValueError) as exc:
        takes = f"; it takes {', '.join(sorted(accepted))}" if accepted else ""
        raise ScorerError(f"bad parameters for scorer {name!r}: {exc}{takes}") from None
    if not callable(built):
        raise ScorerError(f"scorer factory {name!r} returned {built!r}, not a scorer function")
    return built


def _accepted_parameters(factory: ScorerFactory) -> set[str] | None:
    """Keyword names the factory takes, or None when it takes ``**kwargs``."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
