"""A local transformers checkpoint as a model: ``--taskbench-model=PATH``.

torch and transformers are imported here, on first use, so ``pytest --help`` and
``--collect-only`` stay fast and need no model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_taskbench.generation.base import BaseBackend, GenerationParams, ModelLoadError, Prompt

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


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
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise ModelLoadError(f"model path {str(path)!r} holds no weights (looked for {', '.join(WEIGHT_FILES)})")


class TransformersBackend(BaseBackend):
    name = "transformers"

    def __init__(self, path: str | Path, *, batch_size: int = 8, device: str = "cpu", dtype: str = "auto") -> None:
        super().__init__(batch_size)
        self.path = Path(path)
        check_checkpoint(self.path)
        self.device = device
        self.dtype = dtype
        self._model: Any = None
        self._tokenizer: Any = None
        self.is_encoder_decoder = False

    def load(self) -> None:
        """Load model and tokenizer (once); raises ModelLoadError with the cause."""
        if self._model is not None:
            return
        try:
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

            model_config = AutoConfig.from_pretrained(self.path, local_files_only=True)
            self.is_encoder_decoder = bool(getattr(model_config, "is_encoder_decoder", False))
            model_class = AutoModelForSeq2SeqLM if self.is_encoder_decoder else AutoModelForCausalLM
            torch_dtype = self.dtype if self.dtype == "auto" else getattr(torch, self.dtype)
            model = model_class.from_pretrained(self.path, local_files_only=True, dtype=torch_dtype)
            tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        except Exception as exc:
            raise ModelLoadError(f"cannot load model from {str(self.path)!r}: {type(exc).__name__}: {exc}") from None
        tokenizer.padding_side = "right" if self.is_encoder_decoder else "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.to(self.device)
        model.eval()
        self._model, self._tokenizer = model, tokenizer

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    def identity(self) -> str:
        digest = hashlib.sha256()
        for file in sorted(self.path.iterdir()):
            if file.is_file():
                stat = file.stat()
                digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return f"transformers:{self.path.resolve()}:{digest.hexdigest()[:16]}"

    def render(self, prompt: Prompt, params: GenerationParams) -> str:
        """The exact text fed to the model: the chat template when the tokenizer has one and it is on."""
        tokenizer = self.tokenizer
        if params.use_chat_template and getattr(tokenizer, "chat_template", None):
            rendered: str = tokenizer.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True)
            return rendered
        return prompt.text

    def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
        import torch

        self.load()
        tokenizer, model = self._tokenizer, self._model
        texts = [self.render(prompt, params) for prompt in prompts]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=self.is_encoder_decoder)
        encoded = {key: value.to(self.device) for key, value in encoded.items()}
        sampling: dict[str, Any] = {"do_sample": False}
        if params.temperature > 0:
            sampling = {"do_sample": True, "temperature": params.temperature}
        with torch.inference_mode():
            output_ids = model.generate(
                **encoded,
                max_new_tokens=params.max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                stop_strings=list(params.stop) or None,
                tokenizer=tokenizer if params.stop else None,
                **sampling,
            )
        if not self.is_encoder_decoder:
            output_ids = output_ids[:, encoded["input_ids"].shape[1] :]
        return [str(text) for text in tokenizer.batch_decode(output_ids, skip_special_tokens=True)]

    def close(self) -> None:
        self._model = None
        self._tokenizer = None
