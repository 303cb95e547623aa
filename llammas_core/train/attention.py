"""Attention kernels for training and the speed switches around them (fused loss, torch.compile).

Kernels (`attn_for` picks one; `model.attn_implementation` overrides):

- `flash_attention_2` (auto on CUDA when the flash_attn package imports): transformers' varlen path
  over `position_ids` (one row of packed sequences; sliding windows natively). `add_varlen_kwargs_hook`
  computes `cu_seq_lens`/`max_length` once per forward instead of once per layer.
- `llammas_packed_sdpa` (auto for padding-free SFT otherwise): SDPA per packed sequence, attention work
  sum(len^2) instead of the total^2 of a block-diagonal masked SDPA call. Causal per sequence, plus the
  model's sliding window when the layer has one (Mistral, Qwen2 with use_sliding_window). K/V are not
  copied for GQA (`enable_gqa=True`). The sequence boundaries are read from `position_ids` once per
  forward (one host sync per batch, cached on the position_ids tensor that every layer receives), not
  once per layer. Padded batches and generation with a cache go to transformers' own sdpa.
- `sdpa` otherwise (CPT blocks: one causal sequence per row).

Written here rather than taken from transformers because its sdpa path handles packing only through a
materialised block-diagonal total x total mask (no O(sum len^2) path without flash-attn), and its
flex-attention path needs torch.compile on every shape.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import TYPE_CHECKING, Literal

import torch

from llammas_core.errors import ConfigError

if TYPE_CHECKING:  # only a type here: benchmarks/gpu_check.py imports this module without pydantic
    from llammas_core.train.config import TrainConfig

PACKED_ATTN = "llammas_packed_sdpa"
# Opt-in until measured on a GPU (benchmarks/gpu_check.py checks and times it): the packed kernel calls
# torch.nn.attention.varlen on CUDA in bf16/fp16 instead of one SDPA per sequence.
USE_TORCH_VARLEN = os.environ.get("LLAMMAS_TORCH_VARLEN", "0") == "1" and \
    importlib.util.find_spec("torch.nn.attention.varlen") is not None
FLASH_IMPLS = ("flash_attention_2", "flash_attention_3")

__all__ = [
    "PACKED_ATTN",
    "attn_for",
    "register_packed_attention",
    "segment_bounds",
    "cu_seqlens",
    "varlen_kwargs",
    "add_varlen_kwargs_hook",
    "resolve_fused_loss",
    "speed_training_args",
    "flash_attn_available",
    "liger_available",
]


# ----------------------------------------------------------------------------- sequence boundaries


def _packing(position_ids: torch.Tensor) -> dict:
    """Per-tensor cache (keyed by the version counter) of the row's packing: bounds, and lazily the
    cu_seqlens tensor on the device and the longest sequence."""
    cached = getattr(position_ids, "_llammas_packing", None)
    if cached is not None and cached[0] == position_ids._version:
        return cached[1]
    info = {"bounds": _compute_bounds(position_ids)}
    try:
        position_ids._llammas_packing = (position_ids._version, info)
    except (AttributeError, RuntimeError):  # pragma: no cover - tensors that refuse attributes
        pass
    return info


def segment_bounds(position_ids: torch.Tensor) -> tuple[int, ...]:
    """(0, s1, s2, ..., T): start offsets of the sequences packed in one row, and its length.

    A new sequence starts where the position does not grow by exactly 1 (transformers'
    find_packed_sequence_indices rule). Computed once per tensor: the result is cached on the tensor
    (keyed by its version counter), so the layers of one forward, and the recomputation under gradient
    checkpointing, share a single host sync.
    """
    return _packing(position_ids)["bounds"]


def cu_seqlens(position_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(cu_seqlens int32 on the device, longest sequence) of a packed row, cached like segment_bounds (the
    host-to-device copy happens once per batch: a copy from pageable memory would stall every layer)."""
    info = _packing(position_ids)
    if "cu" not in info:
        b = info["bounds"]
        info["cu"] = torch.tensor(b, dtype=torch.int32).to(position_ids.device, non_blocking=True)
        info["longest"] = max(e - a for a, e in zip(b[:-1], b[1:]))
    return info["cu"], info["longest"]


def _compute_bounds(position_ids: torch.Tensor) -> tuple[int, ...]:
    pos = position_ids.reshape(-1)
    t = pos.numel()
    starts = (torch.nonzero(pos[1:] - pos[:-1] != 1).view(-1) + 1).tolist() if t > 1 else []  # the one host sync
    return tuple([0, *starts, t])


@functools.lru_cache(maxsize=16)
def _window_mask(length: int, window: int, device: str) -> torch.Tensor:
    """Causal sliding-window mask (True = attend): key j is visible from query i when i - window < j <= i
    (transformers' sliding_window_overlay: a window of `window` tokens including the current one)."""
    i = torch.arange(length, device=device)
    d = i[:, None] - i[None, :]
    return (d >= 0) & (d < window)


# ----------------------------------------------------------------------------- the packed kernel


def _packed_sdpa_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """SDPA per packed sequence: O(sum len^2) attention for padding-free rows (instead of a masked
    O(total^2) sdpa call). Used when the row is packed (batch 1, no attention mask, position_ids);
    anything else (padded batches, generation with a cache) goes to transformers' sdpa path."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    b, h, t, _ = query.shape
    pos = kwargs.get("position_ids")
    if attention_mask is not None or b != 1 or key.shape[2] != t or pos is None or pos.numel() != t:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    if kwargs.get("softcap") is not None or kwargs.get("s_aux") is not None:
        raise ConfigError(f"{PACKED_ATTN} supports neither logit softcapping nor attention sinks; "
                          "use model.attn_implementation eager or flash_attention_2")
    window = kwargs.get("sliding_window")
    gqa = key.shape[1] != h
    p = dropout if module.training else 0.0
    if USE_TORCH_VARLEN and p == 0.0 and query.is_cuda and query.dtype in (torch.float16, torch.bfloat16):
        return _torch_varlen(query, key, value, pos, window, scaling, gqa), None
    bounds = segment_bounds(pos)
    outs = []
    for a, e in zip(bounds[:-1], bounds[1:]):
        q, k, v = query[:, :, a:e], key[:, :, a:e], value[:, :, a:e]
        if window is not None and e - a > window:
            mask = _window_mask(e - a, int(window), str(query.device))
            outs.append(torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, scale=scaling, dropout_p=p, enable_gqa=gqa))
        else:
            outs.append(torch.nn.functional.scaled_dot_product_attention(
                q, k, v, is_causal=True, scale=scaling, dropout_p=p, enable_gqa=gqa))
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
    return out.transpose(1, 2).contiguous(), None


def _torch_varlen(query, key, value, pos, window, scaling, gqa):
    """PyTorch's own flash varlen kernel (torch.nn.attention.varlen, CUDA, bf16/fp16) over the packed row:
    one launch per layer instead of one per sequence; window (W-1, 0) = transformers' sliding window W."""
    from torch.nn.attention.varlen import varlen_attn

    cu, longest = cu_seqlens(pos)
    q, k, v = (x[0].transpose(0, 1).contiguous() for x in (query, key, value))  # (T, heads, dim)
    out = varlen_attn(q, k, v, cu, cu, longest, longest, scale=scaling, enable_gqa=gqa,
                      window_size=(int(window) - 1, 0) if window is not None else (-1, 0))
    return out.unsqueeze(0)  # (1, T, heads, dim)


def _packed_mask(*args, **kwargs):
    from transformers.masking_utils import sdpa_mask

    if kwargs.get("attention_mask") is None and kwargs.get("batch_size") == 1 and kwargs.get("q_length") == kwargs.get("kv_length"):
        return None  # packed or single sequence: causality and windows per sequence are handled in _packed_sdpa_forward
    return sdpa_mask(*args, **kwargs)


def register_packed_attention() -> str:
    """Register PACKED_ATTN with transformers (idempotent); returns its name."""
    from transformers import AttentionInterface, AttentionMaskInterface

    AttentionInterface.register(PACKED_ATTN, _packed_sdpa_forward)
    AttentionMaskInterface.register(PACKED_ATTN, _packed_mask)
    return PACKED_ATTN


# ----------------------------------------------------------------------------- flash-attention varlen


def flash_attn_available() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None


def varlen_kwargs(position_ids: torch.Tensor) -> dict:
    """transformers' FlashAttentionKwargs for one packed row: cu_seq_lens_q/k (int32, on the device) and
    max_length_q/k (python ints), so the flash varlen path does not re-derive them (and sync) per layer."""
    cu, longest = cu_seqlens(position_ids)
    return {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}


def _varlen_pre_hook(module, args, kwargs):
    pos = kwargs.get("position_ids")
    if (pos is None or kwargs.get("attention_mask") is not None or kwargs.get("past_key_values") is not None
            or "cu_seq_lens_q" in kwargs):
        return None
    ids = kwargs.get("input_ids")
    ids = ids if ids is not None else kwargs.get("inputs_embeds")
    if ids is None or ids.shape[0] != 1:
        return None
    return args, {**kwargs, **varlen_kwargs(pos)}


def add_varlen_kwargs_hook(model) -> None:
    """For flash_attention_*: add varlen_kwargs to every packed (batch 1, no mask, position_ids) forward
    of the transformers model inside `model` (PEFT and DDP wrappers are looked through). Idempotent."""
    inner = model
    while True:
        if hasattr(inner, "get_base_model") and inner is not inner.get_base_model():
            inner = inner.get_base_model()
        elif hasattr(inner, "module") and isinstance(inner.module, torch.nn.Module):
            inner = inner.module
        else:
            break
    if getattr(inner, "_llammas_varlen_hook", None) is None:
        inner._llammas_varlen_hook = inner.register_forward_pre_hook(_varlen_pre_hook, with_kwargs=True)


# ----------------------------------------------------------------------------- choice of kernel


def attn_for(cfg: TrainConfig, phase: str) -> str:
    """The attention implementation to load the model with (registers the packed kernel when chosen).

    model.attn_implementation, with auto = flash_attention_2 on CUDA when flash_attn imports (varlen over
    position_ids: packed rows, sliding windows), else llammas_packed_sdpa for padding-free SFT, else sdpa.
    ConfigError for a flash kernel that cannot run here. After loading a flash model, call
    add_varlen_kwargs_hook(model).
    """
    impl = cfg.model.attn_implementation
    if impl == "auto":
        if flash_attn_available():
            impl = "flash_attention_2"
        elif phase == "sft" and cfg.sft.packing == "padding_free":
            impl = PACKED_ATTN
        else:
            impl = "sdpa"
    if impl in FLASH_IMPLS:
        if not torch.cuda.is_available():
            raise ConfigError(f"model.attn_implementation {impl} needs CUDA; use auto, sdpa or {PACKED_ATTN}")
        module = "flash_attn" if impl == "flash_attention_2" else "flash_attn_interface"
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"model.attn_implementation {impl} needs the {module} package "
                              "(pip install 'llammas[gpu]'); or use auto")
    if impl == PACKED_ATTN:
        register_packed_attention()
    return impl


# ----------------------------------------------------------------------------- fused loss, compile


def liger_available() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("liger_kernel") is not None


def resolve_fused_loss(mode: Literal["auto", "liger", "none"]) -> Literal["liger", "none"]:
    """auto: Liger's fused linear cross-entropy (the logits of a large vocabulary are never materialised
    in full) when liger-kernel is installed and CUDA is present, else transformers' own loss ("none").
    ConfigError when liger is asked for and cannot run."""
    if mode == "auto":
        return "liger" if liger_available() else "none"
    if mode == "liger" and not liger_available():
        raise ConfigError("model.fused_loss liger needs CUDA and the liger-kernel package (pip install "
                          "'llammas[gpu]'); use auto or none")
    return mode


def speed_training_args(cfg: TrainConfig) -> dict:
    """TrainingArguments fields for the fused loss and torch.compile (merge them into the trainer's
    TrainingArguments kwargs): use_liger_kernel (transformers applies Liger's fused linear cross-entropy,
    RMSNorm, RoPE and SwiGLU kernels to the model instance) and torch_compile."""
    liger = resolve_fused_loss(cfg.model.fused_loss) == "liger"
    out: dict = {"use_liger_kernel": liger, "torch_compile": bool(cfg.model.compile)}
    if liger:
        out["liger_kernel_config"] = {"fused_linear_cross_entropy": True, "cross_entropy": False,
                                      "rope": True, "rms_norm": True, "swiglu": True}
    return out
