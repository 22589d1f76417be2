"""Greedy decoding that drops each finished row from the batch.

``model.generate`` computes every row of a batch until the last one stops: a batch whose
answers are 20 tokens long but for one of 90 runs all of its rows 90 steps. This loop
feeds the model only the rows still going: a row that reaches an end-of-sequence token or a
stop string is finished, and once a quarter of the batch is finished those rows leave it,
with their attention-mask and KV-cache rows (the cache's ``batch_select_indices``; leaving
one at a time would copy the cache at nearly every step). It also skips ``generate``'s per-step machinery, which on a small
model costs as much as the model itself. On the shipped model it halves the generation time
at the same batch size with the same outputs (``benchmarks/bench_defaults.py``).

It is the same computation as ``generate(do_sample=False)``: the prompt through the model
once, then the argmax token of each step, positions numbered along the attention mask as
``generate`` numbers them under left padding, the stop strings matched by transformers' own
``StopStringCriteria``. ``usable`` says when that holds: a decoder-only model with a
``DynamicCache`` whose generation config changes nothing a greedy step depends on (no
repetition penalty, no banned words, ...); otherwise the caller uses ``generate``.

Domain code: no pytest import; torch and transformers are imported by the caller's backend.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

# Generation-config keys that leave greedy tokens alone: sampling settings (greedy ignores them),
# token ids the loop reads itself, lengths it is given, bookkeeping.
NEUTRAL_SETTINGS = frozenset(
    {
        "max_new_tokens",
        "max_length",
        "do_sample",
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "typical_p",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
        "decoder_start_token_id",
        "use_cache",
        "transformers_version",
        "cache_implementation",
        "return_dict_in_generate",
        "output_scores",
        "output_logits",
    }
)

StopCheck = Callable[[Any], Any]  # (prompt + new ids of the rows still going) -> bool tensor: which have hit a stop string


def changed_settings(model: Any) -> list[str]:
    """The model's generation-config settings that a plain argmax step would ignore (empty: the loop is exact)."""
    config = getattr(model, "generation_config", None)
    if config is None:
        return []
    return sorted(key for key in config.to_diff_dict() if key not in NEUTRAL_SETTINGS)


def eos_ids(model: Any) -> set[int]:
    """The end-of-sequence token ids ``generate`` stops at: the model's generation config's."""
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        return set()
    return {int(token) for token in (eos if isinstance(eos, list | tuple) else [eos])}


def cache_argument(model: Any) -> str:
    """The name ``forward`` takes the KV cache by (``cache`` in recent transformers, ``past_key_values`` before)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def returned_cache(output: Any) -> Any:
    """The KV cache a forward pass returned (``cache`` in recent transformers, ``past_key_values`` before)."""
    return getattr(output, "cache", None) or getattr(output, "past_key_values", None)


def left_padded_positions(attention_mask: Any) -> Any:
    """Each token's position counted along the attention mask, as ``generate`` numbers them under left padding."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def greedy_generate(model: Any, input_ids: Any, attention_mask: Any, max_new_tokens: int, stop_check: StopCheck | None = None) -> list[list[int]] | None:
    """Each row's new tokens (up to and including its end-of-sequence token), or None when the model's cache cannot drop rows.

    ``input_ids`` and ``attention_mask`` are a left-padded batch on the model's device.
    """
    import torch
    from transformers import DynamicCache

    eos = eos_ids(model)
    cache_name = cache_argument(model)
    positions = left_padded_positions(attention_mask)
    # Only the last position's logits: over a prompt, a large vocabulary's logits would dwarf the KV cache (generate does the same).
    last_only = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    output = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True, **last_only)
    kv = returned_cache(output)
    if not isinstance(kv, DynamicCache):  # a sliding-window or state-space cache: rows cannot be dropped
        return None
    reserve(kv, max_new_tokens)
    rows = list(range(input_ids.shape[0]))  # the batch row each tensor row holds
    done = [False] * len(rows)  # finished rows still in the tensors (they leave in groups: each drop copies the cache)
    generated: list[list[int]] = [[] for _ in rows]
    sequences = input_ids  # prompt and new tokens: a stop string may begin in the prompt, as generate sees it
    mask = attention_mask
    next_position = positions[:, -1:] + 1
    logits = output.logits[:, -1, :]
    for step in range(max_new_tokens):
        tokens = logits.argmax(-1)
        sequences = torch.cat([sequences, tokens[:, None]], dim=1)
        hits = stop_check(sequences).tolist() if stop_check is not None else [False] * len(rows)
        for index, (row, token, hit) in enumerate(zip(rows, tokens.tolist(), hits)):
            if not done[index]:
                generated[row].append(token)
                done[index] = token in eos or bool(hit)
        if all(done) or step == max_new_tokens - 1:
            break
        if 4 * sum(done) >= len(rows):  # a quarter of the batch is finished: computing it costs more than dropping it
            keep = [index for index, finished in enumerate(done) if not finished]
            kept = torch.tensor(keep, device=input_ids.device)
            kv.batch_select_indices(kept)
            mask, next_position, tokens, sequences = mask[kept], next_position[kept], tokens[kept], sequences[kept]
            rows, done = [rows[index] for index in keep], [False] * len(keep)
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        output = model(input_ids=tokens[:, None], attention_mask=mask, position_ids=next_position, use_cache=True, **{cache_name: kv})
        next_position = next_position + 1
        logits = output.logits[:, -1, :]
    return generated


def reserve(kv: Any, new_tokens: int) -> None:
    """Give each plain layer of a ``DynamicCache`` room for ``new_tokens`` more positions, written in place.

    A ``DynamicCache`` grows by ``torch.cat`` at every step, copying the whole cache of every
    layer: with long prompts (a conversation's transcript) that copy, not the model, is most of a
    step. A reserved layer writes each step's keys and values into its room and hands attention
    a view of the filled part: the same values, so the same logits (bit for bit, the tests check
    it). Layers of another kind (sliding windows) are left as they are.
    """
    growing = _reserved_layer_class()
    plain: Any = growing.__base__  # DynamicLayer itself, not a subclass with its own update
    layers: list[Any] = list(getattr(kv, "layers", None) or [])
    for layer in layers:
        if layer.__class__ is not plain or not getattr(layer, "is_initialized", False) or layer.keys.dim() != 4:
            continue
        batch, heads, length, width = layer.keys.shape
        keys = layer.keys.new_empty((batch, heads, length + new_tokens, width))
        values = layer.values.new_empty((batch, heads, length + new_tokens, layer.values.shape[-1]))
        keys[..., :length, :], values[..., :length, :] = layer.keys, layer.values
        layer.__class__ = growing
        layer.room_keys, layer.room_values = keys, values
        layer.keys, layer.values = keys[..., :length, :], values[..., :length, :]


@cache
def _reserved_layer_class() -> type:
    """A ``DynamicLayer`` that writes into reserved room instead of concatenating (made on first use: transformers loads lazily)."""
    from transformers.cache_utils import DynamicLayer

    class ReservedLayer(DynamicLayer):  # type: ignore[no-untyped-call]
        room_keys: Any
        room_values: Any

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            filled, adding = _filled(self), key_states.shape[-2]
            if filled + adding > self.room_keys.shape[-2]:  # out of room: grow as a DynamicLayer does
                return super().update(key_states, value_states, *args, **kwargs)
            self.room_keys[..., filled : filled + adding, :].copy_(key_states)
            self.room_values[..., filled : filled + adding, :].copy_(value_states)
            self.keys, self.values = self.room_keys[..., : filled + adding, :], self.room_values[..., : filled + adding, :]
            return self.keys, self.values

        def batch_select_indices(self, indices: Any) -> None:
            filled = _filled(self)
            if filled > self.room_keys.shape[-2]:  # it grew past its room by concatenating: select as a DynamicLayer does
                super().batch_select_indices(indices)
                return
            self.room_keys, self.room_values = self.room_keys[indices], self.room_values[indices]
            self.keys, self.values = self.room_keys[..., :filled, :], self.room_values[..., :filled, :]

    return ReservedLayer


def _filled(layer: Any) -> int:
    return int(layer.keys.shape[-2])


def stop_strings_check(tokenizer: Any, stop: Sequence[str]) -> StopCheck | None:
    """transformers' ``StopStringCriteria`` for ``stop`` (None: no stop strings). Raises ValueError for a tokenizer it cannot read."""
    if not stop:
        return None
    from transformers.generation.stopping_criteria import StopStringCriteria

    criteria = StopStringCriteria(tokenizer=tokenizer, stop_strings=list(stop))

    def check(sequences: Any) -> Any:
        return criteria(sequences, None)

    return check
