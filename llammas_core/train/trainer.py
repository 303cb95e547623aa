"""The training entry point: one phase (CPT or SFT) of a TrainConfig with transformers' Trainer.

    python -m llammas_core.train.trainer --config cfg.json --phase cpt|sft --output OUT
        [--checkpoint-dir DIR] [--resume-from auto|none|DIR] [--init-model PATH] [--sync-uri URI]
        [--lineage JSON]

Runs under plain python, `torchrun --nproc_per_node N` (DDP: nccl on CUDA, gloo on CPU) or
`accelerate launch`; never imports prefect. Writes into OUT:
  model/            the final model (safetensors, tokenizer with chat template, generation_config,
                    README.md model card); for LoRA the merged model when method.merge_for_serving
  adapter/          LoRA / QLoRA only: the adapter
  metrics.json      final metrics; metrics.jsonl one line per logged step; loss.png
  error.json        only on a typed failure (read back by launch.py)
Checkpoints go to --checkpoint-dir (default OUT/checkpoints): HF `checkpoint-N/` folders (weights or
adapter, optimizer, scheduler, RNG state per rank, trainer_state.json) plus `llammas_state.json`
(data position, config fingerprint, telemetry totals), `metrics.jsonl` and a `COMPLETE` marker
written last. With --sync-uri each complete checkpoint is copied there (COMPLETE last) by a
background thread; `checkpoint.keep_last` complete checkpoints are kept in both places.

Resume (default `auto`): the newest complete checkpoint, local or (if newer) fetched from
--sync-uri; its config fingerprint must match. CPT data resumes by the CPTDataset state
(blocks = steps x micro-batch x accumulation per rank; HF's batch skipping is off for the stream);
SFT (map-style) resumes by HF's batch skipping in the saved epoch, same seeded order.

FLOPs convention for MFU (stated in metrics.json): per trained token 6N (full) or 4N (LoRA/QLoRA:
no weight gradients of the frozen base), N = all parameters except the input embedding table
(the LM head matmul counts; tied embeddings count once), plus attention 12 * layers * hidden * T
per token for a sequence of T tokens (fwd+bwd, full T x T, PaLM convention). Activation
recomputation (gradient checkpointing) is not counted: this is MFU, not HFU. Tokens are real
tokens: padding excluded (padded batches count attention_mask; padding-free and CPT blocks have
none).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import math
import os
import queue
import resource
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from llammas_core.errors import ConfigError, InputError, LlammasError, TransientError
from llammas_core.train.attention import PACKED_ATTN, attn_for, register_packed_attention  # noqa: F401 (re-exported)
from llammas_core.train.config import OptimConfig, TrainConfig
from llammas_core.train.launch import (
    ERROR_FILE,
    EXIT_DEADLINE,
    EXIT_TYPED_ERROR,
    NonFiniteLossError,
    WallClockLimit,
)

COMPLETE = "COMPLETE"
STATE_FILE = "llammas_state.json"
METRICS_JSONL = "metrics.jsonl"
METRICS_JSON = "metrics.json"
LOSS_PNG = "loss.png"
CKPT_PREFIX = "checkpoint-"
IGNORE_INDEX = -100


# ============================================================================ process helpers


def dist_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from the launcher's environment."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    return dist_env()[0] == 0


def say(msg: str, all_ranks: bool = False) -> None:
    rank, _, world = dist_env()
    if all_ranks or rank == 0:
        prefix = f"[rank {rank}] " if world > 1 else ""
        print(f"{prefix}{msg}", flush=True)


def _dist_ready() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def barrier() -> None:
    if _dist_ready():
        torch.distributed.barrier()


def _write_json_atomic(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def device_kind() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(name: str) -> torch.dtype:
    if name == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def param_dtype_for(cfg: TrainConfig, compute: torch.dtype) -> torch.dtype:
    """Dtype the weights are loaded in (see ModelConfig.param_dtype)."""
    if cfg.model.param_dtype == "float32":
        return torch.float32
    if cfg.model.param_dtype == "bfloat16":
        return torch.bfloat16
    return torch.float32 if cfg.method.kind == "full" else compute


# packed attention: llammas_core/train/attention.py


# ============================================================================ model resolution


def _looks_local(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~", "file://")) or os.path.exists(os.path.expanduser(spec))


def resolve_model_path(spec: str, cache_dir: Path | None = None) -> str:
    """A local folder (or a hub id) for a model spec; ConfigError naming the spec when it is missing.

    spec: local folder; file:// or s3:// folder or stage manifest (its folder holds model/); hub id.
    """
    from urllib.parse import urlparse

    if not spec:
        raise ConfigError("model.base is empty")
    parsed = urlparse(spec)
    if parsed.scheme == "s3":
        from llammas_core.store import open_store

        prefix_uri = spec.rstrip("/")
        if prefix_uri.endswith("/manifest.json"):
            prefix_uri = prefix_uri[: -len("/manifest.json")] + "/model"
        store = open_store(prefix_uri)
        keys = [k for k, _ in store.list("")]
        if not any(k.endswith("config.json") for k in keys):
            if any(k.startswith("model/") for k in keys):
                return resolve_model_path(prefix_uri + "/model", cache_dir)
            raise ConfigError(f"model {spec!r}: no config.json below {prefix_uri} (missing or not a model folder)")
        target = Path(cache_dir or Path.cwd() / ".llammas-model-cache") / hashlib.sha256(prefix_uri.encode()).hexdigest()[:16]
        if not (target / ".complete").is_file():
            for key in keys:
                store.get_file(key, target / key)
            (target / ".complete").write_text(prefix_uri)
        return str(target)
    if _looks_local(spec):
        path = Path(parsed.path if parsed.scheme == "file" else spec).expanduser()
        if path.name == "manifest.json":
            path = path.parent / "model"
        if path.is_dir() and not (path / "config.json").is_file() and (path / "model" / "config.json").is_file():
            path = path / "model"
        if not path.is_dir():
            raise ConfigError(f"model path {spec!r} does not exist")
        if not (path / "config.json").is_file():
            raise ConfigError(f"model path {spec!r} has no config.json (not a transformers model folder)")
        return str(path.resolve())
    if parsed.scheme not in ("",):
        raise ConfigError(f"model {spec!r}: unsupported scheme {parsed.scheme!r} (path, file://, s3:// or hub id)")
    return spec  # a hub id: from_pretrained resolves it (cache / network), errors are wrapped by the caller


def load_tokenizer(path: str, cfg: TrainConfig, phase: str):
    """(tokenizer, added_tokens); ConfigError for a missing tokenizer or one without EOS."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path, revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code)
    except Exception as e:  # OSError, ValueError, HF hub errors
        raise ConfigError(f"cannot load the tokenizer of model {path!r}: {type(e).__name__}: {e}") from None
    if tok.eos_token is None or tok.eos_token_id is None:
        raise ConfigError(f"tokenizer of {path!r} has no EOS token: documents cannot be separated and the model "
                          "could never learn to stop; set eos_token in its tokenizer config")
    added = 0
    if phase == "sft":
        from llammas_core.train.sft_data import prepare_tokenizer

        tok, added = prepare_tokenizer(tok, cfg.sft.chat_template)
    return tok, added


def grow_embeddings(model, tokenizer) -> int:
    """Grow embeddings to len(tokenizer) with new rows = mean of the old rows (deterministic, so an
    export can rebuild the same base for a LoRA merge); set pad/eos ids in config and
    generation_config. Returns the number of rows added."""
    n_new = len(tokenizer)
    emb = model.get_input_embeddings()
    n_old = emb.weight.shape[0]
    added = 0
    if n_new > n_old:
        model.resize_token_embeddings(n_new, mean_resizing=False)
        with torch.no_grad():
            inp = model.get_input_embeddings().weight
            inp[n_old:] = inp[:n_old].float().mean(0, keepdim=True).to(inp.dtype)
            out = model.get_output_embeddings()
            if out is not None and out.weight.data_ptr() != inp.data_ptr():
                out.weight[n_old:] = out.weight[:n_old].float().mean(0, keepdim=True).to(out.weight.dtype)
        added = n_new - n_old
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    if tokenizer.bos_token_id is not None:
        model.config.bos_token_id = tokenizer.bos_token_id
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        gen.pad_token_id = tokenizer.pad_token_id
        gen.eos_token_id = tokenizer.eos_token_id
        if tokenizer.bos_token_id is not None:
            gen.bos_token_id = tokenizer.bos_token_id
    return added


@dataclass
class ModelShape:
    n_params: int               # all parameters
    n_flop_params: int          # N of the FLOPs formula: all but the input embedding table
    layers: int
    hidden: int
    heads: int
    vocab: int
    tied: bool


def model_shape(path: str, cfg: TrainConfig) -> ModelShape:
    """Parameter counts from the config alone (meta device: no weights loaded)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        mcfg = AutoConfig.from_pretrained(path, revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code)
    except Exception as e:
        raise ConfigError(f"cannot load the config of model {path!r}: {type(e).__name__}: {e}") from None
    with init_empty_weights():
        meta = AutoModelForCausalLM.from_config(mcfg, trust_remote_code=cfg.model.trust_remote_code)
    return _shape_of(meta)


def _shape_of(model) -> ModelShape:
    mcfg = model.config
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is emb
    text_cfg = mcfg.get_text_config() if hasattr(mcfg, "get_text_config") else mcfg
    return ModelShape(
        n_params=total,
        n_flop_params=total - (0 if tied else emb.numel()),
        layers=int(getattr(text_cfg, "num_hidden_layers", 0)),
        hidden=int(getattr(text_cfg, "hidden_size", 0)),
        heads=int(getattr(text_cfg, "num_attention_heads", 0)),
        vocab=int(emb.shape[0]),
        tied=tied,
    )


# ============================================================================ memory pre-flight


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


# ============================================================================ data


def source_ids(sources: list[str]) -> list[str]:
    """Manifest ids for manifest sources, else the source string itself."""
    from llammas_core.stage import is_manifest_ref, read_manifest

    return [read_manifest(s)["id"] if is_manifest_ref(s) else s for s in sources]


def build_cpt_dataset(cfg: TrainConfig, tokenizer):
    from llammas_core.train.cpt_data import CPTDataset

    c = cfg.cpt
    ds = CPTDataset(c.sources, c.probabilities, tokenizer, c.block_size, seed=cfg.optim_for("cpt").seed,
                    text_field=c.text_field)
    # Pre-flight: the stream must yield at least one block (reads only the first documents).
    probe = CPTDataset(c.sources, c.probabilities, tokenizer, c.block_size, seed=0, text_field=c.text_field,
                       rank=0, world_size=1)
    try:
        next(iter(probe.global_blocks()))
    except StopIteration:
        raise InputError(f"CPT data {c.sources} yields no block of {c.block_size} tokens (empty or too small corpus)") from None
    return ds


def build_sft_dataset(cfg: TrainConfig, tokenizer):
    import itertools

    from llammas_core.train.sft_data import SFTDataset, SFTStats, load_chat_records

    stats = SFTStats()
    records = itertools.chain.from_iterable(load_chat_records(s, stats) for s in cfg.sft.sources)
    ds = SFTDataset(records, tokenizer, cfg.sft.max_length, cfg.sft.overflow, stats)
    if len(ds) == 0:
        raise InputError(f"SFT data {cfg.sft.sources} gave no trainable example: {stats.as_dict()}")
    return ds


class EpochDataLoader(torch.utils.data.DataLoader):
    """A DataLoader whose batch sampler follows Trainer's set_epoch (seeded reshuffle per epoch)."""

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)


def _stack_collate(examples: list[dict]) -> dict:
    return {k: torch.stack([ex[k] for ex in examples]) for k in examples[0]}


# ============================================================================ batching / schedule


def batching(optim: OptimConfig, world: int) -> tuple[int, int]:
    """(micro_batch_size, grad_accum) per device."""
    micro = optim.micro_batch_size
    if optim.global_batch_size is None:
        return micro, optim.grad_accum
    denom = micro * world
    if optim.global_batch_size % denom:
        raise ConfigError(f"global_batch_size {optim.global_batch_size} is not a multiple of micro_batch_size {micro} "
                          f"x world size {world}")
    return micro, optim.global_batch_size // denom


def scheduler_args(optim: OptimConfig) -> tuple[str, dict]:
    final = optim.final_lr()
    if final >= optim.lr and optim.scheduler in ("linear", "cosine"):
        raise ConfigError(f"min_lr {final} must be below lr {optim.lr}")
    if optim.scheduler == "linear":
        return ("polynomial", {"lr_end": final, "power": 1.0}) if final > 0 else ("linear", {})
    if optim.scheduler == "cosine":
        return ("cosine_with_min_lr", {"min_lr": final}) if final > 0 else ("cosine", {})
    return optim.scheduler, {}


# ============================================================================ telemetry


@dataclass
class Meter:
    """Real-token and attention-work counters fed by the trainer for every micro-batch (this rank)."""

    tokens: int = 0
    seq_sq: int = 0          # sum over sequences of length^2 (attention FLOPs)
    label_tokens: int = 0

    def observe(self, inputs: dict) -> None:
        ids = inputs["input_ids"]
        labels = inputs.get("labels")
        if labels is not None:
            self.label_tokens += int((labels[..., 1:] != IGNORE_INDEX).sum())
        mask = inputs.get("attention_mask")
        pos = inputs.get("position_ids")
        if mask is not None:
            lens = mask.sum(-1)
            self.tokens += int(lens.sum())
            self.seq_sq += int((lens.long() ** 2).sum())
        elif pos is not None and ids.shape[0] == 1:
            p = pos.view(-1)
            starts = torch.nonzero(p == 0).view(-1).tolist() + [p.numel()]
            lens = [b - a for a, b in zip(starts[:-1], starts[1:])] or [p.numel()]
            self.tokens += p.numel()
            self.seq_sq += sum(n * n for n in lens)
        else:
            b, t = ids.shape[0], ids.shape[-1]
            self.tokens += b * t
            self.seq_sq += b * t * t


def peak_tflops(cfg: TrainConfig) -> tuple[float | None, str]:
    if not torch.cuda.is_available():
        return cfg.telemetry.peak_tflops, "cpu"
    name = torch.cuda.get_device_name()
    if cfg.telemetry.peak_tflops:
        return cfg.telemetry.peak_tflops, name
    best = None
    for key, value in cfg.telemetry.device_peaks.items():
        if key.lower() in name.lower() and (best is None or len(key) > len(best[0])):
            best = (key, value)
    return (best[1] if best else None), name


def peak_memory_bytes() -> int:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def plot_losses(records: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None and math.isfinite(r["loss"])]
    if not pts:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


# ============================================================================ callbacks

from transformers import Trainer, TrainerCallback  # noqa: E402  (after the light helpers above)


class NonFiniteLossCallback(TrainerCallback):
    """Fail fast: a NaN/inf loss or gradient norm in a log raises NonFiniteLossError.

    The check runs at every log (logging_steps = telemetry.log_every_steps, 1 by default), before
    Trainer saves a checkpoint of that step, so no checkpoint ever holds the diverged weights.
    """

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        for key in ("loss", "grad_norm"):
            value = logs.get(key)
            if value is not None and not math.isfinite(float(value)):
                raise NonFiniteLossError(
                    f"non-finite {key} ({value}) at step {state.global_step} (lr {logs.get('learning_rate')}): "
                    "training stopped. Lower the learning rate or warm up longer, check the data, use bf16 not fp16; "
                    "resume from the last checkpoint after fixing.")


class TelemetryCallback(TrainerCallback):
    """Tokens seen, real tokens/s, MFU, peak memory and the loss curve -> metrics.jsonl + loss.png."""

    def __init__(self, meter: Meter, shape: ModelShape, method: str, peak: float | None, device_name: str,
                 output: Path, phase: str, plot: bool, base: dict | None = None):
        self.meter, self.shape, self.method = meter, shape, method
        self.peak, self.device_name = peak, device_name
        self.output, self.phase, self.plot = output, phase, plot
        self.flops_coeff = 6 if method == "full" else 4
        base = base or {}
        self.total_tokens = int(base.get("tokens", 0))      # global, over all attempts
        self.total_flops = float(base.get("flops", 0.0))
        self.records: list[dict] = []
        self._last = (0, 0)  # meter.tokens, meter.seq_sq at the last log
        self._t_last = None
        self._steady_tokens = 0
        self._steady_flops = 0.0
        self._steady_seconds = 0.0
        self._logs_this_run = 0
        self.resumed_from = 0
        self.world = dist_env()[2]

    # -- helpers
    def _global(self, values: list[float], device) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=device)
        if _dist_ready():
            torch.distributed.all_reduce(t)
        return t.tolist()

    def _global_max(self, value: float, device) -> float:
        t = torch.tensor([value], dtype=torch.float64, device=device)
        if _dist_ready():
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return float(t.item())

    def flops_for(self, tokens: float, seq_sq: float) -> float:
        return self.flops_coeff * self.shape.n_flop_params * tokens + 12.0 * self.shape.layers * self.shape.hidden * seq_sq

    def load_history(self, records: list[dict], upto_step: int) -> None:
        self.records = [r for r in records if r.get("step", 0) <= upto_step]
        self.resumed_from = upto_step
        if is_main():
            self._rewrite_jsonl()

    def _rewrite_jsonl(self) -> None:
        path = self.output / METRICS_JSONL
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w") as f:
            for r in self.records:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, path)

    # -- events
    def on_train_begin(self, args, state, control, **kwargs):
        self._t_last = time.perf_counter()
        self._last = (self.meter.tokens, self.meter.seq_sq)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return
        now = time.perf_counter()
        d_tok, d_sq = self.meter.tokens - self._last[0], self.meter.seq_sq - self._last[1]
        self._last = (self.meter.tokens, self.meter.seq_sq)
        g_tok, g_sq = self._global([d_tok, d_sq], args.device)
        dt = max(now - (self._t_last or now), 1e-9)
        self._t_last = now
        flops = self.flops_for(g_tok, g_sq)
        self.total_tokens += int(g_tok)
        self.total_flops += flops
        self._logs_this_run += 1
        if self._logs_this_run > 1:  # the first interval holds warm-up / allocator / compile time
            self._steady_tokens += int(g_tok)
            self._steady_flops += flops
            self._steady_seconds += dt
        tps = g_tok / dt
        mfu = (flops / dt) / (self.peak * 1e12 * self.world) if self.peak else None
        mem = self._global_max(float(peak_memory_bytes()), args.device)
        rec = {
            "step": state.global_step,
            "epoch": round(state.epoch or 0.0, 4),
            "loss": float(logs["loss"]),
            "grad_norm": float(logs["grad_norm"]) if logs.get("grad_norm") is not None else None,
            "lr": logs.get("learning_rate"),
            "tokens": self.total_tokens,
            "tokens_per_s": round(tps, 2),
            "mfu": float(f"{mfu:.6g}") if mfu is not None else None,
            "peak_mem_gib": round(mem / 1024 ** 3, 3),
            "time": round(time.time(), 3),
        }
        self.records.append(rec)
        if is_main():
            with open(self.output / METRICS_JSONL, "a") as f:
                f.write(json.dumps(rec) + "\n")
            mfu_s = f" mfu {100 * mfu:.1f}%" if mfu is not None else ""
            say(f"[{self.phase}] step {state.global_step}/{state.max_steps} loss {rec['loss']:.4f} "
                f"lr {rec['lr']:.3g} gnorm {rec['grad_norm'] if rec['grad_norm'] is None else round(rec['grad_norm'], 3)} "
                f"tok/s {tps:,.0f}{mfu_s} mem {rec['peak_mem_gib']:.2f} GiB tokens {self.total_tokens:,}")

    def summary(self) -> dict:
        losses = [r["loss"] for r in self.records if r.get("loss") is not None]
        tail = losses[-10:]
        if self._steady_seconds > 0:
            tps = self._steady_tokens / self._steady_seconds
            flops_s = self._steady_flops / self._steady_seconds
        else:  # a single logged interval: use it as is
            r = self.records[-1] if self.records else None
            tps = r["tokens_per_s"] if r else None
            flops_s = None
        mfu = flops_s / (self.peak * 1e12 * self.world) if (self.peak and flops_s) else None
        if mfu is None and tps and self.peak and self.records:
            mfu = self.records[-1].get("mfu")
        return {
            "phase": self.phase,
            "steps": self.records[-1]["step"] if self.records else 0,
            "tokens": self.total_tokens,
            "tokens_per_s": round(tps, 2) if tps else None,
            "tokens_per_s_per_device": round(tps / self.world, 2) if tps else None,
            "mfu": float(f"{mfu:.6g}") if mfu is not None else None,
            "final_loss": losses[-1] if losses else None,
            "final_loss_avg10": (sum(tail) / len(tail)) if tail else None,
            "first_loss": losses[0] if losses else None,
            "peak_memory_gib": max((r["peak_mem_gib"] for r in self.records), default=None),
            "device": self.device_name,
            "peak_tflops_per_device": self.peak,
            "world_size": self.world,
            "flops_per_token_convention": (
                f"{self.flops_coeff}N + 12*L*H*T (N = {self.shape.n_flop_params:,} parameters excluding the input "
                f"embedding; L={self.shape.layers}, H={self.shape.hidden}; T = each sequence's length; no recompute)"),
            "n_params": self.shape.n_params,
            "n_flop_params": self.shape.n_flop_params,
            "resumed_from_step": self.resumed_from,
        }

    def on_save(self, args, state, control, **kwargs):
        if is_main() and self.plot:
            with contextlib.suppress(Exception):
                plot_losses(self.records, self.output / LOSS_PNG, f"{self.phase} loss")

    def on_train_end(self, args, state, control, **kwargs):
        if is_main() and self.plot:
            plot_losses(self.records, self.output / LOSS_PNG, f"{self.phase} loss")


class Uploader:
    """One background thread copying complete checkpoints to a store (COMPLETE last), then pruning."""

    def __init__(self, sync_uri: str, keep_last: int):
        from llammas_core.store import open_store

        self.store = open_store(sync_uri)
        self.keep_last = keep_last
        self.q: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.q.get()
            try:
                if item is None:
                    return
                if self.error is None:
                    self._upload(Path(item))
            except BaseException as e:  # reported at the next save / at the end
                self.error = e
            finally:
                self.q.task_done()

    def _upload(self, ckpt: Path) -> None:
        name = ckpt.name
        files = sorted(p for p in ckpt.rglob("*") if p.is_file() and p.name != COMPLETE)
        for p in files:
            self.store.put_file(p, f"{name}/{p.relative_to(ckpt).as_posix()}")
        self.store.put_file(ckpt / COMPLETE, f"{name}/{COMPLETE}")
        prune_store(self.store, self.keep_last)

    def submit(self, ckpt: Path) -> None:
        self.raise_if_failed()
        self.q.put(str(ckpt))

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise TransientError(f"checkpoint upload to {self.store.uri} failed: {self.error}")

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        self.raise_if_failed()


def _step_of(name: str) -> int | None:
    if not name.startswith(CKPT_PREFIX):
        return None
    try:
        return int(name[len(CKPT_PREFIX):])
    except ValueError:
        return None


def complete_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoint folders (COMPLETE marker present), oldest first."""
    if not folder.is_dir():
        return []
    found = [(s, p) for p in folder.iterdir() if p.is_dir() and (s := _step_of(p.name)) is not None
             and (p / COMPLETE).is_file()]
    return [p for _, p in sorted(found)]


def prune_local(folder: Path, keep_last: int) -> None:
    """Keep the newest keep_last complete checkpoints; drop older ones and debris older than them."""
    complete = complete_checkpoints(folder)
    if not complete:
        return
    keep = complete[-keep_last:]
    oldest_kept = _step_of(keep[0].name)
    newest = _step_of(complete[-1].name)
    for p in folder.iterdir():
        s = _step_of(p.name)
        if s is None or not p.is_dir() or p in keep:
            continue
        if s < oldest_kept or ((p / COMPLETE).is_file() is False and s < newest):
            shutil.rmtree(p, ignore_errors=True)


def store_checkpoints(store) -> dict[int, bool]:
    """{step: complete} for the checkpoint-N/ prefixes in a store."""
    steps: dict[int, bool] = {}
    for key, _ in store.list(""):
        head, _, rest = key.partition("/")
        s = _step_of(head)
        if s is None:
            continue
        steps[s] = steps.get(s, False) or rest == COMPLETE
    return steps


def prune_store(store, keep_last: int) -> None:
    steps = store_checkpoints(store)
    complete = sorted(s for s, ok in steps.items() if ok)
    if not complete:
        return
    keep = set(complete[-keep_last:])
    for s, ok in steps.items():
        if s in keep:
            continue
        if s < min(keep) or (not ok and s < max(keep)):
            store.delete_prefix(f"{CKPT_PREFIX}{s}")


class CheckpointCallback(TrainerCallback):
    """After HF saved checkpoint-N: data state + metrics snapshot + COMPLETE (last), sync, prune.

    Also forces a checkpoint at the last step, so a crash during export never loses the run.
    """

    def __init__(self, run: "RunState"):
        self.run = run

    def on_step_end(self, args, state, control, **kwargs):
        if state.max_steps and state.global_step >= state.max_steps:
            control.should_save = True

    def on_save(self, args, state, control, **kwargs):
        barrier()  # every rank has written its part (rng_state_<rank>.pth)
        if is_main():
            ckpt = Path(args.output_dir) / f"{CKPT_PREFIX}{state.global_step}"
            _write_json_atomic(ckpt / STATE_FILE, self.run.state_at(state))
            src = self.run.output / METRICS_JSONL
            if src.is_file():
                shutil.copyfile(src, ckpt / METRICS_JSONL)
            _write_json_atomic(ckpt / COMPLETE, {"step": state.global_step, "time": time.time()})
            say(f"[{self.run.phase}] checkpoint {ckpt.name} complete")
            if self.run.uploader is not None:
                self.run.uploader.q.join()  # at most one upload in flight: older folders are free to prune
                self.run.uploader.submit(ckpt)
            prune_local(Path(args.output_dir), self.run.keep_last)
        barrier()

    def on_train_end(self, args, state, control, **kwargs):
        if is_main() and self.run.uploader is not None:
            self.run.uploader.close()
            self.run.uploader = None


class DeadlineCallback(TrainerCallback):
    """Checkpoint and stop before LLAMMAS_DEADLINE (epoch seconds) so the wall-clock kill loses nothing."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.hit = False
        self._t = None
        self._step_s = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._t is not None:
            self._step_s = max(self._step_s * 0.9, time.perf_counter() - self._t)
        flag = torch.tensor([1.0 if time.time() + 2 * self._step_s >= self.deadline else 0.0], device=args.device)
        if _dist_ready():
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item() > 0 and state.global_step < state.max_steps:
            self.hit = True
            control.should_save = True
            control.should_training_stop = True
            say(f"deadline near: checkpointing at step {state.global_step} and stopping")


class DebugSleepCallback(TrainerCallback):
    """Testing aid (LLAMMAS_DEBUG_STEP_SLEEP seconds per step): makes kill-and-resume tests deterministic."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.seconds)


# ============================================================================ trainer


class LlammasTrainer(Trainer):
    """transformers.Trainer plus: real-token metering, OOM -> ConfigError, custom train dataloaders."""

    def __init__(self, *a, meter: Meter, train_loader_fn=None, oom_hint: str = "", **kw):
        super().__init__(*a, **kw)
        self.meter = meter
        self.train_loader_fn = train_loader_fn
        self.oom_hint = oom_hint

    def get_train_dataloader(self):
        if self.train_loader_fn is not None:
            return self.train_loader_fn()
        return super().get_train_dataloader()

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.meter.observe(inputs)
        try:
            return super().training_step(model, inputs, num_items_in_batch)
        except torch.OutOfMemoryError as e:
            raise ConfigError(f"out of device memory at step {self.state.global_step} ({self.oom_hint}): reduce "
                              f"optim.micro_batch_size / sft.tokens_per_micro_batch, enable "
                              f"model.gradient_checkpointing, or use LoRA/FSDP. ({str(e).splitlines()[0]})") from None


@dataclass
class RunState:
    phase: str
    output: Path
    fingerprint: str
    micro: int
    accum: int
    world: int
    keep_last: int
    uploader: Uploader | None = None
    telemetry: TelemetryCallback | None = None
    extra: dict = field(default_factory=dict)

    def state_at(self, state) -> dict:
        blocks = state.global_step * self.micro * self.accum
        out = {
            "phase": self.phase,
            "fingerprint": self.fingerprint,
            "global_step": state.global_step,
            "epoch": state.epoch,
            "micro_batch_size": self.micro,
            "grad_accum": self.accum,
            "world_size": self.world,
            "time": time.time(),
        }
        if self.phase == "cpt":
            out["cpt_data"] = {"blocks_yielded": blocks, "world_size": self.world}
        else:
            out["sft_data"] = {"epoch": int(state.epoch or 0), "global_step": state.global_step}
        if self.telemetry is not None:
            out["telemetry"] = {"tokens": self.telemetry.total_tokens, "flops": self.telemetry.total_flops}
        return out


def fingerprint_of(cfg: TrainConfig, phase: str, init_id: str) -> str:
    payload = json.dumps({"view": cfg.phase_view(phase), "init": init_id}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def find_resume(checkpoint_dir: Path, resume_from: str, sync_uri: str | None, local_main: bool) -> Path | None:
    """The checkpoint folder to resume from (downloaded from sync_uri when it holds a newer one)."""
    if resume_from == "none":
        return None
    if resume_from != "auto":
        p = Path(resume_from)
        if (p / COMPLETE).is_file():
            return p
        found = complete_checkpoints(p)
        if not found:
            raise ConfigError(f"--resume-from {resume_from}: no complete checkpoint there")
        return found[-1]
    local = complete_checkpoints(checkpoint_dir)
    local_step = _step_of(local[-1].name) if local else -1
    if sync_uri:
        from llammas_core.store import open_store

        store = open_store(sync_uri)
        remote = sorted(s for s, ok in store_checkpoints(store).items() if ok)
        if remote and remote[-1] > local_step:
            step = remote[-1]
            target = checkpoint_dir / f"{CKPT_PREFIX}{step}"
            if local_main:
                say(f"fetching checkpoint {CKPT_PREFIX}{step} from {sync_uri}")
                shutil.rmtree(target, ignore_errors=True)
                for key, _ in store.list(f"{CKPT_PREFIX}{step}/"):
                    if not key.endswith("/" + COMPLETE):
                        store.get_file(key, checkpoint_dir / key)
                store.get_file(f"{CKPT_PREFIX}{step}/{COMPLETE}", target / COMPLETE)
            barrier()
            return target
    return local[-1] if local else None


def _training_args(cfg: TrainConfig, phase: str, checkpoint_dir: Path, micro: int, accum: int, max_steps: int,
                   compute: torch.dtype, world: int):
    from transformers import TrainingArguments

    optim = cfg.optim_for(phase)
    sched, sched_kwargs = scheduler_args(optim)
    cuda = torch.cuda.is_available()
    kw: dict[str, Any] = dict(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accum,
        learning_rate=optim.lr,
        lr_scheduler_type=sched,
        lr_scheduler_kwargs=sched_kwargs,
        warmup_steps=optim.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        weight_decay=optim.weight_decay,
        adam_beta1=optim.adam_beta1,
        adam_beta2=optim.adam_beta2,
        adam_epsilon=optim.adam_epsilon,
        optim=optim.optimizer,
        max_grad_norm=optim.grad_clip,
        seed=optim.seed,
        bf16=cuda and compute == torch.bfloat16,
        fp16=cuda and compute == torch.float16,
        use_cpu=not cuda,
        activation_checkpointing=cfg.model.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.model.gradient_checkpointing else None,
        logging_strategy="steps",
        logging_steps=cfg.telemetry.log_every_steps,
        logging_nan_inf_filter=False,
        save_strategy="steps",
        save_steps=cfg.checkpoint.every_steps,
        save_total_limit=None,  # pruning by CheckpointCallback: only complete checkpoints count
        save_only_model=False,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=cfg.launch.dataloader_num_workers if phase == "sft" else 0,
        dataloader_drop_last=False,
        ddp_find_unused_parameters=False,
        ddp_backend=("nccl" if cuda else "gloo") if world > 1 else None,
        ignore_data_skip=(phase == "cpt"),  # the CPT stream resumes by its own state
        include_num_input_tokens_seen="no",
        average_tokens_across_devices=True,
        max_steps=max_steps if max_steps > 0 else -1,
    )
    if phase == "sft" and cfg.sft.max_steps is None:
        kw["num_train_epochs"] = cfg.sft.epochs
    if cfg.launch.fsdp:
        kw["fsdp"] = cfg.launch.fsdp
        kw["fsdp_config"] = cfg.launch.fsdp_config
    return TrainingArguments(**kw)


def load_model(path: str, cfg: TrainConfig, compute: torch.dtype, tokenizer, attn_impl: str = "sdpa"):
    from transformers import AutoModelForCausalLM

    kind = cfg.method.kind
    kwargs: dict[str, Any] = dict(
        dtype=param_dtype_for(cfg, compute),
        attn_implementation=attn_impl,
        trust_remote_code=cfg.model.trust_remote_code,
        revision=cfg.model.revision,
    )
    if kind == "qlora":
        if not torch.cuda.is_available():
            raise ConfigError("method qlora needs CUDA (bitsandbytes 4-bit kernels); use lora on CPU")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ConfigError("method qlora needs the bitsandbytes package") from None
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
        kwargs["device_map"] = {"": dist_env()[1]}
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError, ImportError) as e:
        raise ConfigError(f"cannot load model {path!r} (attention {attn_impl}): {type(e).__name__}: {e}") from None
    grow_embeddings(model, tokenizer)
    model.config.use_cache = False
    if kind in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if kind == "qlora":
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=cfg.model.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False})
        elif cfg.model.gradient_checkpointing:
            model.enable_input_require_grads()
        lcfg = LoraConfig(r=cfg.method.lora_r, lora_alpha=cfg.method.lora_alpha, lora_dropout=cfg.method.lora_dropout,
                          target_modules=cfg.method.target_modules, bias="none", task_type="CAUSAL_LM")
        model = get_peft_model(model, lcfg)
    return model


def _write_error(output: Path, exc: BaseException) -> None:
    with contextlib.suppress(Exception):
        _write_json_atomic(output / ERROR_FILE, {"type": type(exc).__name__, "message": str(exc),
                                                 "rank": dist_env()[0]})


def train(
    cfg: TrainConfig,
    phase: str,
    output: str | Path,
    checkpoint_dir: str | Path | None = None,
    resume_from: str = "auto",
    init_model: str | None = None,
    init_model_id: str | None = None,
    sync_uri: str | None = None,
    lineage: dict | None = None,
    extra_callbacks: list | None = None,
) -> dict:
    """Run one phase; returns the final metrics (also written to OUT/metrics.json).

    `extra_callbacks`: more transformers TrainerCallbacks (in-process use, e.g. tests or custom logging).
    """
    if phase not in ("cpt", "sft"):
        raise ConfigError(f"phase must be cpt or sft, got {phase!r}")
    if phase == "cpt" and not cfg.cpt.enabled or phase == "sft" and not cfg.sft.enabled:
        raise ConfigError(f"phase {phase} is disabled in the config")
    from transformers import set_seed
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_warning()
    hf_logging.disable_progress_bar()
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    checkpoint_dir = Path(checkpoint_dir).resolve() if checkpoint_dir else output / "checkpoints"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    rank, local_rank, world = dist_env()
    optim = cfg.optim_for(phase)
    compute = resolve_dtype(cfg.model.dtype)
    if cfg.launch.fsdp and cfg.method.kind != "full":
        raise ConfigError("launch.fsdp is supported for full fine-tuning only; LoRA/QLoRA run with DDP")
    if compute == torch.bfloat16 and not torch.cuda.is_available():
        compute = torch.float32  # CPU: bf16 autocast is slow and pointless for tests
    t_start = time.time()

    # ---- pre-flight: model, tokenizer, data, batch geometry, memory (before any weight is loaded)
    model_spec = init_model or cfg.model.base
    model_path = resolve_model_path(model_spec, checkpoint_dir.parent / "model-cache")
    shape = model_shape(model_path, cfg)
    tokenizer, added = load_tokenizer(model_path, cfg, phase)
    micro, accum = batching(optim, world)
    if phase == "cpt":
        dataset = build_cpt_dataset(cfg, tokenizer)
        tokens_per_step = cfg.cpt.block_size * micro * accum * world
        max_steps = cfg.cpt.max_steps or math.ceil(cfg.cpt.max_tokens / tokens_per_step)
        seq_len = cfg.cpt.block_size
        tokens_per_micro = micro * seq_len
        data_desc = f"{len(cfg.cpt.sources)} sources p={cfg.cpt.probabilities}, blocks of {seq_len}"
    else:
        dataset = build_sft_dataset(cfg, tokenizer)
        max_steps = cfg.sft.max_steps or -1
        seq_len = cfg.sft.max_length
        if cfg.sft.packing == "padding_free" and cfg.sft.tokens_per_micro_batch:
            tokens_per_micro = max(cfg.sft.tokens_per_micro_batch, seq_len)
        else:
            tokens_per_micro = micro * seq_len
        data_desc = f"{len(dataset)} conversations, stats {dataset.stats.as_dict()}"
    say(f"[{phase}] model {model_spec} ({shape.n_params / 1e6:.1f}M params), method {cfg.method.kind}, attention "
        f"{attn_for(cfg, phase)}, "
        f"compute {str(compute).replace('torch.', '')}, world {world}, micro {micro} x accum {accum}; data: {data_desc}")
    if torch.cuda.is_available():
        est = estimate_memory_gib(shape, cfg.method.kind, torch.finfo(param_dtype_for(cfg, compute)).bits // 8,
                                  torch.finfo(compute).bits // 8, tokens_per_micro, seq_len,
                                  cfg.model.gradient_checkpointing, world, sharded=bool(cfg.launch.fsdp))
        cap = torch.cuda.get_device_properties(local_rank).total_memory / 1024 ** 3
        say(f"[{phase}] memory estimate {est['total']:.1f} GiB of {cap:.1f} GiB per device")
        check_memory_fits(est, cap, micro, cfg.model.gradient_checkpointing)

    # ---- model
    set_seed(optim.seed)
    args = _training_args(cfg, phase, checkpoint_dir, micro, accum, max_steps, compute, world)
    _ = args.device  # initialises the process group under torchrun (needed by find_resume's barrier)
    init_id = init_model_id or model_spec
    fingerprint = fingerprint_of(cfg, phase, init_id)

    # ---- data loaders
    train_loader_fn = None
    collator = None
    if phase == "cpt":
        def train_loader_fn():  # DDP-aware stream: no accelerate sharding, no batch skipping
            return torch.utils.data.DataLoader(dataset, batch_size=micro, collate_fn=_stack_collate, num_workers=0)
    else:
        from llammas_core.train.sft_data import PaddedCollator, PaddingFreeCollator, TokenBudgetBatchSampler

        if cfg.sft.packing == "padded":
            collator = PaddedCollator(tokenizer.pad_token_id)
        else:
            collator = PaddingFreeCollator()
            if cfg.sft.tokens_per_micro_batch:
                def train_loader_fn():  # rank-aware token-budget packs, reshuffled per epoch (set_epoch)
                    sampler = TokenBudgetBatchSampler(dataset.lengths, cfg.sft.tokens_per_micro_batch, seed=optim.seed)
                    if len(sampler) == 0:
                        raise InputError("SFT data gives fewer token-budget batches than processes")
                    return EpochDataLoader(dataset, batch_sampler=sampler, collate_fn=collator,
                                           num_workers=cfg.launch.dataloader_num_workers)

    # ---- resume
    resume = find_resume(checkpoint_dir, resume_from, sync_uri, local_main=(local_rank == 0))
    saved_state: dict = {}
    if resume is not None:
        saved_state = json.loads((resume / STATE_FILE).read_text()) if (resume / STATE_FILE).is_file() else {}
        if saved_state.get("fingerprint") not in (None, fingerprint):
            raise ConfigError(f"checkpoint {resume} belongs to a different run (config or initial model changed); "
                              "use another checkpoint dir or --resume-from none")
        if saved_state and (saved_state.get("micro_batch_size"), saved_state.get("grad_accum"),
                            saved_state.get("world_size")) != (micro, accum, world) and phase == "sft":
            raise ConfigError(f"checkpoint {resume} was written with micro {saved_state.get('micro_batch_size')} x "
                              f"accum {saved_state.get('grad_accum')} x world {saved_state.get('world_size')}; "
                              f"now {micro} x {accum} x {world}: SFT data position cannot be mapped")
        if phase == "cpt" and "cpt_data" in saved_state:
            dataset.load_state_dict(saved_state["cpt_data"])
        say(f"[{phase}] resuming from {resume} (step {saved_state.get('global_step', '?')})")
    attn_impl = attn_for(cfg, phase)
    model = load_model(model_path, cfg, compute, tokenizer, attn_impl)  # after the cheap checks above

    # ---- callbacks
    meter = Meter()
    peak, device_name = peak_tflops(cfg)
    run = RunState(phase, output, fingerprint, micro, accum, world, cfg.checkpoint.keep_last)
    if sync_uri and rank == 0:
        run.uploader = Uploader(sync_uri, cfg.checkpoint.keep_last)
    telemetry = TelemetryCallback(meter, shape, cfg.method.kind, peak, device_name, output, phase, cfg.telemetry.plot,
                                  base=saved_state.get("telemetry"))
    run.telemetry = telemetry
    if resume is not None and (resume / METRICS_JSONL).is_file():
        records = [json.loads(line) for line in (resume / METRICS_JSONL).read_text().splitlines() if line.strip()]
        telemetry.load_history(records, int(saved_state.get("global_step", 0)))
    elif resume is None and is_main():
        (output / METRICS_JSONL).unlink(missing_ok=True)
    callbacks: list[TrainerCallback] = [NonFiniteLossCallback(), telemetry, CheckpointCallback(run)]
    deadline_cb = None
    if os.environ.get("LLAMMAS_DEADLINE"):
        deadline_cb = DeadlineCallback(float(os.environ["LLAMMAS_DEADLINE"]))
        callbacks.append(deadline_cb)
    callbacks += list(extra_callbacks or [])
    if os.environ.get("LLAMMAS_DEBUG_STEP_SLEEP"):
        callbacks.append(DebugSleepCallback(float(os.environ["LLAMMAS_DEBUG_STEP_SLEEP"])))

    trainer = LlammasTrainer(
        model=model, args=args, train_dataset=dataset, data_collator=collator, processing_class=tokenizer,
        callbacks=callbacks, meter=meter, train_loader_fn=train_loader_fn,
        oom_hint=f"micro_batch_size {micro}, {tokens_per_micro} tokens per micro-batch")
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)

    already_done = resume is not None and max_steps > 0 and int(saved_state.get("global_step", 0)) >= max_steps
    if already_done:
        say(f"[{phase}] checkpoint {resume.name} already holds the final step: exporting it")
        trainer._load_from_checkpoint(str(resume))
        if run.uploader is not None:
            run.uploader.close()
            run.uploader = None
    else:
        trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    if deadline_cb is not None and deadline_cb.hit:
        raise WallClockLimit(f"stopped at step {trainer.state.global_step} before the wall-clock limit; "
                             "checkpoint saved, a retry resumes from it")

    # ---- export (rank 0)
    metrics = telemetry.summary()
    if already_done and not telemetry.records:
        metrics["steps"] = int(saved_state.get("global_step", 0))
    metrics.update({
        "micro_batch_size": micro, "grad_accum": accum,
        "global_batch": micro * accum * world,
        "train_seconds": round(time.time() - t_start, 2),
        "method": cfg.method.kind, "init_model": init_id,
        "data": source_ids(cfg.cpt.sources if phase == "cpt" else cfg.sft.sources),
    })
    if phase == "sft":
        metrics["sft_data_stats"] = dataset.stats.as_dict()
    from llammas_core.train.export import export_from_folder, export_model

    export_kw = dict(cfg=cfg, phase=phase, base_path=model_path, metrics=metrics,
                     lineage={**(lineage or {}), "init_model": init_id}, compute_dtype=compute)
    gathered = None
    if cfg.launch.fsdp and world > 1:  # sharded weights: gather them through Trainer.save_model (collective)
        gathered = output / "model-gathered"
        trainer.save_model(str(gathered))
        barrier()
    if is_main():
        if gathered is not None:
            del trainer, model
            gc.collect()
            exported = export_from_folder(gathered, output, **export_kw)
            shutil.rmtree(gathered, ignore_errors=True)
        else:
            unwrapped = trainer.model
            del trainer, model
            gc.collect()
            exported = export_model(unwrapped, tokenizer, output, **export_kw)
        metrics["exported"] = exported
        _write_json_atomic(output / METRICS_JSON, metrics)
        say(f"[{phase}] done: {json.dumps({k: metrics[k] for k in ('steps', 'tokens', 'tokens_per_s', 'mfu', 'final_loss', 'peak_memory_gib')})}")
    return metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m llammas_core.train.trainer", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="TrainConfig as a JSON file")
    p.add_argument("--phase", required=True, choices=["cpt", "sft"])
    p.add_argument("--output", required=True, help="folder for model/, metrics.json, metrics.jsonl, loss.png")
    p.add_argument("--checkpoint-dir", default=None, help="HF checkpoints (default OUTPUT/checkpoints)")
    p.add_argument("--resume-from", default="auto", help="auto (newest complete, local or synced), none, or a folder")
    p.add_argument("--init-model", default=None, help="start from this model instead of config.model.base")
    p.add_argument("--init-model-id", default=None, help="identity of the initial model for the fingerprint/card")
    p.add_argument("--sync-uri", default=None, help="store URI (file://, s3://) to copy complete checkpoints to")
    p.add_argument("--lineage", default=None, help="JSON object recorded in the model card")
    a = p.parse_args(argv)
    output = Path(a.output)
    output.mkdir(parents=True, exist_ok=True)
    if dist_env()[0] == 0:
        (output / ERROR_FILE).unlink(missing_ok=True)  # a stale error from an earlier attempt
    try:
        try:
            cfg = TrainConfig.model_validate_json(Path(a.config).read_text())
        except OSError as e:
            raise ConfigError(f"cannot read config {a.config}: {e}") from None
        except ValueError as e:  # pydantic ValidationError
            raise ConfigError(f"invalid config {a.config}: {e}") from None
        train(cfg, a.phase, output, a.checkpoint_dir, a.resume_from, a.init_model, a.init_model_id, a.sync_uri,
              json.loads(a.lineage) if a.lineage else None)
    except WallClockLimit as e:
        _write_error(output, e)
        say(f"STOPPED: {e}", all_ranks=True)
        return EXIT_DEADLINE
    except LlammasError as e:
        _write_error(output, e)
        say(f"ERROR {type(e).__name__}: {e}", all_ranks=True)
        return EXIT_TYPED_ERROR
    finally:
        if _dist_ready():
            with contextlib.suppress(Exception):
                torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
