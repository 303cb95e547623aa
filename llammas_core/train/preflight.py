"""Pre-flight memory estimate: refuse a micro-batch that cannot fit before any weight is loaded."""

from __future__ import annotations

from llammas_core.errors import ConfigError
from llammas_core.train.modeling import ModelShape


def estimate_memory_gib(shape: ModelShape, method: str, param_bytes: int, compute_bytes: int, tokens_per_micro: int,
                        seq_len: int, grad_ckpt: bool, world: int = 1, sharded: bool = False,
                        lora_fraction: float = 0.01) -> dict[str, float]:
    """Rough per-device training memory (GiB): weights, grads, AdamW states, activations, logits.

    Activations per layer per token ~ 34 * hidden * compute_bytes (Korthikanti et al. 2022, fused
    attention: no T x T scores); with checkpointing only each layer's input is kept plus one layer's
    activations. Logits: bf16 logits + fp32 upcast + fp32 grad over the vocabulary. +1.5 GiB context.
    """
    gib = 1024 ** 3
    n = shape.n_params
    if method == "full":
        trainable = n
        weights = n * param_bytes
        grads = n * param_bytes
        optim = n * (8 if param_bytes == 4 else 4)
    else:
        trainable = int(n * lora_fraction)
        base_bytes = 0.55 if method == "qlora" else compute_bytes
        weights = n * base_bytes + trainable * 4
        grads = trainable * 4
        optim = trainable * 8
    if sharded and world > 1:
        weights, grads, optim = weights / world, grads / world, optim / world
    per_layer_token = 34 * shape.hidden * compute_bytes
    if grad_ckpt:
        acts = tokens_per_micro * (shape.layers * 2 * shape.hidden * compute_bytes + per_layer_token)
    else:
        acts = tokens_per_micro * shape.layers * per_layer_token
    logits = tokens_per_micro * shape.vocab * (compute_bytes + 4 + 4)
    out = {"weights": weights / gib, "grads": grads / gib, "optimizer": optim / gib, "activations": acts / gib,
           "logits": logits / gib, "overhead": 1.5}
    out["total"] = sum(out.values())
    out["trainable_params"] = float(trainable)
    return out


def check_memory_fits(estimate: dict[str, float], capacity_gib: float, micro_batch: int, grad_ckpt: bool) -> None:
    if estimate["total"] <= capacity_gib:
        return
    parts = ", ".join(f"{k} {v:.1f}" for k, v in estimate.items() if k not in ("total", "trainable_params"))
    hints = [f"a smaller optim.micro_batch_size (now {micro_batch}; raise grad_accum or use global_batch_size)"]
    if not grad_ckpt:
        hints.append("model.gradient_checkpointing: true")
    hints.append("method lora/qlora, or launch.fsdp 'full_shard auto_wrap' across more GPUs")
    raise ConfigError(
        f"the micro-batch cannot fit: estimated {estimate['total']:.1f} GiB per device ({parts}) > "
        f"{capacity_gib:.1f} GiB available. Try " + "; ".join(hints))

