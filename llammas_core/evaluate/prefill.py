"""Prompt prefill without padding waste, for batched generation (generation.py).

Few-shot translation prompts are long and outputs short, so a batch's cost is mostly the prompt
forward. `generate` on a left-padded batch runs every row to the longest prompt's length under a
padding mask: on FLORES 1-shot prompts (117-289 tokens) that is half again as many tokens as the
prompts hold. Here each prompt's prefix (every token but its last) is encoded in right-padded
buckets of similar length, with no padding mask: under a causal mask the pads at a row's end are
never seen by its real tokens, so its keys and values equal those of the row encoded alone. They
are copied into one preallocated (static) KV cache in the left-padded layout that `generate`
expects, and `generate` continues from there: it encodes each prompt's last token (position from
the attention mask's cumulative sum, as for any left-padded batch) and decodes as usual, with its
own stopping criteria and logits processors, so the outputs are those of the plain batched call.

Only for models whose cache is one plain full-attention layer per decoder layer (Llama, Mistral
without a sliding window, Qwen2, ...): `prefilled_cache` returns None for anything else (sliding
windows, linear attention, quantized caches), and the caller generates as before.
"""

from __future__ import annotations

from typing import Sequence


def buckets(lengths: Sequence[int], token_budget: int, max_pad: float = 0.1,
            max_rows: int | None = None) -> list[list[int]]:
    """Row indices (lengths in descending order) grouped in order: a bucket's rows times its first
    (longest) length stays within token_budget, no row is padded by more than max_pad of it, and a
    bucket holds at most max_rows rows. Also how loglik.py batches its scoring rows."""
    out: list[list[int]] = []
    for i, n in enumerate(lengths):
        if out:
            grp = out[-1]
            top = lengths[grp[0]]
            if ((len(grp) + 1) * top <= token_budget and top - n <= max_pad * top
                    and (max_rows is None or len(grp) < max_rows)):
                grp.append(i)
                continue
        out.append([i])
    return out


def _plain_layers(cache, layer_type) -> bool:
    return bool(cache.layers) and all(type(layer) is layer_type for layer in cache.layers)


def _encode(model, input_ids, cache) -> None:
    try:
        model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
    except TypeError:  # a model without logits_to_keep
        model(input_ids=input_ids, past_key_values=cache, use_cache=True)


def prefilled_cache(model, input_ids, attention_mask, max_new_tokens: int, token_budget: int = 4096):
    """A StaticCache holding the keys and values of input_ids[:, :-1] (a left-padded batch), each row
    encoded without its padding; None where this model's cache is not plain full attention, or the
    prompts are a single token. Pass it with the full input_ids and attention_mask to `generate`."""
    import torch
    from transformers import DynamicCache, StaticCache
    from transformers.cache_utils import DynamicLayer, StaticLayer

    rows, width = input_ids.shape
    prefix = width - 1
    if prefix < 1:
        return None
    config = model.config
    try:
        static = StaticCache(config=config, max_cache_len=width + max_new_tokens)
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    if not _plain_layers(static, StaticLayer):
        return None
    lengths = [int(n) - 1 for n in attention_mask.sum(1).tolist()]  # each row's prefix, real tokens only
    order = sorted(range(rows), key=lambda i: -lengths[i])
    keys: list = []
    values: list = []
    with torch.inference_mode():
        for grp in buckets([lengths[i] for i in order], token_budget):
            idx = [order[j] for j in grp]
            top = lengths[idx[0]]
            if top < 1:  # one-token prompts: nothing to prefill, their cache rows stay masked
                continue
            x = torch.zeros((len(idx), top), dtype=input_ids.dtype, device=input_ids.device)
            for r, i in enumerate(idx):  # right-padded with id 0, which no real token attends to
                x[r, :lengths[i]] = input_ids[i, width - 1 - lengths[i]:width - 1]
            dyn = DynamicCache(config=config)
            _encode(model, x, dyn)
            if not _plain_layers(dyn, DynamicLayer):
                return None
            if not keys:
                for layer in dyn.layers:
                    shape = (rows, layer.keys.shape[1], prefix)
                    keys.append(layer.keys.new_zeros(*shape, layer.keys.shape[3]))
                    values.append(layer.values.new_zeros(*shape, layer.values.shape[3]))
            for n, layer in enumerate(dyn.layers):
                for r, i in enumerate(idx):
                    keys[n][i, :, prefix - lengths[i]:] = layer.keys[r, :, :lengths[i]]
                    values[n][i, :, prefix - lengths[i]:] = layer.values[r, :, :lengths[i]]
    if not keys:
        return None
    for n in range(len(keys)):
        static.update(keys[n], values[n], n)
    return static


__all__ = ["prefilled_cache", "buckets"]
