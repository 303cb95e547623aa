"""TrainingArguments from a TrainConfig: batch geometry, LR schedule, logging/eval cadence, trackers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from llammas_core.errors import ConfigError
from llammas_core.train.config import OptimConfig, TrainConfig


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



def log_every(cfg: TrainConfig, expected_steps: int) -> int:
    """telemetry.log_every_steps, default max(1, steps // 200): ~200 points on a long run's loss curve,
    every step of a tiny demo."""
    return cfg.telemetry.log_every_steps or max(1, expected_steps // 200)


def training_args(cfg: TrainConfig, phase: str, checkpoint_dir: Path, micro: int, accum: int, max_steps: int,
                  compute: torch.dtype, world: int, expected_steps: int, has_eval: bool, logging_dir: Path):
    """TrainingArguments for one phase (max_steps <= 0: SFT runs sft.epochs)."""
    from transformers import TrainingArguments

    from llammas_core.train.attention import speed_training_args

    if "tensorboard" in cfg.telemetry.report_to:  # transformers 5 reads the folder from the environment only
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(logging_dir)
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
        logging_steps=log_every(cfg, expected_steps),
        logging_nan_inf_filter=False,
        save_strategy="steps",
        save_steps=cfg.checkpoint.every_steps,
        save_total_limit=None,  # pruning by CheckpointCallback: only complete checkpoints count
        save_only_model=False,
        report_to=list(cfg.telemetry.report_to) or "none",
        eval_strategy="steps" if has_eval else "no",
        eval_steps=(cfg.cpt.eval_every_steps if phase == "cpt" else cfg.sft.eval_every_steps) if has_eval else None,
        per_device_eval_batch_size=micro,
        prediction_loss_only=True,  # never gather logits of the vocabulary
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=cfg.launch.dataloader_num_workers,
        dataloader_drop_last=False,
        ddp_find_unused_parameters=False,
        ddp_backend=("nccl" if cuda else "gloo") if world > 1 else None,
        ignore_data_skip=(phase == "cpt"),  # CPT samples start at the resumed step by index (loaders.CPTPlan)
        include_num_input_tokens_seen="no",
        average_tokens_across_devices=True,
        max_steps=max_steps if max_steps > 0 else -1,
        **speed_training_args(cfg),
    )
    if phase == "sft" and cfg.sft.max_steps is None:
        kw["num_train_epochs"] = cfg.sft.epochs
    if cfg.launch.fsdp:
        kw["fsdp"] = cfg.launch.fsdp
        kw["fsdp_config"] = cfg.launch.fsdp_config
    return TrainingArguments(**kw)
