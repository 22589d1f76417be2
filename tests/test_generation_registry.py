"""Backends added like scorers: ``@backend``, entry points, and the rules that pick one from ``--taskbench-model``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from pytest_taskbench import BackendOptions, BaseBackend, GenerationParams, Prompt, backend
from pytest_taskbench.generation import BackendError, ModelLoadError, check_model_spec, load_backend, model_kind, registry, resolve_model
from pytest_taskbench.generation.callable import CallableBackend
from pytest_taskbench.generation.hf import TransformersBackend
from pytest_taskbench.generation.http import HttpBackend

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "models" / "task-api-tiny"

ECHO_CONFTEST = """\
from pytest_taskbench import BaseBackend, backend


class Echo(BaseBackend):
    name = "echo"

    def __init__(self, loud, batch_size):
        super().__init__(batch_size)
        self.loud = loud
{identity}
    def generate_batch(self, prompts, params):
        return [prompt.text.upper() if self.loud else prompt.text for prompt in prompts]


@backend("echo")
def echo(args, options):
    assert options.batch_size == 0 and options.rootdir is not None, options  # 0: auto, the default
    return Echo(loud=args == "loud", batch_size=options.batch_size or 16)  # auto: this backend picks its own
"""
WITH_IDENTITY = """
    def identity(self):
        return "echo-v1"
"""
PUBLISHED = """\
from pytest_taskbench import BaseBackend


class Published(BaseBackend):
    def __init__(self, args):
        super().__init__()
        self.args = args

    def identity(self):
        return "published:" + self.args

    def generate_batch(self, prompts, params):
        return [self.args for _ in prompts]


def factory(args, options):
    return Published(args)
"""


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a test register backends without leaking them into other tests (the built-ins stay)."""
    registry.registered_backends()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    yield


class Constant(BaseBackend):
    def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
        return ["constant"] * len(prompts)


# selecting a backend in a run ----------------------------------------------------


@pytest.mark.slow  # runs pytest in a subprocess
@pytest.mark.parametrize(("model", "passed", "failed"), [("echo:whatever", 3, 2), ("echo:loud", 2, 3)])
def test_a_conftest_backend_is_selected_by_name_and_its_outputs_are_scored(
    pytester: pytest.Pytester, demo_suite: Path, model: str, passed: int, failed: int
) -> None:
    pytester.makeconftest(ECHO_CONFTEST.format(identity=WITH_IDENTITY))
    result = pytester.runpytest_subprocess("cases", f"--taskbench-model={model}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=passed, failed=failed)  # loud: only "HI" and the case-insensitive "ABC" pass
    result.stdout.fnmatch_lines(["5 of 5 cases ran", "generation: 5 outputs (5 generated, 0 from cache)*", "verdict: *"])


@pytest.mark.slow  # runs pytest in a subprocess
@pytest.mark.parametrize(("identity", "second_run"), [("", "5 generated, 0 from cache"), (WITH_IDENTITY, "0 generated, 5 from cache")])
def test_a_backend_without_identity_runs_but_is_never_cached(pytester: pytest.Pytester, demo_suite: Path, identity: str, second_run: str) -> None:
    pytester.makeconftest(ECHO_CONFTEST.format(identity=identity))
    args = ("cases", "--taskbench-model=echo:x", "--taskbench-cache-dir=.outputs", "-p", "no:cacheprovider")
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=3, failed=2)
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines([f"generation: 5 outputs ({second_run})*"])


@pytest.mark.slow  # a Python process of its own: about a second
def test_an_unknown_name_is_one_usage_error_listing_the_backends(pytester: pytest.Pytester, demo_suite: Path) -> None:
    pytester.makeconftest(ECHO_CONFTEST.format(identity=""))
    result = pytester.runpytest_subprocess("cases", "--taskbench-model=ecko:loud", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: taskbench: cannot import model module 'ecko' for 'ecko:loud', and 'ecko' is no registered backend either; "
            "registered backends: callable, echo, hf, http, openai, transformers (as NAME:ARGS); "
            "or give package.module:function, a checkpoint directory or an http(s):// URL"
        ]
    )
    assert "PASSED" not in result.stdout.str() and "FAILED" not in result.stdout.str()


@pytest.mark.slow  # a Python process of its own: about a second
def test_a_name_registered_by_two_conftests_is_an_error_naming_both(pytester: pytest.Pytester, demo_suite: Path) -> None:
    pytester.makeconftest(ECHO_CONFTEST.format(identity=""))
    (demo_suite / "conftest.py").write_text("from pytest_taskbench import backend\n\n\n@backend('echo')\ndef other_echo(args, options):\n    return None\n")
    result = pytester.runpytest_subprocess("cases", "--taskbench-model=echo:x", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.re_match_lines(
        [
            rf".*backend 'echo' is registered twice: by conftest\.echo \({pytester.path}/conftest\.py:\d+\) and by conftest\.other_echo \({demo_suite}/conftest\.py:4\).*"
        ]
    )


# the registry --------------------------------------------------------------------


def test_a_name_registered_twice_is_an_error_naming_both_places(isolated_registry: None) -> None:
    @backend("twice")
    def first(args: str, options: BackendOptions) -> Constant:
        return Constant()

    with pytest.raises(BackendError) as info:

        @backend("twice")
        def second(args: str, options: BackendOptions) -> Constant:
            return Constant()

    here = Path(__file__)
    message = str(info.value)
    assert message.startswith("backend 'twice' is registered twice: by ")
    assert f"first ({here}:{first.__code__.co_firstlineno})" in message
    assert "second (" in message and message.endswith("; rename one of them")


def test_a_built_in_name_cannot_be_taken(isolated_registry: None) -> None:
    with pytest.raises(
        BackendError, match=r"backend 'hf' is registered twice: by pytest_taskbench\.generation\.registry\._transformers \(.*registry\.py:\d+\) and by "
    ):
        backend("hf")(lambda args, options: Constant())


def test_the_same_definition_registered_again_replaces_itself(isolated_registry: None) -> None:
    def factory(args: str, options: BackendOptions) -> Constant:
        return Constant()

    backend("again")(factory)
    backend("again")(factory)
    assert isinstance(load_backend("again:"), Constant)


@pytest.mark.parametrize("name", ["my:backend", "a/b", "", "9lives"])
def test_a_name_no_spec_could_select_is_refused(isolated_registry: None, name: str) -> None:
    with pytest.raises(BackendError, match="cannot be selected"):
        backend(name)(lambda args, options: Constant())


def test_installed_packages_add_backends_through_the_entry_point_group(isolated_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "published_backend.py").write_text(PUBLISHED)
    monkeypatch.syspath_prepend(str(tmp_path))
    published = EntryPoint(name="published", value="published_backend:factory", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [published] if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_loaded", False)
    assert model_kind("published:hello") == "published"
    created = load_backend("published:hello")
    assert created.identity() == "published:hello"
    assert [g.text for g in created.generate([Prompt((), "x")], GenerationParams())] == ["hello"]


def test_an_entry_point_taking_a_built_in_name_is_an_error_naming_both(isolated_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "published_backend.py").write_text(PUBLISHED)
    monkeypatch.syspath_prepend(str(tmp_path))
    clash = EntryPoint(name="openai", value="published_backend:factory", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [clash])
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(BackendError) as info:
        check_model_spec("http://localhost:8000/v1")
    assert str(info.value).startswith("backend 'openai' is registered twice: by pytest_taskbench.generation.registry._openai (")
    assert "and by published_backend.factory (" in str(info.value)
    assert "(entry point openai = published_backend:factory)" in str(info.value)


def test_a_factory_that_fails_or_returns_no_backend_is_a_load_error(isolated_registry: None) -> None:
    @backend("broken")
    def broken(args: str, options: BackendOptions) -> Constant:
        raise ValueError(f"no such thing as {args}")

    @backend("nothing")  # type: ignore[type-var]  # the point: it returns no backend
    def nothing(args: str, options: BackendOptions) -> object:
        return object()

    with pytest.raises(ModelLoadError, match=r"backend 'broken' \(.*\) failed on 'x': ValueError: no such thing as x"):
        load_backend("broken:x")
    with pytest.raises(ModelLoadError, match=r"returned object, not a backend: it has no generate\(\) or close\(\)"):
        load_backend("nothing:")


def test_a_check_runs_before_any_item(isolated_registry: None) -> None:
    def check(args: str) -> None:
        if not args:
            raise ModelLoadError("picky: say which")

    backend("picky", check=check)(lambda args, options: Constant())
    check_model_spec("picky:this")
    with pytest.raises(ModelLoadError, match="picky: say which"):
        check_model_spec("picky:")


# the resolution rules, in order ----------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "backend_name", "args", "rule"),
    [
        # the forms that worked before the registry select what they selected then
        (str(TINY), "transformers", str(TINY), "path"),
        ("models/no-such-checkpoint", "transformers", "models/no-such-checkpoint", "missing path"),
        ("http://localhost:8000/v1", "openai", "http://localhost:8000/v1", "url"),
        ("https://api.example.com/v1", "openai", "https://api.example.com/v1", "url"),
        ("package.module:function", "callable", "package.module:function", "module:function"),
        ("rules:respond", "callable", "rules:respond", "module:function"),
        ("models/no-such:thing", "transformers", "models/no-such:thing", "missing path"),
        # NAME:ARGS
        ("transformers:./models/x", "transformers", "./models/x", "name"),
        ("hf:./models/x", "transformers", "./models/x", "name"),
        ("openai:http://host:8000/v1", "openai", "http://host:8000/v1", "name"),
        ("http:https://host/v1", "openai", "https://host/v1", "name"),
        ("callable:package.module:function", "callable", "package.module:function", "name"),
    ],
)
def test_a_spec_selects_its_backend(spec: str, backend_name: str, args: str, rule: str) -> None:
    choice = resolve_model(spec)
    assert (choice.backend, choice.args, choice.rule) == (backend_name, args, rule)
    assert model_kind(spec) == backend_name


def test_the_old_forms_create_the_same_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rules_model.py").write_text("def respond(prompts):\n    return [p[::-1] for p in prompts]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert type(load_backend(str(TINY))) is TransformersBackend
    assert type(load_backend("http://localhost:8000/v1")) is HttpBackend
    created = load_backend("rules_model:respond", BackendOptions(batch_size=0))
    assert type(created) is CallableBackend and created.batch_size == 64  # auto batch size: 64 for a callable
    assert [g.text for g in created.generate([Prompt((), "abc")], GenerationParams())] == ["cba"]


def test_a_registered_name_wins_over_an_importable_module_and_a_path(isolated_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend("json")(lambda args, options: Constant())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "json:dumps").mkdir()  # an existing path, and json is an importable module: the backend still wins
    assert resolve_model("json:dumps").rule == "name"
    assert isinstance(load_backend("json:dumps"), Constant)
    (tmp_path / "os:getcwd").mkdir()
    assert resolve_model("os:getcwd").rule == "path"  # not a registered name: an existing path comes before module:function
    assert resolve_model("os:getpid").rule == "module:function"


def test_a_url_goes_whole_to_the_backend_of_its_scheme(isolated_registry: None) -> None:
    seen: list[str] = []

    @backend("grpc")
    def grpc(args: str, options: BackendOptions) -> Constant:
        seen.append(args)
        return Constant()

    load_backend("grpc://host:50051")
    load_backend("grpc:host:50051")
    assert seen == ["grpc://host:50051", "host:50051"]
    assert resolve_model("ftp://host/x").rule == "module:function"  # no backend for the scheme: the unknown-name error says so
    with pytest.raises(BackendError, match="registered backends: callable, grpc, hf, http, openai, transformers"):
        check_model_spec("ftp://host/x")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("callable:no_colon", r"'no_colon': expected package\.module:function"),
        ("openai:localhost:8000", r"'localhost:8000' is not a server URL; expected http://HOST:PORT/v1"),
        ("transformers:models/none", r"model path 'models/none' does not exist"),
        ("nosuchmodule_xyz:f", r"cannot import model module 'nosuchmodule_xyz' for 'nosuchmodule_xyz:f'"),
    ],
)
def test_a_spec_that_cannot_work_fails_its_check(spec: str, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        check_model_spec(spec)


def test_the_registry_docstring_states_the_rules_in_order() -> None:
    doc = registry.__doc__ or ""
    positions = [doc.index(marker) for marker in ("1. ``NAME:ARGS``", "2. A URL", "3. An existing path", "4. ``NAME:ARGS``", "5. Anything else")]
    assert positions == sorted(positions)


def test_the_backend_decorator_returns_the_factory(isolated_registry: None) -> None:
    factory: Callable[[str, BackendOptions], Constant] = lambda args, options: Constant()  # noqa: E731
    assert backend("same")(factory) is factory


OOM_BACKEND = """\
from pytest_taskbench import BaseBackend, backend


class Cramped(BaseBackend):
    '''Runs out of memory on batches of more than two prompts, like a small GPU.'''

    def identity(self):
        return "cramped"

    def is_out_of_memory(self, error):
        return "out of memory" in str(error)

    def generate_batch(self, prompts, params):
        if len(prompts) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [prompt.text for prompt in prompts]


@backend("cramped")
def cramped(args, options):
    return Cramped(options.batch_size)
"""


def test_running_out_of_memory_is_reported_in_the_generation_line(pytester: pytest.Pytester, demo_suite: Path) -> None:
    pytester.makeconftest(OOM_BACKEND)
    result = pytester.runpytest("cases", "--taskbench-model=cramped:", "--taskbench-batch-size=8", "--taskbench-no-cache", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=2)  # every output arrived: echo passes g1, g2 and s1 (case-insensitive)
    result.stdout.fnmatch_lines(["generation: 5 outputs (5 generated, 0 from cache) in *; out of memory 2 times, batches split and the batch size lowered"])
