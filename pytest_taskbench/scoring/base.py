"""The scoring API: Score values, the Scorer protocol and the registry of scorer factories.

A *scorer factory* is registered under a name with ``@scorer("name")``. It takes
keyword parameters (from the suite file or a case) and returns a *scorer*: a
function ``(output, case) -> Score``. Factories run once per distinct spec, so
expensive set-up (a compiled JSON Schema validator) happens once.

Parameters a factory declares but the spec does not give are filled from the
suite's *scoring context* when it has them: ``schema`` (the suite's output JSON
Schema), ``reference_date``, ``defaults``, ``extract_json``, ``suite_dir``.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from pytest_taskbench.guards.files import text_only

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case, ScorerSpec

ENTRY_POINT_GROUP = "pytest_taskbench.scorers"


@dataclass(frozen=True)
class Score:
    """The verdict of a scorer on one output.

    Attributes:
        value: in [0, 1]; 1 is a perfect answer.
        reason: one short human sentence ("expected create, got list").
        details: JSON-serialisable structured facts for reports and failure analysis.
    """

    value: float
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        value = float(self.value)
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"a score must lie in [0, 1], got {self.value!r}")
        object.__setattr__(self, "value", value)


class Scorer(Protocol):
    """Judges one model output against one case. Must not raise on any output."""

    def __call__(self, output: str, case: Case) -> Score: ...


ScorerFactory = Callable[..., Scorer]


class ScorerError(Exception):
    """An unknown scorer or bad scorer parameters (reported at collection with the case's file and line)."""


_REGISTRY: dict[str, ScorerFactory] = {}
_entry_points_loaded = False


def scorer(name: str) -> Callable[[ScorerFactory], ScorerFactory]:
    """Register a scorer factory under ``name``.

    Example::

        from pytest_taskbench import Score, scorer

        @scorer("starts_with")
        def starts_with(prefix: str = "{"):
            def score(output, case):
                ok = output.lstrip().startswith(prefix)
                return Score(1.0 if ok else 0.0, "" if ok else f"does not start with {prefix!r}")
            return score
    """

    def register(factory: ScorerFactory) -> ScorerFactory:
        _REGISTRY[name] = factory
        return factory

    return register


def registered_scorers() -> dict[str, ScorerFactory]:
    """All known scorer factories by name: built-ins, entry points and ``@scorer`` registrations."""
    _load_builtins_and_entry_points()
    return dict(_REGISTRY)


def _load_builtins_and_entry_points() -> None:
    global _entry_points_loaded
    importlib.import_module("pytest_taskbench.scoring.builtins")
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        _REGISTRY.setdefault(entry_point.name, entry_point.load())


def resolve_factory(name: str) -> ScorerFactory:
    """Find a factory by registered name, or import ``package.module:function``."""
    known = registered_scorers()
    if name in known:
        return known[name]
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
    return f"known scorers: {', '.join(sorted(known))} (or give package.module:function)"


def split_spec(spec: ScorerSpec) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``{"name": ..., **params}`` -> (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    params = dict(spec)
    name = params.pop("name", None)
    if not isinstance(name, str):
        raise ScorerError(f"a scorer mapping needs a 'name', got {dict(spec)!r}")
    return name, params


def build_scorer(spec: ScorerSpec, context: Mapping[str, Any] | None = None) -> Scorer:
    """Build a scorer from a spec, filling declared parameters from the suite's scoring context.

    Raises:
        ScorerError: unknown name, failed import, or parameters the factory rejects.
    """
    name, params = split_spec(spec)
    factory = resolve_factory(name)
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


def safe_score(scorer_fn: Scorer, output: str, case: Case) -> Score:
    """Call a scorer; a scorer that raises or returns a non-Score gives 0 with the error as reason."""
    try:
        result = scorer_fn(output, case)
    except Exception as exc:  # a third-party scorer bug must fail one case, not the run
        return Score(0.0, f"scorer raised {type(exc).__name__}: {exc}", {"scorer_error": repr(exc)})
    if not isinstance(result, Score):
        return Score(0.0, f"scorer returned {type(result).__name__}, not Score", {"scorer_error": "bad return type"})
    # A reason or detail quoting JSON the model wrote may hold a lone surrogate ("\ud800" parsed): keep it printable.
    return Score(result.value, text_only(result.reason), text_only(result.details))
