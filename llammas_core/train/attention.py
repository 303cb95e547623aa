"""Attention kernels for training: the packed (padding-free) SDPA path and the choice of kernel."""

from __future__ import annotations

import torch

from llammas_core.train.config import TrainConfig

PACKED_ATTN = "llammas_packed_sdpa"


def _packed_sdpa_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """SDPA per packed sequence: O(sum len^2) attention for padding-free rows (instead of a masked
    O(total^2) sdpa call). Used when the row is packed (batch 1, no attention mask, position_ids);
    anything else (padded batches, generation with a cache) goes to transformers' sdpa path."""
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    b, h, t, _ = query.shape
    pos = kwargs.get("position_ids")
    if attention_mask is not None or b != 1 or key.shape[2] != t or pos is None or pos.numel() != t:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    starts = torch.nonzero(pos.view(-1) == 0).view(-1).tolist()
    bounds = sorted(set([0] + starts)) + [t]
    n_rep = h // key.shape[1]
    key, value = repeat_kv(key, n_rep), repeat_kv(value, n_rep)
    p = dropout if module.training else 0.0
    outs = [torch.nn.functional.scaled_dot_product_attention(
        query[:, :, a:e], key[:, :, a:e], value[:, :, a:e], is_causal=True, scale=scaling, dropout_p=p)
        for a, e in zip(bounds[:-1], bounds[1:])]
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
    return out.transpose(1, 2).contiguous(), None


def _packed_mask(*args, **kwargs):
    from transformers.masking_utils import sdpa_mask

    if kwargs.get("attention_mask") is None and kwargs.get("batch_size") == 1 and kwargs.get("q_length") == kwargs.get("kv_length"):
        return None  # packed or single sequence: causality per sequence is handled in _packed_sdpa_forward
    return sdpa_mask(*args, **kwargs)


def register_packed_attention() -> str:
    """Register PACKED_ATTN with transformers (idempotent); returns its name."""
    from transformers import AttentionInterface, AttentionMaskInterface

    AttentionInterface.register(PACKED_ATTN, _packed_sdpa_forward)
    AttentionMaskInterface.register(PACKED_ATTN, _packed_mask)
    return PACKED_ATTN


def attn_for(cfg: TrainConfig, phase: str) -> str:
    """model.attn_implementation, with auto = packed sdpa for padding-free SFT, sdpa otherwise."""
    impl = cfg.model.attn_implementation
    if impl == "auto":
        impl = PACKED_ATTN if (phase == "sft" and cfg.sft.packing == "padding_free") else "sdpa"
    if impl == PACKED_ATTN:
        register_packed_attention()
    return impl
