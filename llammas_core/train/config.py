"""Training configuration (pydantic v2; every field has a description: they render as Prefect UI forms).

One `TrainConfig` describes a whole adaptation run: continued pretraining (CPT) and/or supervised
instruction tuning (SFT) of one base model, with one method (full / LoRA / QLoRA). Phase-specific
optimiser settings go in `cpt.optim` / `sft.optim`; when absent the top-level `optim` is used.

Presets (also usable as YAML, see `preset_yaml`):

- `demo`: a tiny local model, CPT then SFT, seconds on a CPU.
- `llammas-et`: Kuulmets et al. 2024 (Llammas): Llama-2-7B, CPT 5B tokens 75% et / 25% en in
  1024-token blocks, LR 2e-5 -> 2e-6 linear, wd 0.1, clip 1.0, seed 42, gradient checkpointing;
  SFT 3 epochs, batch 128, assistant-only loss, max length 1024.
- `x-llama-coit`: Zhu et al. 2023 (x-LLaMA CoIT): SFT only, 512 tokens, LR 2e-5 cosine, 3% warmup,
  3 epochs, batch 128, Alpaca prompt.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llammas_core.languages import LanguageCode

# bf16 dense peak TFLOP/s per device, matched as a case-insensitive substring of
# torch.cuda.get_device_name(); the longest matching key wins ("H100 PCIe" before "H100").
DEFAULT_PEAK_TFLOPS: dict[str, float] = {
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    "H200": 989.0,
    "GH200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 125.0,
}

LLAMA_LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# The x-LLaMA / Stanford Alpaca prompt as a chat template (prefix-stable, as sft_data.encode_chat needs):
# a system message replaces the Alpaca preamble; an input is part of the user message; the assistant
# turn is the response followed by EOS; later turns are separated by a blank line.
ALPACA_CHAT_TEMPLATE = (
    "{{- bos_token if bos_token else '' -}}"
    "{%- if messages and messages[0]['role'] == 'system' -%}{{ messages[0]['content'] + '\\n\\n' }}"
    "{%- else -%}{{ 'Below is an instruction that describes a task. Write a response that appropriately completes "
    "the request.\\n\\n' }}{%- endif -%}"
    "{%- set ns = namespace(started=false) -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{%- if ns.started %}{{ '\\n\\n' }}{% endif -%}"
    "{{ '### Instruction:\\n' + message['content'] + '\\n\\n### Response:\\n' }}{%- set ns.started = true -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ message['content'] + eos_token }}{%- set ns.started = true -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
)


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VocabExtensionConfig(_Base):
    enabled: bool = Field(False, description="Train a target-language tokenizer on the CPT corpus and add its K most useful "
                          "new tokens to the base vocabulary (new rows = mean of the rows of their old pieces).")
    k: int = Field(4000, ge=1, description="New tokens to add (the vocabulary is then padded to a multiple of pad_to_multiple_of).")
    tokenizer_vocab_size: int | None = Field(None, ge=300, description="Vocabulary size of the target-language tokenizer the "
                                             "candidates come from; default: base vocabulary + 2k (at least 4000).")
    max_docs: int = Field(200_000, ge=1, description="Target-language documents read to train that tokenizer and count frequencies.")
    min_frequency: int = Field(2, ge=1, description="A candidate must occur at least this often in those documents.")
    pad_to_multiple_of: int = Field(64, ge=1, description="Embedding rows are padded to a multiple of this (tensor-core friendly).")
    train_new_rows_in_lora: Literal["trainable_token_indices", "modules_to_save"] = Field(
        "trainable_token_indices", description="How LoRA trains the new rows: only those rows (peft trainable_token_indices) or the "
        "whole embedding and LM head (modules_to_save; larger adapters).")


class ModelConfig(_Base):
    base: str = Field(
        "meta-llama/Llama-2-7b-hf",
        description="Base model: a local folder, a store URI (file://..., s3://...; a folder or a stage manifest.json "
        "whose folder holds model/), or a Hugging Face hub id (needs network or a filled HF cache).",
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) when `base` is a hub id.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Compute precision. auto: bfloat16 on CUDA, float32 on CPU. float16 is allowed but "
        "NaN-prone; prefer bfloat16.")
    param_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="Dtype the trainable weights are held in. auto: float32 master weights for full fine-tuning "
        "(mixed precision; pure bf16 AdamW loses updates of ~lr 2e-5), compute dtype for a frozen LoRA base.",
    )
    attn_implementation: Literal["auto", "sdpa", "llammas_packed_sdpa", "eager", "flash_attention_2", "flash_attention_3"] = Field(
        "auto", description="Attention kernel. auto: llammas_packed_sdpa for padding-free SFT (sdpa per packed "
        "sequence: attention work sum(len^2), not total^2 as masked sdpa), sdpa otherwise. flash_attention_* need the "
        "flash-attn package and CUDA (varlen over position_ids).")
    gradient_checkpointing: bool = Field(True, description="Recompute activations in the backward pass (less memory, ~20-30% more compute).")
    trust_remote_code: bool = Field(False, description="Allow model code from the hub repository to run. Off unless you trust it.")
    compile: bool = Field(False, description="torch.compile the model (TrainingArguments.torch_compile). Best with "
                          "flash_attention_2 or sdpa; the packed sdpa kernel slices per sequence and recompiles.")
    fused_loss: Literal["auto", "liger", "none"] = Field(
        "auto", description="Cross-entropy kernel. auto: Liger's fused linear cross-entropy (no full logits tensor for "
        "a large vocabulary; also Liger RMSNorm/RoPE/SwiGLU) when liger-kernel is installed on CUDA, else none "
        "(transformers' own loss).")
    extend_vocab: VocabExtensionConfig = Field(default_factory=lambda: VocabExtensionConfig(),
                                               description="Target-language vocabulary extension before CPT (off by default).")


class MethodConfig(_Base):
    kind: Literal["full", "lora", "qlora"] = Field("full", description="full: all weights; lora: low-rank adapters on a frozen base; qlora: LoRA on a 4-bit NF4 base (CUDA + bitsandbytes).")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: list(LLAMA_LINEAR_MODULES),
        description="Module names that get adapters, or 'all-linear'.")
    merge_for_serving: bool = Field(True, description="Export a merged full model (adapter merged into the base reloaded "
                                     "unquantized in the save dtype); the adapter is exported as well.")


class OptimConfig(_Base):
    lr: float = Field(2e-5, gt=0, description="Peak learning rate.")
    min_lr: float | None = Field(None, ge=0, description="Final learning rate of the decay (absolute). Overrides min_lr_ratio.")
    min_lr_ratio: float = Field(0.0, ge=0, lt=1, description="Final learning rate as a fraction of lr (0: decay to zero).")
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup", "inverse_sqrt"] = Field(
        "linear", description="LR schedule after warmup. linear/cosine decay to min_lr (polynomial power 1 / cosine_with_min_lr).")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Fraction of the optimiser steps spent in linear warmup.")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay (not applied to biases and norms).")
    adam_beta1: float = Field(0.9, gt=0, lt=1, description="AdamW beta1.")
    adam_beta2: float = Field(0.999, gt=0, lt=1, description="AdamW beta2 (HF default 0.999, as the Llammas runs).")
    adam_epsilon: float = Field(1e-8, gt=0, description="AdamW epsilon.")
    optimizer: str = Field("adamw_torch", description="TrainingArguments.optim name (adamw_torch, adamw_torch_fused, adamw_8bit, ...).")
    grad_clip: float = Field(1.0, ge=0, description="Max global gradient norm (0 disables clipping).")
    micro_batch_size: int = Field(8, ge=1, description="Sequences per device per forward/backward (padded packing and "
                                  "CPT blocks; padding-free SFT uses it unless sft.tokens_per_micro_batch is set).")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps (ignored when global_batch_size is set).")
    global_batch_size: int | None = Field(
        None, ge=1, description="Sequences per optimiser step over all devices; sets grad_accum = global / (micro * "
        "world size), which must divide exactly.")
    seed: int = Field(42, description="Seed for weights of new modules, dropout and data order.")

    def final_lr(self) -> float:
        return self.min_lr if self.min_lr is not None else self.lr * self.min_lr_ratio


class CPTConfig(_Base):
    enabled: bool = Field(True, description="Run continued pretraining.")
    sources: list[str] = Field(default_factory=list, description="Corpora: corpus stage manifest URIs or JSONL/Parquet paths with a text field, mixed by `probabilities`.")
    probabilities: list[float] = Field(default_factory=lambda: [0.75, 0.25], description="Sampling probability per source (documents), e.g. 75% target language / 25% English.")
    text_field: str = Field("text", description="Field holding the document text.")
    block_size: int = Field(1024, ge=8, description="Tokens per training block (documents joined with EOS, tail dropped).")
    max_tokens: int | None = Field(None, ge=1, description="Training budget in tokens; steps = ceil(tokens / (block * global batch)).")
    max_steps: int | None = Field(None, ge=1, description="Training budget in optimiser steps (overrides max_tokens).")
    mixture_seed: int | None = Field(None, description="Seed of the document mixture (tokenize stage); default: the CPT optimiser seed.")
    shuffle_blocks: bool = Field(True, description="Read the token blocks in a seeded permutation per pass (epoch e: "
                                 "permutation seeded (seed, e)); false: in stream order, wrapping around.")
    max_epochs: float | None = Field(None, gt=0, description="Refuse a run that needs more passes over the token blocks "
                                     "than this (None: any number of passes).")
    validation_blocks: int = Field(0, ge=0, description="Hold out the last N blocks of the tokenized stream for a "
                                   "validation loss (not trained on).")
    eval_every_steps: int = Field(200, ge=1, description="Validation loss every N optimiser steps (when validation_blocks > 0).")
    optim: OptimConfig | None = Field(None, description="Optimiser settings for this phase; default: the top-level optim.")

    @model_validator(mode="after")
    def _check(self):
        if self.enabled and self.sources and len(self.probabilities) != len(self.sources):
            raise ValueError(f"cpt.probabilities has {len(self.probabilities)} values for {len(self.sources)} sources")
        if any(p < 0 for p in self.probabilities):
            raise ValueError("cpt.probabilities must be >= 0")
        return self


class SFTConfig(_Base):
    enabled: bool = Field(True, description="Run supervised instruction tuning.")
    sources: list[str] = Field(default_factory=list, description="Chat/instruction data: stage manifest URIs or JSON/JSONL paths (messages or Alpaca records).")
    max_length: int = Field(1024, ge=8, description="Max tokens per conversation.")
    overflow: Literal["truncate", "drop"] = Field("truncate", description="What to do with longer conversations.")
    packing: Literal["padding_free", "padded"] = Field("padding_free", description="padding_free: concatenate a micro-batch into one row with position_ids reset per sequence (no pad compute); padded: classic right-padded batches.")
    tokens_per_micro_batch: int | None = Field(None, ge=8, description="padding_free only: form micro-batches by a token budget instead of micro_batch_size sequences.")
    chat_template: str | None = Field(None, description="Jinja chat template; default: llammas' `<|user|>`/`<|assistant|>` template.")
    epochs: float = Field(3.0, gt=0, description="Passes over the SFT data.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps (overrides epochs).")
    validation_examples: int = Field(0, ge=0, description="Hold out N conversations (a seeded choice) for a validation loss.")
    eval_every_steps: int = Field(200, ge=1, description="Validation loss every N optimiser steps (when validation_examples > 0).")
    optim: OptimConfig | None = Field(None, description="Optimiser settings for this phase; default: the top-level optim.")


class CheckpointConfig(_Base):
    every_steps: int = Field(500, ge=1, description="Save a checkpoint every N optimiser steps (and always at the last step).")
    keep_last: int = Field(2, ge=1, description="Complete checkpoints kept locally and in the store.")
    sync_to_store: bool = Field(True, description="Copy each complete checkpoint to `<store>/checkpoints/<stage>/<key>/` so a retry on another machine resumes.")
    cleanup_on_success: bool = Field(False, description="Delete the synced and local checkpoints once the stage has committed.")


class LaunchConfig(_Base):
    launcher: Literal["torchrun", "accelerate", "python"] = Field("torchrun", description="How the trainer process is started.")
    nproc_per_node: int = Field(1, ge=1, description="Processes (GPUs) on this node; DDP when > 1 (nccl on CUDA, gloo on CPU).")
    accelerate_config_file: str | None = Field(None, description="accelerate launch --config_file (DeepSpeed/FSDP settings) when launcher is accelerate.")
    fsdp: str | None = Field(None, description="TrainingArguments.fsdp, e.g. 'full_shard auto_wrap' (untested in CI: CUDA only).")
    fsdp_config: dict | None = Field(None, description="TrainingArguments.fsdp_config.")
    wall_clock_limit_seconds: int | None = Field(None, ge=60, description="Hard limit per attempt: the process group is killed when it is reached.")
    checkpoint_margin_seconds: int = Field(300, ge=0, description="The trainer checkpoints and stops this long before the wall-clock limit.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables for the trainer process (e.g. NCCL_*).")
    dataloader_num_workers: int = Field(0, ge=0, description="DataLoader worker processes (CPT blocks are memory-mapped: cheap; 0 reads in the trainer process).")


class TelemetryConfig(_Base):
    peak_tflops: float | None = Field(None, gt=0, description="Per-device peak TFLOP/s for MFU; default: looked up from device_peaks by GPU name.")
    device_peaks: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_PEAK_TFLOPS), description="bf16 dense peak TFLOP/s by GPU name substring.")
    log_every_steps: int | None = Field(None, ge=1, description="Telemetry/log line every N optimiser steps; None: "
                                        "max(1, max_steps // 200) (about 200 points on the loss curve; every step of "
                                        "a tiny demo). Non-finite loss is checked at each log and before each checkpoint.")
    report_to: list[Literal["tensorboard", "mlflow", "wandb"]] = Field(
        default_factory=lambda: ["tensorboard"], description="Experiment trackers (TrainingArguments.report_to). "
        "tensorboard logs go under the stage output (tensorboard/), so they land in the store.")
    plot: bool = Field(True, description="Write loss.png (matplotlib) next to metrics.jsonl.")


class TrainConfig(_Base):
    """A CPT and/or SFT run of one base model."""

    name: str = Field("llammas", description="Run name (model card title).")
    language: LanguageCode = Field("et", description="Target language code (model card metadata).")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Base model and precision.")
    method: MethodConfig = Field(default_factory=MethodConfig, description="Full fine-tuning or LoRA / QLoRA.")
    cpt: CPTConfig = Field(default_factory=CPTConfig, description="Continued pretraining phase.")
    sft: SFTConfig = Field(default_factory=SFTConfig, description="Instruction tuning phase.")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="Default optimiser settings for both phases.")
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig, description="Checkpointing and resume.")
    launch: LaunchConfig = Field(default_factory=LaunchConfig, description="Process launch and limits.")
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig, description="Throughput/MFU accounting.")

    @model_validator(mode="after")
    def _check(self):
        if self.cpt.enabled and not self.cpt.sources:
            raise ValueError("cpt.enabled but cpt.sources is empty")
        if self.cpt.enabled and self.cpt.max_steps is None and self.cpt.max_tokens is None:
            raise ValueError("cpt needs max_tokens or max_steps (the training budget; the token blocks repeat in passes as needed)")
        if self.sft.enabled and not self.sft.sources:
            raise ValueError("sft.enabled but sft.sources is empty")
        if not self.cpt.enabled and not self.sft.enabled:
            raise ValueError("nothing to do: cpt and sft are both disabled")
        if self.method.kind == "qlora" and self.model.param_dtype == "float32":
            raise ValueError("qlora keeps the base in 4 bit: param_dtype float32 makes no sense")
        return self

    def optim_for(self, phase: str) -> OptimConfig:
        sub = self.cpt.optim if phase == "cpt" else self.sft.optim
        return sub or self.optim

    def phase_view(self, phase: str) -> dict:
        """What determines a phase's output (its stage key): launch, telemetry and checkpoint cadence do not."""
        data = self.model_dump(mode="json", include={"model", "method", "optim", phase})
        data["optim"] = self.optim_for(phase).model_dump(mode="json")
        data[phase].pop("optim", None)
        return {"phase": phase, **data}


# ----------------------------------------------------------------------------- presets

def preset(name: str, **overrides) -> TrainConfig:
    """A ready TrainConfig: 'demo' (needs model.base and sources), 'llammas-et', 'x-llama-coit'.

    `overrides` are top-level fields (dicts for sub-models are merged one level deep).
    """
    data = _preset_dict(name)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return TrainConfig.model_validate(data)


def _demo() -> dict:
    return {
        "name": "llammas-demo",
        "model": {"base": "./demo/tiny-base", "gradient_checkpointing": False},
        "method": {"kind": "full"},
        "cpt": {"enabled": True, "sources": ["demo/et.jsonl", "demo/en.jsonl"], "probabilities": [0.75, 0.25],
                "block_size": 128, "max_steps": 30},
        "sft": {"enabled": True, "sources": ["demo/sft.jsonl"], "max_length": 256, "epochs": 1},
        "optim": {"lr": 1e-3, "min_lr_ratio": 0.1, "scheduler": "linear", "warmup_ratio": 0.05, "weight_decay": 0.1,
                  "micro_batch_size": 8, "grad_accum": 1, "seed": 42},
        "checkpoint": {"every_steps": 10, "keep_last": 2},
        "launch": {"launcher": "python", "nproc_per_node": 1},
    }


def _llammas_et() -> dict:
    # Kuulmets et al. 2024: 19,080 steps x 256 x 1024 = 5.0B tokens; 8 GPUs (they used DeepSpeed ZeRO-2).
    return {
        "name": "llammas-et",
        "language": "et",
        "model": {"base": "meta-llama/Llama-2-7b-hf", "dtype": "auto", "gradient_checkpointing": True},
        "method": {"kind": "full"},
        "cpt": {"enabled": True, "sources": ["<corpus manifest: Estonian>", "<corpus manifest: English>"],
                "probabilities": [0.75, 0.25], "block_size": 1024, "max_tokens": 5_000_000_000,
                "optim": {"lr": 2e-5, "min_lr": 2e-6, "scheduler": "linear", "warmup_ratio": 0.0,
                          "weight_decay": 0.1, "grad_clip": 1.0, "micro_batch_size": 8,
                          "global_batch_size": 256, "seed": 42}},
        "sft": {"enabled": True, "sources": ["<sft data manifest>"], "max_length": 1024, "overflow": "truncate",
                "packing": "padding_free", "epochs": 3,
                "optim": {"lr": 2e-5, "min_lr": 2e-6, "scheduler": "linear", "warmup_ratio": 0.0,
                          "weight_decay": 0.1, "grad_clip": 1.0, "micro_batch_size": 8,
                          "global_batch_size": 128, "seed": 42}},
        "checkpoint": {"every_steps": 500, "keep_last": 2},
        "launch": {"launcher": "torchrun", "nproc_per_node": 8, "fsdp": "full_shard auto_wrap",
                   "fsdp_config": {"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]}},
    }


def _x_llama_coit() -> dict:
    # Zhu et al. 2023 (x-LLaMA): full FT, FSDP on 8 A100, batch 128, LR 2e-5 cosine, 3% warmup, 3 epochs, 512 tokens.
    return {
        "name": "x-llama-coit-et",
        "language": "et",
        "model": {"base": "huggyllama/llama-7b", "gradient_checkpointing": True},
        "method": {"kind": "full"},
        "cpt": {"enabled": False},
        "sft": {"enabled": True, "sources": ["<CoIT data manifest: translated Alpaca + English Alpaca + en->et translation>"],
                "max_length": 512, "overflow": "truncate", "packing": "padding_free", "epochs": 3,
                "chat_template": ALPACA_CHAT_TEMPLATE},
        "optim": {"lr": 2e-5, "min_lr_ratio": 0.0, "scheduler": "cosine", "warmup_ratio": 0.03, "weight_decay": 0.0,
                  "grad_clip": 1.0, "micro_batch_size": 4, "global_batch_size": 128, "seed": 42},
        "launch": {"launcher": "torchrun", "nproc_per_node": 8, "fsdp": "full_shard auto_wrap",
                   "fsdp_config": {"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]}},
    }


PRESETS = {"demo": _demo, "llammas-et": _llammas_et, "x-llama-coit": _x_llama_coit}


def _preset_dict(name: str) -> dict:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]()


def preset_yaml(name: str) -> str:
    """The preset's explicit settings as YAML (for configs/*.yaml); validated first."""
    import yaml

    preset(name)
    return yaml.safe_dump(_preset_dict(name), sort_keys=False, width=100)
