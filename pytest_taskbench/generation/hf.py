"""A local transformers checkpoint as a model: ``--taskbench-model=PATH``.

Batched generation done the way it is cheapest:

- prompts are rendered (chat template or plain text) and tokenized once, then
  generated longest first, so each batch holds prompts of similar length and
  little padding; decoder-only models pad on the left;
- ``batch_size=0`` ("auto") sizes each batch from the real token lengths of its
  prompts plus ``max_new_tokens`` (not the model's maximum context) against the
  memory that is free, and halves on out-of-memory;
- a sampled suite's N samples of a prompt come from one ``generate`` call under a
  seed derived from the batch, so the same batch draws the same samples; the
  prompts go through the model once and their KV cache is repeated N times
  (``generate(num_return_sequences=N)`` would compute each prompt N times);
  ``batch_size`` counts prompts (each with its N samples), auto sizing counts
  sequences;
- the identity (the cache key's model part) is a fingerprint of the checkpoint
  that reads a few MiB however large the weights are (``fingerprint_checkpoint``).

torch and transformers are imported here, on first use, so ``pytest --help`` and
``--collect-only`` stay fast and need no model. They are the ``hf`` extra
(``pip install "pytest-taskbench[hf]"``): without them, a checkpoint is one usage
error that says what to install (``check_dependencies``), and every other model works.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pytest_taskbench.generation.base import BaseBackend, GenerationParams, ModelLoadError, Prompt
from pytest_taskbench.generation.greedy import cache_argument, changed_settings, greedy_generate, left_padded_positions, returned_cache, stop_strings_check

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
FULL_HASH_LIMIT = 64 * 1024 * 1024  # files up to this size are hashed in full
EDGE_BYTES = 1024 * 1024  # larger files: the first and last MiB ...
SAMPLE_BYTES = 64 * 1024  # ... and this much at SAMPLES evenly spaced offsets
SAMPLES = 16
MAX_AUTO_BATCH = 64
CPU_TOKEN_BUDGET = 12288  # on CPU, batches gain little beyond about this many tokens (the sweep in benchmarks/bench_defaults.py)
REQUIRED_MODULES = ("torch", "transformers")  # what this module imports; the hf extra installs them (and safetensors, tokenizers)
ACCELERATOR_MARKERS = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd")  # an NVIDIA driver; ROCm
CPU_TORCH = "torch==2.13.0"  # a bare "torch" pulls a multi-GB CUDA build


def check_dependencies(spec: str) -> None:
    """Raise ModelLoadError saying what to install when torch or transformers is missing (neither is imported here)."""
    missing = [name for name in REQUIRED_MODULES if not _installed(name)]
    if missing:
        raise ModelLoadError(
            f"{spec} is a local transformers checkpoint, which needs PyTorch and transformers (not installed: {', '.join(missing)}): "
            f'pip install "pytest-taskbench[hf]" (on CPU first: pip install {CPU_TORCH})'
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_checkpoint(path: Path) -> None:
    """Cheap checks that a directory is a transformers checkpoint, run before any item."""
    if not path.exists():
        raise ModelLoadError(f"model path {str(path)!r} does not exist (models load from local paths only; nothing is downloaded)")
    if not path.is_dir():
        raise ModelLoadError(f"model path {str(path)!r} is not a directory holding a transformers checkpoint")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"model path {str(path)!r} has no config.json: not a transformers checkpoint")
    try:
        json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{config_file}: unreadable config.json: {exc}") from None
    if not any((path / name).is_file() for name in WEIGHT_FILES) and not any(path.glob("*.safetensors")):
        raise ModelLoadError(f"model path {str(path)!r} holds no weights (looked for {', '.join(WEIGHT_FILES)})")


def fingerprint_checkpoint(path: Path) -> str:
    """A content fingerprint of every file in a checkpoint directory (recursively, hidden entries skipped).

    Files up to 64 MiB (config, generation config, tokenizer, chat template, small
    weights) are hashed in full. Larger files (weights) are hashed by size, the
    first and last MiB, 16 blocks of 64 KiB at evenly spaced offsets and, for
    safetensors, the whole header (every tensor's name, dtype, shape and offsets).
    File names count; modification times and the directory's location do not, so
    a copied or re-cloned checkpoint keeps its cache and an edited one does not.
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)):
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path).as_posix()}\0{size}\0".encode())
        with file.open("rb") as stream:
            if size <= FULL_HASH_LIMIT:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
                continue
            if file.suffix == ".safetensors":
                (header_size,) = struct.unpack("<Q", stream.read(8))
                digest.update(stream.read(min(header_size, size - 8)))
            offsets = [0, size - EDGE_BYTES] + [(size - SAMPLE_BYTES) * k // (SAMPLES + 1) for k in range(1, SAMPLES + 1)]
            for index, offset in enumerate(offsets):
                stream.seek(offset)
                digest.update(stream.read(EDGE_BYTES if index < 2 else SAMPLE_BYTES))
    return digest.hexdigest()


def resolve_device(device: str) -> str:
    """``auto`` is cuda when available, then mps, then cpu.

    torch is imported only where an accelerator may exist (a GPU driver, Apple silicon): on a
    machine without one, ``auto`` is cpu at once, and a run served from the cache imports no torch.
    """
    if device != "auto":
        return device
    if not _may_have_accelerator():
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _may_have_accelerator() -> bool:
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return any(Path(marker).exists() for marker in ACCELERATOR_MARKERS)


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` is float32 on CPU, bfloat16 on a GPU that supports it, float16 on other GPUs and mps."""
    if dtype != "auto":
        return dtype
    kind = device.split(":")[0]
    if kind == "cpu":
        return "float32"
    if kind == "cuda":
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float16"


class TransformersBackend(BaseBackend):
    name = "transformers"

    def __init__(
        self, path: str | Path, *, batch_size: int = 0, device: str = "auto", dtype: str = "auto", threads: int | None = None, decoding: str = "auto"
    ) -> None:
        self.auto_batch = batch_size <= 0
        super().__init__(MAX_AUTO_BATCH if self.auto_batch else batch_size)
        self.batch_counts_sequences = self.auto_batch  # auto sizes batches by tokens held: a prompt's N samples hold N times as many
        self.path = Path(path)
        check_checkpoint(self.path)
        self.device = device
        self.dtype = dtype
        self.threads = threads
        self._model: Any = None
        self._tokenizer: Any = None
        self._identity: str | None = None
        self._encoded: dict[tuple[str, str, bool], list[int]] = {}
        self.is_encoder_decoder = False
        self._stop_strings_work = True
        self._facts: dict[str, str | int] = {}
        self._share_prefill = True  # False once a model's cache turned out not to be a DynamicCache
        self._greedy_loop: bool | None = None if decoding == "auto" else False  # greedy batches through greedy.py (None: not decided yet)

    def load(self) -> None:
        """Load model and tokenizer (once); raises ModelLoadError with the cause."""
        if self._model is not None:
            return
        try:
            with collector_paused():
                self._load()
        except Exception as exc:
            raise ModelLoadError(f"cannot load model from {str(self.path)!r}: {type(exc).__name__}: {exc}") from None
        self.weight_loads += 1

    def _load(self) -> None:
        """Import torch and transformers, build model and tokenizer, move the model to its device."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        if self.threads:
            torch.set_num_threads(self.threads)
        self.device = resolve_device(self.device)
        self.dtype = resolve_dtype(self.dtype, self.device)
        model_config = AutoConfig.from_pretrained(self.path, local_files_only=True)
        self.is_encoder_decoder = bool(getattr(model_config, "is_encoder_decoder", False))
        model_class = AutoModelForSeq2SeqLM if self.is_encoder_decoder else AutoModelForCausalLM
        torch_dtype = getattr(torch, self.dtype)
        with _quiet_progress_bars():
            model = model_class.from_pretrained(self.path, local_files_only=True, dtype=torch_dtype)
        tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        tokenizer.padding_side = "right" if self.is_encoder_decoder else "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        # transformers wraps `to` in functools.wraps, whose stub does not bind `self`: the device reads as the model
        model.to(self.device)  # type: ignore[arg-type]
        model.eval()
        self._model, self._tokenizer = model, tokenizer
        self._facts = {"device": str(self.device), "dtype": str(model.dtype).removeprefix("torch.")}

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    def identity(self) -> str:
        """Checkpoint fingerprint + dtype + device type + transformers version (see ``fingerprint_checkpoint``).

        Computed without loading the model (``auto`` device and dtype resolved as loading would,
        without importing torch on a machine with no accelerator), so a run served wholly from the
        cache never loads the weights.
        """
        if self._identity is None:
            device = resolve_device(self.device)
            dtype = resolve_dtype(self.dtype, device)
            version = importlib.metadata.version("transformers")
            self._identity = f"transformers:{fingerprint_checkpoint(self.path)}:{dtype}:{device.split(':')[0]}:transformers-{version}"
        return self._identity

    def render(self, prompt: Prompt, params: GenerationParams) -> str:
        """The exact text fed to the model: the chat template when the tokenizer has one and it is on.

        The prompt's tools are passed to the chat template (``apply_chat_template(tools=...)``),
        the only way a transformers model sees them; a prompt with tools and no chat template
        to render them raises ValueError, which fails that case alone.
        """
        tokenizer = self.tokenizer
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if prompt.tools and not (params.use_chat_template and has_template):
            why = "the chat template is switched off" if has_template else f"{self.path} has no chat template"
            raise ValueError(f"this case offers the model tools, which reach a transformers model only through its chat template, and {why}")
        if params.use_chat_template and has_template:
            tools = [dict(tool) for tool in prompt.tools] or None
            rendered: str = tokenizer.apply_chat_template(list(prompt.messages), tools=tools, tokenize=False, add_generation_prompt=True)
            return rendered
        return prompt.text

    def encode(self, prompt: Prompt, params: GenerationParams) -> list[int]:
        """Token ids of the rendered prompt, computed once per prompt."""
        key = (json.dumps([list(map(dict, prompt.messages)), list(map(dict, prompt.tools))], sort_keys=True), prompt.text, params.use_chat_template)
        if key not in self._encoded:
            ids = self.tokenizer(self.render(prompt, params), add_special_tokens=self.is_encoder_decoder)["input_ids"]
            self._encoded[key] = list(ids)
        return self._encoded[key]

    def _length(self, prompt: Prompt, params: GenerationParams) -> int:
        """The prompt's length in tokens; 0 for one that cannot be rendered (it fails alone when its batch runs)."""
        try:
            return len(self.encode(prompt, params))
        except ValueError:
            return 0

    def order(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[int]:
        """Longest first: batches of similar length pad little, and an out-of-memory shows on the first batch."""
        lengths = [self._length(prompt, params) for prompt in prompts]
        return sorted(range(len(prompts)), key=lambda index: -lengths[index])

    def next_batch_size(self, remaining: Sequence[int], prompts: Sequence[Prompt], params: GenerationParams) -> int:
        if not self.auto_batch:
            return self.batch_size
        longest = self._length(prompts[remaining[0]], params) + params.max_new_tokens
        return max(1, min(self.batch_size, self.token_budget() // max(1, longest)))

    def token_budget(self) -> int:
        """How many sequence tokens (prompt + new) one batch may hold: from free memory and the KV-cache size per token."""
        import torch

        config = self._model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        layers = int(getattr(text_config, "num_hidden_layers", 12))
        hidden = int(getattr(text_config, "hidden_size", 768))
        heads = int(getattr(text_config, "num_attention_heads", 12))
        kv_heads = int(getattr(text_config, "num_key_value_heads", None) or heads)
        head_dim = int(getattr(text_config, "head_dim", None) or hidden // heads)
        element = torch.empty((), dtype=self._model.dtype).element_size()
        # KV cache for every layer, plus a few hidden-sized activations per token.
        per_token = element * (2 * layers * kv_heads * head_dim + 8 * hidden)
        if str(self.device).startswith("cuda"):
            free, _ = torch.cuda.mem_get_info(torch.device(self.device))
            return int(free * 0.7) // per_token
        available = _available_memory()
        memory_budget = int(available * 0.5) // per_token if available else CPU_TOKEN_BUDGET
        return min(CPU_TOKEN_BUDGET, memory_budget)

    def is_out_of_memory(self, error: Exception) -> bool:
        import torch

        return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()

    def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
        return [texts[0] for texts in self._generate(prompts, params, 1, None)]

    def generate_batch_samples(self, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]) -> list[list[str]]:
        """Every prompt's samples in one ``generate`` call (``num_return_sequences``), seeded by the batch.

        The seed is derived from ``params.seed`` and the batch itself (each prompt's token ids and the
        sample indices asked of it), so the same batch draws the same samples on the same machine
        whatever ran before it in the process. Prompts that want fewer samples than the most any
        prompt of the batch wants keep the first ones they asked for.
        """
        count = max(len(indices) for indices in samples)
        material = json.dumps([params.seed, [[self.encode(prompt, params), list(indices)] for prompt, indices in zip(prompts, samples)]])
        seed = int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "little") & (2**63 - 1)
        generated = self._generate(prompts, params, count, seed)
        return [texts[: len(indices)] for texts, indices in zip(generated, samples)]

    def _generate(self, prompts: Sequence[Prompt], params: GenerationParams, count: int, seed: int | None) -> list[list[str]]:
        """``count`` outputs per prompt; sampled under a fixed torch seed when ``seed`` is given (the global RNG is restored)."""
        import torch

        self.load()
        tokenizer, model = self._tokenizer, self._model
        features = [{"input_ids": self.encode(prompt, params)} for prompt in prompts]
        encoded = tokenizer.pad(features, padding=True, return_tensors="pt")
        encoded = {key: value.to(self.device) for key, value in encoded.items()}
        sampled = params.temperature > 0
        sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if sampled:
            sampling = {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k}
        common = dict(max_new_tokens=params.max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling)
        cuda = str(self.device).startswith("cuda")

        def run(stopping: dict[str, Any]) -> Any:
            if seed is not None:
                torch.manual_seed(seed)
            shared = self._prefill(encoded, count) if sampled and count > 1 else None
            if shared is not None:  # the prompts' tokens went through the model once; each sample continues from a copy of their cache
                return model.generate(**shared, **common, **stopping)
            return model.generate(**encoded, **common, **({"num_return_sequences": count} if sampled else {}), **stopping)

        try:
            with torch.inference_mode(), torch.random.fork_rng(devices=[torch.device(self.device)] if cuda else [], enabled=seed is not None):
                if not sampled and self._greedy_loop_fits(model):
                    rows = self._greedy(encoded, params)
                    if rows is not None:
                        return [[str(text)] for text in tokenizer.batch_decode(rows, skip_special_tokens=True)]
                stopping = {"stop_strings": list(params.stop), "tokenizer": tokenizer} if params.stop and self._stop_strings_work else {}
                try:
                    output_ids = run(stopping)
                except ValueError:
                    if not stopping:
                        raise
                    # Some tokenizers (word-level ones, say) break transformers' stop-string matcher; stopping
                    # early is only a saving, since BaseBackend cuts at the stop sequence afterwards anyway.
                    self._stop_strings_work = False
                    output_ids = run({})
        except Exception as exc:
            if self.is_out_of_memory(exc) and cuda:
                torch.cuda.empty_cache()
            raise
        if not self.is_encoder_decoder:
            output_ids = output_ids[:, encoded["input_ids"].shape[1] :]
        texts = [str(text) for text in tokenizer.batch_decode(output_ids, skip_special_tokens=True)]
        per_prompt = count if sampled else 1
        return [texts[i * per_prompt : (i + 1) * per_prompt] for i in range(len(prompts))]

    def _greedy_loop_fits(self, model: Any) -> bool:
        """Whether ``greedy.greedy_generate`` gives what ``generate`` would: decided once per model (see greedy.py)."""
        if self._greedy_loop is None:
            self._greedy_loop = not self.is_encoder_decoder and not changed_settings(model)
        return self._greedy_loop

    def _greedy(self, encoded: dict[str, Any], params: GenerationParams) -> list[list[int]] | None:
        """Greedy decoding with finished rows dropped; None when the model's cache cannot drop rows (then never tried again)."""
        stop_check = None
        if params.stop and self._stop_strings_work:
            try:
                stop_check = stop_strings_check(self._tokenizer, params.stop)
            except ValueError:  # as with generate's stop strings: BaseBackend cuts at the stop sequence afterwards anyway
                self._stop_strings_work = False
        rows = greedy_generate(self._model, encoded["input_ids"], encoded["attention_mask"], params.max_new_tokens, stop_check)
        if rows is None:
            self._greedy_loop = False
        return rows

    def generation_facts(self) -> dict[str, str | int]:
        """Where the model ran, once it has loaded: for the summary's generation line."""
        return dict(self._facts)

    def _prefill(self, encoded: dict[str, Any], count: int) -> dict[str, Any] | None:
        """Each prompt's tokens but the last through the model once, the KV cache then repeated ``count`` times.

        ``generate(num_return_sequences=N)`` copies every prompt N times before running it, so the
        prompt is computed N times; here it is computed once and only the samples' own tokens N
        times. The last prompt token is left to ``generate`` (it computes the first sample's logits).
        Positions follow the attention mask, as ``generate`` numbers them under left padding. Returns
        None (``generate`` does it the usual way) for an encoder-decoder model, a one-token prompt
        or a model whose cache cannot be repeated.
        """
        from transformers import DynamicCache

        ids, mask = encoded["input_ids"], encoded["attention_mask"]
        if self.is_encoder_decoder or not self._share_prefill or ids.shape[1] < 2:
            return None
        positions = left_padded_positions(mask)
        output = self._model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1], use_cache=True)
        cache = returned_cache(output)
        if not isinstance(cache, DynamicCache):  # another kind of cache (sliding window, state space): no sharing
            self._share_prefill = False
            return None
        cache.batch_repeat_interleave(count)
        name = cache_argument(self._model)
        return {"input_ids": ids.repeat_interleave(count, dim=0), "attention_mask": mask.repeat_interleave(count, dim=0), name: cache}

    def close(self) -> None:
        self._model = None
        self._tokenizer = None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off, then collect once.

    Importing torch and transformers and building a model allocate some 400k long-lived
    objects; while they pile up, the collector's full passes walk all of them again and
    again (0.7 s of a 4 s load of the shipped model). One pass at the end frees whatever
    the load left in cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect()


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """transformers' "Loading weights" bar would land in the middle of pytest's output."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _available_memory() -> int:
    """MemAvailable on Linux (free plus reclaimable page cache), else free pages; 0 when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0
