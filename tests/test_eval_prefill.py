"""Prefill without padding (evaluate/prefill.py): buckets respect the token budget and the padding
limit; the prefilled cache generates exactly what the plain left-padded batch generates; a model
with a sliding-window cache gets None (the caller falls back to the plain batch)."""

from __future__ import annotations

import pytest


def _llama(**extra):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2, **extra)
    return LlamaForCausalLM(cfg).eval()


def test_buckets_keep_budget_and_padding_limit():
    from llammas_core.evaluate.prefill import buckets

    lengths = [100, 98, 95, 80, 79, 10, 9]
    got = buckets(lengths, token_budget=300, max_pad=0.1)
    assert got == [[0, 1, 2], [3, 4], [5, 6]]
    assert buckets(lengths, token_budget=1) == [[i] for i in range(len(lengths))]
    for grp in got:
        top = lengths[grp[0]]
        assert len(grp) * top <= 300 and all(top - lengths[i] <= 0.1 * top for i in grp)


@pytest.mark.parametrize("budget", [1, 200, 10_000])
def test_prefilled_cache_generates_the_plain_batch(budget):
    import torch

    from llammas_core.evaluate.generation import _left_padded
    from llammas_core.evaluate.prefill import prefilled_cache

    model = _llama()
    g = torch.Generator().manual_seed(1)
    rows = [[1] + torch.randint(3, 300, (n,), generator=g).tolist() for n in (40, 37, 21, 20, 5, 1)]
    enc = _left_padded(rows, 0, "cpu")
    kw = dict(max_new_tokens=12, do_sample=False, eos_token_id=2, pad_token_id=0)
    with torch.inference_mode():
        plain = model.generate(**enc, **kw, cache_implementation="static")
        cache = prefilled_cache(model, enc["input_ids"], enc["attention_mask"], 12, token_budget=budget)
        assert cache is not None and int(cache.get_seq_length()) == enc["input_ids"].shape[1] - 1
        fast = model.generate(**enc, **kw, past_key_values=cache)
        single = [model.generate(input_ids=torch.tensor([r]), **kw)[0, len(r):].tolist() for r in rows]
    assert fast.tolist() == plain.tolist()
    width = enc["input_ids"].shape[1]
    for r, s in zip(fast[:, width:].tolist(), single):
        assert r[:len(s)] == s  # each row as if generated alone (the batch pads finished rows after)


def test_sliding_window_model_falls_back():
    import torch

    from llammas_core.evaluate.prefill import prefilled_cache
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    model = MistralForCausalLM(MistralConfig(vocab_size=100, hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                             sliding_window=8)).eval()
    ids = torch.randint(3, 100, (2, 12))
    assert prefilled_cache(model, ids, torch.ones_like(ids), 4) is None
