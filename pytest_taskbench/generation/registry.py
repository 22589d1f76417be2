"""The registry of model backends: ``@backend``, entry points, and how a ``--taskbench-model`` value picks one.

A *backend factory* is registered under a name with ``@backend("name")``. It takes
the part of the model spec after ``NAME:`` (``args``, a string) and the run's
``BackendOptions`` (plain values), and returns a ``Backend``. It runs once per
process, when the first output is needed, so it may load weights; the optional
``check(args)`` runs before any item (in ``pytest_configure``) and must stay cheap.

Where backends come from:

- the built-ins, registered below: ``transformers`` (alias ``hf``) for a local
  checkpoint, ``openai`` (alias ``http``) for an OpenAI-compatible server URL,
  ``callable`` for ``package.module:function``;
- installed packages, through the entry-point group ``pytest_taskbench.backends``
  (the entry point's name is the backend's name, its value the factory);
- ``@backend`` in a ``conftest.py`` that pytest loads before the run starts (the
  rootdir's, or one in a directory given on the command line), a ``-p`` plugin, or
  any module imported by then.

A name registered twice from two places is an error naming both. Saved outputs
are not a backend here: ``--taskbench-outputs=FILE`` selects them.

How a ``--taskbench-model`` value (the *spec*) picks a backend, first rule that applies:

1. ``NAME:ARGS`` whose NAME (the text before the first ``:``) is a registered
   backend: that backend, given ARGS (``transformers:./models/x``,
   ``openai:http://host:8000/v1``, ``mybackend:anything``). A URL
   (``NAME://...``) is not split: rule 2 takes it.
2. A URL: ``http://`` and ``https://`` pick the HTTP backend (``openai``); any
   other ``SCHEME://`` picks the backend registered as SCHEME. Either is given the
   whole URL.
3. An existing path: a local transformers checkpoint.
4. ``NAME:ARGS`` whose NAME holds no path separator: ``package.module:function``,
   a Python callable. When NAME is not an importable module either, the run
   stops with one usage error listing the registered backends.
5. Anything else is a checkpoint path, which does not exist: one usage error says so.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TypeVar

from pytest_taskbench import defaults
from pytest_taskbench.generation.base import Backend, ModelLoadError

ENTRY_POINT_GROUP = "pytest_taskbench.backends"
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
HTTP_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class BackendOptions:
    """The run's options a backend factory may use (plain values; every ``--taskbench-*`` option of the same name)."""

    batch_size: int = defaults.BATCH_SIZE  # prompts per batch; 0 means "auto" (size batches yourself, or pick a default)
    device: str = defaults.DEVICE
    dtype: str = defaults.DTYPE
    decoding: str = defaults.DECODING  # a transformers model's greedy batches: "auto" (generation/greedy.py where exact) or "generate"
    threads: int | None = None  # CPU threads (None: the library's own choice)
    rootdir: Path | None = None  # pytest's rootdir: resolve relative paths in ARGS against it
    http_endpoint: str = defaults.HTTP_ENDPOINT
    http_model: str | None = None
    http_api_key_env: str = defaults.HTTP_API_KEY_ENV
    http_concurrency: int = defaults.HTTP_CONCURRENCY
    http_fixed_concurrency: bool = False
    http_timeout: float = defaults.HTTP_TIMEOUT_SECONDS
    http_retries: int = defaults.HTTP_RETRIES


BackendFactory = Callable[[str, BackendOptions], Backend]
BackendCheck = Callable[[str], None]
FactoryT = TypeVar("FactoryT", bound=BackendFactory)


class BackendError(ModelLoadError):
    """A backend registered twice or under a name no spec can select; an unknown backend name."""


@dataclass(frozen=True)
class Registration:
    name: str  # the name it was registered under first (``transformers`` for ``hf``)
    factory: BackendFactory
    check: BackendCheck | None
    key: str  # module and qualified name: the same factory registered again replaces itself
    where: str  # for messages: module, name, file and line (and the entry point it came from)


@dataclass(frozen=True)
class ModelChoice:
    """The backend a spec selects: its registered ``backend`` name, the ``args`` it is given, and the ``rule`` that chose it."""

    backend: str
    args: str
    rule: str  # "name", "url", "path", "module:function" or "missing path"


_REGISTRY: dict[str, Registration] = {}
_loaded = False


def backend(name: str, *aliases: str, check: BackendCheck | None = None) -> Callable[[FactoryT], FactoryT]:
    """Register a backend factory under ``name`` (and ``aliases``); ``--taskbench-model=NAME:ARGS`` selects it.

    Example (in a ``conftest.py``)::

        from pytest_taskbench import BaseBackend, backend

        class Shouting(BaseBackend):
            def identity(self):  # leave it out and outputs are not cached
                return "shouting-v1"

            def generate_batch(self, prompts, params):
                return [prompt.text.upper() for prompt in prompts]

        @backend("shout")
        def shout(args, options):  # --taskbench-model=shout:ANYTHING
            return Shouting(batch_size=options.batch_size or 32)

    ``check(args)``, if given, runs before any item and raises ``ModelLoadError``
    for a spec that cannot work (one usage error); the factory may raise it too.

    Raises:
        BackendError: another factory is registered under the name already (the message names both).
    """

    def register(factory: FactoryT) -> FactoryT:
        for each in (name, *aliases):
            _register(each, factory, check, canonical=name)
        return factory

    return register


def _place(factory: Callable[..., object]) -> tuple[str, str]:
    """(a key that is the same when the same definition is registered again, where it is for a message)."""
    module = getattr(factory, "__module__", "?")
    name = getattr(factory, "__qualname__", getattr(factory, "__name__", repr(factory)))
    try:
        file, line = inspect.getsourcefile(factory), inspect.getsourcelines(factory)[1]
    except (OSError, TypeError):
        return f"{module}.{name}", f"{module}.{name}"
    return f"{module}.{name}:{line}", f"{module}.{name} ({file}:{line})"


def _register(name: str, factory: BackendFactory, check: BackendCheck | None, canonical: str, source: str = "") -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise BackendError(f"backend name {name!r} cannot be selected: use letters, digits, '_' and '-', starting with a letter")
    if not callable(factory):
        raise BackendError(f"backend {name!r}{source}: {factory!r} is not a factory (args, options) -> Backend")
    key, where = _place(factory)
    earlier = _REGISTRY.get(name)
    # The same definition registered again (a conftest.py imported by a second in-process session) replaces itself.
    if earlier is not None and earlier.key != key:
        raise BackendError(f"backend {name!r} is registered twice: by {earlier.where} and by {where}{source}; rename one of them")
    _REGISTRY[name] = Registration(canonical, factory, check, key, where + source)


def _load() -> None:
    """Register the backends installed packages publish (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(entry_point, "dist", None), "name", None)
        source = f" (entry point {entry_point.name} = {entry_point.value}{f' of {dist}' if dist else ''})"
        try:
            factory = entry_point.load()
        except Exception as exc:
            raise BackendError(f"cannot load backend {entry_point.name!r}{source}: {type(exc).__name__}: {exc}") from None
        _register(entry_point.name, factory, None, canonical=entry_point.name, source=source)


def registered_backends() -> dict[str, Registration]:
    """Every registered backend name (aliases included), sorted."""
    _load()
    return dict(sorted(_REGISTRY.items()))


def resolve_model(spec: str) -> ModelChoice:
    """The backend a ``--taskbench-model`` value selects, by the rules in this module's docstring. Imports nothing.

    Raises:
        BackendError: an installed package's entry point clashes with another backend or fails to load.
    """
    known = registered_backends()
    name, colon, args = spec.partition(":")
    is_url = bool(colon) and args.startswith("//")
    if colon and not is_url and name in known:
        return ModelChoice(known[name].name, args, "name")
    if is_url:
        scheme = "openai" if name in HTTP_SCHEMES else name
        if scheme in known:
            return ModelChoice(known[scheme].name, spec, "url")
    if spec and Path(spec).exists():
        return ModelChoice("transformers", spec, "path")
    if colon and not any(separator in name for separator in ("/", "\\")):
        return ModelChoice("callable", spec, "module:function")
    return ModelChoice("transformers", spec, "missing path")


def check_choice(spec: str, choice: ModelChoice) -> None:
    """Cheap checks before any item runs: a ``module:function`` that imports, then the backend's own ``check``."""
    if choice.rule == "module:function" and not _importable(spec.partition(":")[0]):
        raise BackendError(unknown_backend_message(spec))
    registration = registered_backends()[choice.backend]
    if registration.check is not None:
        registration.check(choice.args)


def unknown_backend_message(spec: str) -> str:
    name = spec.partition(":")[0]
    names = ", ".join(registered_backends())
    return (
        f"cannot import model module {name!r} for {spec!r}, and {name!r} is no registered backend either; "
        f"registered backends: {names} (as NAME:ARGS); or give package.module:function, a checkpoint directory or an http(s):// URL"
    )


def _importable(module: str) -> bool:
    """Whether ``module`` can be found on the import path (its parent packages are imported; it is not)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
    except Exception:  # noqa: BLE001 - a parent package that fails to import: the load reports the real error
        return True


def create_backend(spec: str, options: BackendOptions) -> Backend:
    """Resolve ``spec`` and call its factory. Raises ModelLoadError with a readable cause."""
    choice = resolve_model(spec)
    registration = registered_backends()[choice.backend]
    if choice.rule == "module:function" and not _importable(spec.partition(":")[0]):
        raise BackendError(unknown_backend_message(spec))
    try:
        created = registration.factory(choice.args, options)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"backend {choice.backend!r} ({registration.where}) failed on {choice.args!r}: {type(exc).__name__}: {exc}") from None
    missing = " or ".join(f"{method}()" for method in ("generate", "close") if not callable(getattr(created, method, None)))
    if missing:
        raise ModelLoadError(
            f"backend {choice.backend!r} ({registration.where}) returned {type(created).__name__}, not a backend: it has no {missing} "
            "(subclass pytest_taskbench.BaseBackend)"
        )
    return created


# the built-in backends: each imports its module only when selected ------------------


def _check_checkpoint(args: str) -> None:
    from pytest_taskbench.generation.hf import check_checkpoint, check_dependencies

    check_checkpoint(Path(args))
    check_dependencies(args)


@backend("transformers", "hf", check=_check_checkpoint)
def _transformers(args: str, options: BackendOptions) -> Backend:
    from pytest_taskbench.generation.hf import TransformersBackend, check_dependencies

    check_dependencies(args)
    # weights load on the first cache miss
    return TransformersBackend(
        args, batch_size=options.batch_size, device=options.device, dtype=options.dtype, threads=options.threads, decoding=options.decoding
    )


def _check_url(args: str) -> None:
    from pytest_taskbench.generation.http import check_base_url

    check_base_url(args)


@backend("openai", "http", check=_check_url)
def _openai(args: str, options: BackendOptions) -> Backend:
    from pytest_taskbench.generation.http import HttpBackend, HttpOptions

    http = HttpOptions(
        endpoint=options.http_endpoint,
        model=options.http_model,
        api_key_env=options.http_api_key_env,
        concurrency=options.http_concurrency,
        fixed_concurrency=options.http_fixed_concurrency,
        timeout=options.http_timeout,
        retries=options.http_retries,
    )
    return HttpBackend(args, http)


def _check_callable(args: str) -> None:
    module, colon, function = args.partition(":")
    if not colon or not module or not function:
        raise ModelLoadError(f"{args!r}: expected package.module:function")


@backend("callable", check=_check_callable)
def _callable(args: str, options: BackendOptions) -> Backend:
    from pytest_taskbench.generation.callable import CallableBackend

    return CallableBackend.from_spec(args, batch_size=options.batch_size or 64)
