"""The generation cache on its own: keys, atomic entries, corrupt and unwritable caches, clearing."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from pytest_taskbench.generation.base import GenerationParams, Prompt
from pytest_taskbench.generation.cache import GenerationCache, clear_cache, entry_key, open_cache
from pytest_taskbench.generation.hf import fingerprint_checkpoint

PROMPT = Prompt(({"role": "user", "content": "hi"},), "hi")
PARAMS = GenerationParams()


def test_round_trip(tmp_path: Path) -> None:
    cache = GenerationCache(tmp_path, "model-a")
    key = entry_key("model-a", PROMPT, PARAMS)
    assert cache.get(key) is None
    cache.put(key, "hello")
    assert GenerationCache(tmp_path, "model-a").get(key) == "hello"
    assert cache.entries() == 1


@pytest.mark.parametrize(
    "other",
    [
        ("model-b", PROMPT, PARAMS),
        ("model-a", Prompt(({"role": "user", "content": "hi!"},), "hi"), PARAMS),
        ("model-a", Prompt(({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}), "hi"), PARAMS),
        ("model-a", PROMPT, GenerationParams(max_new_tokens=64)),
        ("model-a", PROMPT, GenerationParams(stop=("\n",))),
        ("model-a", PROMPT, GenerationParams(temperature=0.7)),
        ("model-a", PROMPT, GenerationParams(use_chat_template=False)),
    ],
)
def test_key_covers_model_prompt_and_every_setting(other: tuple[str, Prompt, GenerationParams]) -> None:
    assert entry_key(*other) != entry_key("model-a", PROMPT, PARAMS)


def test_one_models_outputs_are_never_served_as_anothers(tmp_path: Path) -> None:
    key_a = entry_key("model-a", PROMPT, PARAMS)
    GenerationCache(tmp_path, "model-a").put(key_a, "from a")
    other = GenerationCache(tmp_path, "model-b")
    assert other.get(entry_key("model-b", PROMPT, PARAMS)) is None
    assert other.get(key_a) is None  # even a stolen key finds nothing in another model's folder


def test_corrupt_entries_are_reported_once_and_bypassed(tmp_path: Path) -> None:
    cache = GenerationCache(tmp_path, "m")
    keys = [entry_key("m", Prompt(({"role": "user", "content": str(i)},), str(i)), PARAMS) for i in range(3)]
    for key in keys:
        cache.put(key, "ok")
    for path in cache.model_directory.glob("*/*.json"):
        path.write_text('{"key": "trunc')
    fresh = GenerationCache(tmp_path, "m")
    assert [fresh.get(key) for key in keys] == [None, None, None]
    assert len(fresh.problems) == 1
    assert "corrupt cache entry" in fresh.problems[0] and "2 more" in fresh.problems[0]
    fresh.put(keys[0], "rewritten")
    assert fresh.get(keys[0]) == "rewritten"


def test_an_entry_for_another_key_is_not_served(tmp_path: Path) -> None:
    cache = GenerationCache(tmp_path, "m")
    key, other = entry_key("m", PROMPT, PARAMS), entry_key("m", PROMPT, GenerationParams(max_new_tokens=1))
    cache.put(key, "x")
    target = cache.model_directory / other[:2] / f"{other}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(cache.model_directory / key[:2] / f"{key}.json", target)
    assert cache.get(other) is None
    assert cache.problems


def test_unwritable_directory_turns_caching_off_without_raising(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = GenerationCache(blocker / "cache", "m")
    cache.put("ab" * 32, "x")
    cache.put("cd" * 32, "y")
    assert cache.disabled
    assert len(cache.problems) == 1 and "cannot write the generation cache" in cache.problems[0]
    assert cache.get("ab" * 32) is None


def test_refresh_writes_but_does_not_read(tmp_path: Path) -> None:
    key = entry_key("m", PROMPT, PARAMS)
    GenerationCache(tmp_path, "m").put(key, "old")
    refreshing = GenerationCache(tmp_path, "m", read=False)
    assert refreshing.get(key) is None
    refreshing.put(key, "new")
    assert GenerationCache(tmp_path, "m").get(key) == "new"


def test_concurrent_writers_leave_only_complete_entries(tmp_path: Path) -> None:
    keys = [entry_key("m", Prompt(({"role": "user", "content": str(i)},), str(i)), PARAMS) for i in range(20)]

    def writer(tag: str) -> None:
        cache = GenerationCache(tmp_path, "m")
        for key in keys:
            cache.put(key, tag * 2000)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader = GenerationCache(tmp_path, "m")
    outputs = [reader.get(key) for key in keys]
    assert all(output is not None and output in {tag * 2000 for tag in "abcd"} for output in outputs)
    assert not reader.problems
    assert not list(tmp_path.rglob(".tmp-*"))


def test_clear_cache_removes_every_model(tmp_path: Path) -> None:
    for model in ("a", "b"):
        GenerationCache(tmp_path, model).put(entry_key(model, PROMPT, PARAMS), "x")
    assert clear_cache(tmp_path) == 2
    assert GenerationCache(tmp_path, "a").get(entry_key("a", PROMPT, PARAMS)) is None
    assert clear_cache(tmp_path) == 0


class _NoIdentity:
    name = "custom"

    def identity(self) -> str:
        raise NotImplementedError


class _Identified:
    name = "custom"

    def identity(self) -> str:
        return "custom-model"


def test_open_cache_is_off_when_disabled_or_the_backend_cannot_say_what_it_is(tmp_path: Path) -> None:
    opened = open_cache(_Identified(), tmp_path)  # type: ignore[arg-type]
    assert opened is not None and (opened.directory, opened.identity, opened.read) == (tmp_path, "custom-model", True)
    assert open_cache(_Identified(), tmp_path, read=False).read is False  # type: ignore[arg-type,union-attr]
    assert open_cache(_Identified(), None) is None  # type: ignore[arg-type]
    assert open_cache(_Identified(), tmp_path, enabled=False) is None  # type: ignore[arg-type]
    assert open_cache(_NoIdentity(), tmp_path) is None  # type: ignore[arg-type]


# model identity ---------------------------------------------------------------


def _checkpoint(directory: Path, weights: bytes) -> Path:
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (directory / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    header = json.dumps({"w": {"dtype": "F32", "shape": [len(weights) // 4], "data_offsets": [0, len(weights)]}}).encode()
    (directory / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + weights)
    return directory


def test_fingerprint_ignores_location_and_mtime_but_not_content(tmp_path: Path) -> None:
    original = _checkpoint(tmp_path / "a", bytes(4096))
    copy = tmp_path / "b"
    shutil.copytree(original, copy)
    os.utime(copy / "model.safetensors", (1, 1))
    assert fingerprint_checkpoint(original) == fingerprint_checkpoint(copy)
    reference = fingerprint_checkpoint(original)
    for name, change in [
        ("tokenizer_config.json", lambda p: p.write_text(json.dumps({"chat_template": "{{ messages | tojson }}"}))),
        ("config.json", lambda p: p.write_text(json.dumps({"model_type": "llama", "rope_theta": 1.0}))),
        ("model.safetensors", lambda p: p.write_bytes(p.read_bytes()[:-1] + b"\x01")),
    ]:
        shutil.rmtree(copy)
        shutil.copytree(original, copy)
        change(copy / name)
        assert fingerprint_checkpoint(copy) != reference, name


def test_fingerprint_of_a_large_weight_file_reads_samples_not_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_taskbench.generation.hf as hf

    monkeypatch.setattr(hf, "FULL_HASH_LIMIT", 1 << 20)  # treat 8 MiB as "large" so the test stays small
    weights = bytearray(8 << 20)
    directory = _checkpoint(tmp_path / "big", bytes(weights))
    reference = fingerprint_checkpoint(directory)
    path = directory / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2 - 100] ^= 0xFF  # outside every sampled block: the documented blind spot
    sampled_offset = (len(data) - hf.SAMPLE_BYTES) * 3 // (hf.SAMPLES + 1) + 10
    path.write_bytes(bytes(data))
    assert fingerprint_checkpoint(directory) == reference
    data[sampled_offset] ^= 0xFF
    path.write_bytes(bytes(data))
    assert fingerprint_checkpoint(directory) != reference
