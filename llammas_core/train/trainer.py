"""The training entry point: one phase (CPT or SFT) of a TrainConfig with transformers' Trainer.

    python -m llammas_core.train.trainer --config cfg.json --phase cpt|sft --output OUT [--data URI]
        [--checkpoint-dir DIR] [--resume-from auto|none|DIR] [--init-model PATH] [--sync-uri URI]
        [--lineage JSON]

Runs under plain python, `torchrun --nproc_per_node N` (DDP: nccl on CUDA, gloo on CPU) or
`accelerate launch`; never imports prefect. CPT reads the token blocks of a committed `tokenize` stage
(`--data` = its manifest URI; llammas_core.train.tokenize); SFT reads cfg.sft.sources. Writes into OUT:
  model/            the final model (safetensors, tokenizer with chat template, generation_config whose
                    eos ids hold the chat template's turn terminator, README.md model card); for LoRA the
                    merged model when method.merge_for_serving
  adapter/          LoRA / QLoRA only: the adapter
  metrics.json      final metrics; metrics.jsonl one line per logged step (and validation); loss.png
  tensorboard/      with telemetry.report_to tensorboard (the default)
  error.json        only on a typed failure (read back by launch.py)

The loop is transformers' Trainer; the modules around it hold the rest: modeling (resolve, load, LoRA),
loaders (CPT samples by global index, SFT examples), arguments (TrainingArguments), checkpointing
(COMPLETE marker, prune, upload, resume), telemetry (tokens, MFU, loss curve), callbacks (NaN, deadline),
preflight (memory estimate), attention (kernels), export (the served model).

Resume (default `auto`): the newest complete checkpoint, local or (if newer) fetched from --sync-uri; its
config fingerprint must match. CPT: the samples of step s onwards are addressed directly (O(1), exact
also after several passes over the blocks); SFT (map-style): HF's batch skipping in the saved epoch,
same seeded order. A run that ends before its configured steps raises instead of exporting.

FLOPs convention for MFU (stated in metrics.json): per trained token 6N (full) or 4N (LoRA/QLoRA), N = all
parameters except the input embedding table, plus attention 12 * layers * hidden * T per token for a
sequence of T tokens (PaLM convention, no recompute). Tokens are real tokens (padding excluded).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

import torch
from transformers import Trainer

from llammas_core.errors import ConfigError, InputError, LlammasError, is_transient
from llammas_core.train.arguments import batching, scheduler_args, training_args  # noqa: F401 (scheduler_args re-exported)
from llammas_core.train.attention import FLASH_IMPLS, PACKED_ATTN, add_varlen_kwargs_hook, attn_for, register_packed_attention  # noqa: F401
from llammas_core.train.callbacks import DeadlineCallback, DebugSleepCallback, NonFiniteLossCallback
from llammas_core.train.checkpointing import (  # noqa: F401 (re-exported)
    CheckpointCallback, RunState, Uploader, find_resume, fingerprint_of, load_run_state)
from llammas_core.train.config import TrainConfig
from llammas_core.train.dist import barrier, dist_env, dist_ready, is_main, say, write_json_atomic
from llammas_core.train.launch import ERROR_FILE, EXIT_DEADLINE, EXIT_TYPED_ERROR, WallClockLimit
from llammas_core.train.loaders import EpochDataLoader, build_sft_datasets, plan_cpt, source_ids, stack_collate
from llammas_core.train.modeling import (  # noqa: F401 (re-exported)
    grow_embeddings, load_model, load_tokenizer, model_shape, param_dtype_for, resolve_dtype, resolve_model_path)
from llammas_core.train.preflight import check_memory_fits, estimate_memory_gib  # noqa: F401
from llammas_core.train.telemetry import METRICS_JSON, METRICS_JSONL, Meter, TelemetryCallback, peak_tflops


class LlammasTrainer(Trainer):
    """transformers.Trainer plus: real-token metering, OOM -> ConfigError, our own train DataLoader."""

    def __init__(self, *a, meter: Meter, train_loader_fn=None, oom_hint: str = "", **kw):
        super().__init__(*a, **kw)
        self.meter, self.train_loader_fn, self.oom_hint = meter, train_loader_fn, oom_hint

    def get_train_dataloader(self):
        return self.train_loader_fn() if self.train_loader_fn is not None else super().get_train_dataloader()

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.meter.observe(inputs)
        try:
            return super().training_step(model, inputs, num_items_in_batch)
        except torch.OutOfMemoryError as e:
            raise ConfigError(f"out of device memory at step {self.state.global_step} ({self.oom_hint}): reduce "
                              f"optim.micro_batch_size / sft.tokens_per_micro_batch, enable "
                              f"model.gradient_checkpointing, or use LoRA/FSDP. ({str(e).splitlines()[0]})") from None


def train(cfg: TrainConfig, phase: str, output: str | Path, checkpoint_dir: str | Path | None = None,
          resume_from: str = "auto", init_model: str | None = None, init_model_id: str | None = None,
          sync_uri: str | None = None, lineage: dict | None = None, extra_callbacks: list | None = None,
          data: str | None = None) -> dict:
    """Run one phase; returns the final metrics (also written to OUT/metrics.json).

    `data`: the tokenize stage manifest URI (CPT). `extra_callbacks`: more TrainerCallbacks (in-process use).
    """
    if phase not in ("cpt", "sft"):
        raise ConfigError(f"phase must be cpt or sft, got {phase!r}")
    if not getattr(cfg, phase).enabled:
        raise ConfigError(f"phase {phase} is disabled in the config")
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_warning()
    hf_logging.disable_progress_bar()
    output = Path(output).resolve()
    checkpoint_dir = Path(checkpoint_dir).resolve() if checkpoint_dir else output / "checkpoints"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    rank, local_rank, world = dist_env()
    optim = cfg.optim_for(phase)
    compute = resolve_dtype(cfg.model.dtype)
    if compute == torch.bfloat16 and not torch.cuda.is_available():
        compute = torch.float32  # CPU: bf16 autocast is slow and pointless for tests
    if cfg.launch.fsdp and cfg.method.kind != "full":
        raise ConfigError("launch.fsdp is supported for full fine-tuning only; LoRA/QLoRA run with DDP")
    t_start = time.time()

    # ---- pre-flight: model, tokenizer, data, batch geometry, memory (before any weight is loaded)
    model_spec = init_model or cfg.model.base
    model_path = resolve_model_path(model_spec, checkpoint_dir.parent / "model-cache")
    shape = model_shape(model_path, cfg)
    tokenizer, _ = load_tokenizer(model_path, cfg, phase)
    micro, accum = batching(optim, world)
    if phase == "cpt":
        plan = plan_cpt(cfg, data, micro, accum, world, checkpoint_dir.parent / "token-cache")
        max_steps = expected_steps = plan.max_steps
        seq_len, tokens_per_micro = cfg.cpt.block_size, micro * cfg.cpt.block_size
        train_ds, eval_ds, collator = None, plan.eval_dataset(), stack_collate
        data_desc = (f"{len(plan.blocks):,} blocks of {seq_len} ({plan.held_out} held out), {max_steps} steps = "
                     f"{plan.epochs:.2f} passes")
    else:
        train_ds, eval_ds = build_sft_datasets(cfg, tokenizer)
        max_steps = cfg.sft.max_steps or -1
        expected_steps = max_steps if max_steps > 0 else math.ceil(cfg.sft.epochs * len(train_ds) / (micro * accum * world))
        seq_len = cfg.sft.max_length
        budget = cfg.sft.packing == "padding_free" and cfg.sft.tokens_per_micro_batch
        tokens_per_micro = max(cfg.sft.tokens_per_micro_batch, seq_len) if budget else micro * seq_len
        collator = _sft_collator(cfg, tokenizer)
        data_desc = f"{len(train_ds)} conversations ({len(eval_ds) if eval_ds else 0} held out), {train_ds.stats.as_dict()}"
    attn_impl = attn_for(cfg, phase)
    say(f"[{phase}] model {model_spec} ({shape.n_params / 1e6:.1f}M params), method {cfg.method.kind}, attention "
        f"{attn_impl}, compute {str(compute).replace('torch.', '')}, world {world}, micro {micro} x accum {accum}; "
        f"data: {data_desc}")
    if torch.cuda.is_available():
        est = estimate_memory_gib(shape, cfg.method.kind, torch.finfo(param_dtype_for(cfg, compute)).bits // 8,
                                  torch.finfo(compute).bits // 8, tokens_per_micro, seq_len,
                                  cfg.model.gradient_checkpointing, world, sharded=bool(cfg.launch.fsdp))
        cap = torch.cuda.get_device_properties(local_rank).total_memory / 1024 ** 3
        say(f"[{phase}] memory estimate {est['total']:.1f} GiB of {cap:.1f} GiB per device")
        check_memory_fits(est, cap, micro, cfg.model.gradient_checkpointing)

    # ---- arguments, resume point
    set_seed(optim.seed)
    args = training_args(cfg, phase, checkpoint_dir, micro, accum, max_steps, compute, world, expected_steps,
                         has_eval=eval_ds is not None, logging_dir=output / "tensorboard")
    _ = args.device  # initialises the process group under torchrun (find_resume broadcasts over it)
    init_id = init_model_id or model_spec
    fingerprint = fingerprint_of(cfg, phase, init_id)
    resume = find_resume(checkpoint_dir, resume_from, sync_uri, local_main=(local_rank == 0))
    saved_state = load_run_state(resume, fingerprint, phase, micro, accum, world)
    start_step = int(saved_state.get("global_step", 0))
    if resume is not None:
        say(f"[{phase}] resuming from {resume} (step {start_step})")

    # ---- data loaders
    if phase == "cpt":
        train_ds = plan.train_dataset(cfg, rank, world, micro, accum, start_step)

        def train_loader_fn():  # this rank's samples from the resumed step on: no accelerate re-sharding
            return torch.utils.data.DataLoader(train_ds, batch_size=micro, shuffle=False, collate_fn=stack_collate,
                                               num_workers=cfg.launch.dataloader_num_workers)
    elif cfg.sft.packing == "padding_free" and cfg.sft.tokens_per_micro_batch:
        from llammas_core.train.batching import TokenBudgetBatchSampler

        def train_loader_fn():  # rank-aware token-budget packs, reshuffled per epoch (set_epoch)
            sampler = TokenBudgetBatchSampler(train_ds.lengths, cfg.sft.tokens_per_micro_batch, seed=optim.seed)
            if len(sampler) == 0:
                raise InputError("SFT data gives fewer token-budget batches than processes")
            return EpochDataLoader(train_ds, batch_sampler=sampler, collate_fn=collator,
                                   num_workers=cfg.launch.dataloader_num_workers)
    else:
        train_loader_fn = None

    # ---- model
    model = load_model(model_path, cfg, compute, tokenizer, attn_impl)
    if attn_impl in FLASH_IMPLS:
        add_varlen_kwargs_hook(model)

    # ---- callbacks, trainer
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
        telemetry.load_history(records, start_step)
    elif resume is None and is_main():
        (output / METRICS_JSONL).unlink(missing_ok=True)
    callbacks = [NonFiniteLossCallback(), telemetry, CheckpointCallback(run)]
    deadline_cb = DeadlineCallback(float(os.environ["LLAMMAS_DEADLINE"])) if os.environ.get("LLAMMAS_DEADLINE") else None
    callbacks += [deadline_cb] if deadline_cb else []
    callbacks += list(extra_callbacks or [])
    if os.environ.get("LLAMMAS_DEBUG_STEP_SLEEP"):
        callbacks.append(DebugSleepCallback(float(os.environ["LLAMMAS_DEBUG_STEP_SLEEP"])))
    trainer = LlammasTrainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds, data_collator=collator,
        processing_class=tokenizer, callbacks=callbacks, meter=meter, train_loader_fn=train_loader_fn,
        oom_hint=f"micro_batch_size {micro}, {tokens_per_micro} tokens per micro-batch")
    trainer.remove_callback(PrinterCallback)

    # ---- train
    already_done = resume is not None and max_steps > 0 and start_step >= max_steps
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
    done_steps = start_step if already_done else trainer.state.global_step
    target = max_steps if already_done else trainer.state.max_steps
    if done_steps < target:  # never export (and so never commit) a run shorter than configured
        raise InputError(f"[{phase}] training ended at step {done_steps} of {target}: the data ran out before the "
                         "configured steps; nothing was exported")

    # ---- export (rank 0)
    metrics = telemetry.summary()
    if already_done and not any("loss" in r for r in telemetry.records):
        metrics["steps"] = start_step
    metrics.update({
        "micro_batch_size": micro, "grad_accum": accum, "global_batch": micro * accum * world,
        "train_seconds": round(time.time() - t_start, 2), "method": cfg.method.kind, "init_model": init_id,
        "data": [data] if phase == "cpt" and data else source_ids(cfg.sft.sources if phase == "sft" else cfg.cpt.sources),
    })
    if phase == "cpt":
        metrics["cpt_data"] = {"blocks": len(plan.blocks), "train_blocks": plan.n_train, "held_out_blocks": plan.held_out,
                               "passes": round(plan.epochs, 4), "shuffle_blocks": cfg.cpt.shuffle_blocks}
    else:
        metrics["sft_data_stats"] = train_ds.stats.as_dict()
    _export(trainer, model, tokenizer, output, cfg, phase, model_path, metrics, lineage, init_id, compute, world)
    return metrics


def _sft_collator(cfg: TrainConfig, tokenizer):
    from llammas_core.train.batching import PaddedCollator, PaddingFreeCollator

    return PaddedCollator(tokenizer.pad_token_id) if cfg.sft.packing == "padded" else PaddingFreeCollator()


def _export(trainer, model, tokenizer, output: Path, cfg, phase, model_path, metrics, lineage, init_id, compute, world):
    from llammas_core.train.export import export_from_folder, export_model

    export_kw = dict(cfg=cfg, phase=phase, base_path=model_path, metrics=metrics,
                     lineage={**(lineage or {}), "init_model": init_id}, compute_dtype=compute)
    gathered = None
    if cfg.launch.fsdp and world > 1:  # sharded weights: gather them through Trainer.save_model (collective)
        gathered = output / "model-gathered"
        trainer.save_model(str(gathered))
        barrier()
    if not is_main():
        return
    unwrapped = trainer.model
    del trainer, model
    gc.collect()
    if gathered is not None:
        exported = export_from_folder(gathered, output, **export_kw)
        shutil.rmtree(gathered, ignore_errors=True)
    else:
        exported = export_model(unwrapped, tokenizer, output, **export_kw)
    metrics["exported"] = exported
    write_json_atomic(output / METRICS_JSON, metrics)
    keys = ("steps", "tokens", "tokens_per_s", "mfu", "final_loss", "final_eval_loss", "peak_memory_gib")
    say(f"[{phase}] done: {json.dumps({k: metrics.get(k) for k in keys})}")


# the same input fails the same way: a retry would only relaunch the trainer to fail again
DETERMINISTIC = (ValueError, TypeError, KeyError, IndexError, AttributeError, NotImplementedError, ImportError)


def _write_error(output: Path, exc: BaseException) -> None:
    with contextlib.suppress(Exception):
        write_json_atomic(output / ERROR_FILE, {"type": type(exc).__name__, "message": str(exc), "rank": dist_env()[0],
                                                "transient": is_transient(exc)})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m llammas_core.train.trainer", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="TrainConfig as a JSON file")
    p.add_argument("--phase", required=True, choices=["cpt", "sft"])
    p.add_argument("--output", required=True, help="folder for model/, metrics.json, metrics.jsonl, loss.png")
    p.add_argument("--data", default=None, help="CPT: the tokenize stage manifest URI")
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
              json.loads(a.lineage) if a.lineage else None, data=a.data)
    except WallClockLimit as e:
        _write_error(output, e)
        say(f"STOPPED: {e}", all_ranks=True)
        return EXIT_DEADLINE
    except (LlammasError, *DETERMINISTIC) as e:
        _write_error(output, e)
        if not isinstance(e, LlammasError):
            traceback.print_exc()
        say(f"ERROR {type(e).__name__}: {e}", all_ranks=True)
        return EXIT_TYPED_ERROR
    finally:
        if dist_ready():
            with contextlib.suppress(Exception):
                torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
