"""The packed attention kernel: per-sequence causality, sliding windows, GQA without K/V copies, one host
sync per batch; the kernel choice and the fused-loss switch."""

from __future__ import annotations

import pytest
import torch

from llammas_core.errors import ConfigError
from llammas_core.train import attention
from llammas_core.train.attention import PACKED_ATTN, attn_for, register_packed_attention, segment_bounds

LENGTHS = (5, 21, 13, 1, 17)  # several longer than the window
WINDOW = 8
VOCAB = 97


def _mistral(window):
    from transformers import MistralConfig, MistralForCausalLM

    cfg = MistralConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                        sliding_window=window, attn_implementation="eager")
    torch.manual_seed(0)
    return MistralForCausalLM(cfg).eval()


def _qwen2(window):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    # layer 0 full attention, layer 1 sliding (max_window_layers=1): both kinds in one model
    cfg = Qwen2Config(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=256,
                      use_sliding_window=window is not None, sliding_window=window, max_window_layers=1,
                      attn_implementation="eager")
    torch.manual_seed(0)
    return Qwen2ForCausalLM(cfg).eval()


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      attn_implementation="eager")
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg).eval()


def _seqs():
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, VOCAB, (n,), generator=g) for n in LENGTHS]


def _per_sequence_logits(model, seqs):
    """Reference: each sequence alone, eager attention (transformers' own causal + window masks)."""
    model.set_attn_implementation("eager")
    with torch.no_grad():
        return torch.cat([model(input_ids=s[None]).logits[0] for s in seqs])


def _packed_logits(model, seqs, impl):
    model.set_attn_implementation(impl)
    ids = torch.cat(seqs)[None]
    pos = torch.cat([torch.arange(len(s)) for s in seqs])[None]
    with torch.no_grad():
        return model(input_ids=ids, position_ids=pos).logits[0]


@pytest.mark.parametrize("build", [_mistral, _qwen2, lambda w: _llama()], ids=["mistral", "qwen2", "llama"])
def test_packed_logits_equal_per_sequence_logits(build):
    model = build(WINDOW)
    seqs = _seqs()
    ref = _per_sequence_logits(model, seqs)
    packed = _packed_logits(model, seqs, register_packed_attention())
    assert (packed - ref).abs().max() < 1e-5, (packed - ref).abs().max()


@pytest.mark.parametrize("build", [_mistral, _qwen2], ids=["mistral", "qwen2"])
def test_sliding_window_is_applied(build):
    """The window changes the logits of long sequences (so the equality above is not vacuous), and a
    kernel that ignored it (the old one) would not match the windowed reference."""
    seqs = _seqs()
    windowed = _per_sequence_logits(build(WINDOW), seqs)
    full = _per_sequence_logits(build(None), seqs)
    assert (windowed - full).abs().max() > 1e-3
    assert (_packed_logits(build(WINDOW), seqs, register_packed_attention()) - full).abs().max() > 1e-3


def test_padded_batches_fall_back_with_window():
    model = _mistral(WINDOW)
    seqs = _seqs()[:3]
    ref = [_per_sequence_logits(model, [s]) for s in seqs]
    n = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), n, dtype=torch.long)
    mask = torch.zeros(len(seqs), n, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = s, 1
    model.set_attn_implementation(register_packed_attention())
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).logits
    for i, s in enumerate(seqs):
        assert (out[i, : len(s)] - ref[i]).abs().max() < 1e-5


def test_gradients_equal_per_sequence_gradients():
    seqs = _seqs()
    grads = []
    for packed in (False, True):
        model = _mistral(WINDOW).train()
        if packed:
            model.set_attn_implementation(register_packed_attention())
            ids = torch.cat(seqs)[None]
            pos = torch.cat([torch.arange(len(s)) for s in seqs])[None]
            logits = model(input_ids=ids, position_ids=pos).logits[0]
        else:
            logits = torch.cat([model(input_ids=s[None]).logits[0] for s in seqs])
        logits.square().mean().backward()
        grads.append(model.model.layers[1].self_attn.k_proj.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_one_host_sync_per_forward_not_per_layer(monkeypatch):
    calls = []
    real = attention._compute_bounds
    monkeypatch.setattr(attention, "_compute_bounds", lambda p: calls.append(1) or real(p))
    model = _qwen2(WINDOW)
    _packed_logits(model, _seqs(), register_packed_attention())
    assert len(calls) == 1  # 2 layers, one computation
    assert segment_bounds(torch.tensor([[0, 1, 2, 0, 1, 0]])) == (0, 3, 5, 6)


def test_generation_with_cache_uses_sdpa_fallback():
    model = _mistral(WINDOW)
    prompt = _seqs()[1][None]
    model.set_attn_implementation("eager")
    ref = model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
    model.set_attn_implementation(register_packed_attention())
    out = model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert torch.equal(ref, out)


def _cfg(**model):
    from llammas_core.train.config import TrainConfig

    return TrainConfig.model_validate({"model": {"base": "x", **model}, "cpt": {"enabled": False},
                                       "sft": {"sources": ["x.jsonl"]}})


def test_attn_for_and_fused_loss_choices():
    if torch.cuda.is_available():
        pytest.skip("the CPU choices are checked on CPU")
    cfg = _cfg()
    assert attn_for(cfg, "sft") == PACKED_ATTN
    assert attn_for(cfg, "cpt") == "sdpa"
    with pytest.raises(ConfigError, match="CUDA"):
        attn_for(_cfg(attn_implementation="flash_attention_2"), "sft")
    assert attention.resolve_fused_loss("auto") == "none"
    with pytest.raises(ConfigError, match="liger"):
        attention.resolve_fused_loss("liger")
    args = attention.speed_training_args(_cfg(compile=True))
    assert args == {"use_liger_kernel": False, "torch_compile": True}
    from transformers import TrainingArguments

    TrainingArguments(output_dir="unused", **args)  # the keys are real TrainingArguments fields


def test_varlen_kwargs_hook_adds_cu_seqlens():
    model = _llama()
    attention.add_varlen_kwargs_hook(model)
    attention.add_varlen_kwargs_hook(model)  # idempotent
    seen = {}
    model.model.register_forward_pre_hook(lambda m, a, kw: seen.update(kw), with_kwargs=True)
    seqs = _seqs()
    _packed_logits(model, seqs, "sdpa")
    assert seen["cu_seq_lens_q"].tolist() == [0, 5, 26, 39, 40, 57] and seen["max_length_q"] == 21


def test_varlen_kwargs_hook_through_peft_wrapper():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(_llama(), LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    attention.add_varlen_kwargs_hook(model)
    seen = {}
    model.get_base_model().model.register_forward_pre_hook(lambda m, a, kw: seen.update(kw), with_kwargs=True)
    seqs = _seqs()[:2]
    with torch.no_grad():
        model(input_ids=torch.cat(seqs)[None], position_ids=torch.cat([torch.arange(len(s)) for s in seqs])[None])
    assert seen["cu_seq_lens_k"].tolist() == [0, 5, 26] and seen["max_length_k"] == 21
