"""The model side of training: dtypes, where the base model is (local, store, hub), its tokenizer,
its shape (for FLOPs and the memory estimate), loading it with the chosen attention kernel, and the
LoRA/QLoRA wrapping."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from llammas_core.errors import ConfigError
from llammas_core.train.config import TrainConfig
from llammas_core.train.dist import dist_env

VOCAB_FILE = "llammas_vocab.json"  # written by vocab.py into an extended base model folder


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
        target.parent.mkdir(parents=True, exist_ok=True)
        # One download per node: the ranks of a node share the folder; the first to take the lock
        # downloads, the others wait for it and then see the .complete marker.
        with FileLock(str(target) + ".lock"):
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

        tok, added = prepare_tokenizer(tok, cfg.sft.chat_template, need_pad=cfg.sft.packing == "padded")
    return tok, added


def grow_embeddings(model, tokenizer, chat_template: str | None = None) -> int:
    """Make room for the tokenizer's ids and set the stop/pad ids; returns the number of rows added.

    Rows are added only when the tokenizer has more ids than the embedding (a padded-packing pad that no
    existing token could serve as, see sft_data.prepare_tokenizer): the matrix then grows to a multiple of
    64 (tensor-core friendly; never vocab+1), new rows = the mean of the old rows (deterministic, so an
    export can rebuild the same base for a LoRA merge). Stop ids: stop_tokens.set_generation_stop (the
    chat template's turn terminator + EOS).
    """
    from llammas_core.train.stop_tokens import set_generation_stop

    n_new = len(tokenizer)
    n_old = model.get_input_embeddings().weight.shape[0]
    added = 0
    if n_new > n_old:
        model.resize_token_embeddings(n_new, pad_to_multiple_of=64, mean_resizing=False)
        with torch.no_grad():
            inp = model.get_input_embeddings().weight
            inp[n_old:] = inp[:n_old].float().mean(0, keepdim=True).to(inp.dtype)
            out = model.get_output_embeddings()
            if out is not None and out.weight.data_ptr() != inp.data_ptr():
                out.weight[n_old:] = out.weight[:n_old].float().mean(0, keepdim=True).to(out.weight.dtype)
        added = inp.shape[0] - n_old
    if tokenizer.bos_token_id is not None:
        model.config.bos_token_id = tokenizer.bos_token_id
    set_generation_stop(model, tokenizer, chat_template)
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
    grow_embeddings(model, tokenizer, getattr(tokenizer, "chat_template", None))
    model.config.use_cache = False
    if kind in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if kind == "qlora":
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=cfg.model.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False})
        elif cfg.model.gradient_checkpointing:
            model.enable_input_require_grads()
        extra = {}
        new_ids = new_token_ids(path)
        if new_ids:  # an extended vocabulary (vocab.py): train the new rows, not the whole tables
            out_emb = model.get_output_embeddings()
            tied = out_emb is None or out_emb.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
            extra["trainable_token_indices"] = ({"embed_tokens": new_ids} if tied else
                                                {"embed_tokens": new_ids, "lm_head": new_ids})
        lcfg = LoraConfig(r=cfg.method.lora_r, lora_alpha=cfg.method.lora_alpha, lora_dropout=cfg.method.lora_dropout,
                          target_modules=cfg.method.target_modules, bias="none", task_type="CAUSAL_LM", **extra)
        model = get_peft_model(model, lcfg)
    return model



def new_token_ids(model_path: str) -> list[int]:
    """Ids added by a vocabulary extension (`llammas_vocab.json` in the base folder), else []."""
    p = Path(model_path) / VOCAB_FILE
    if not p.is_file():
        return []
    return [int(i) for i in json.loads(p.read_text()).get("new_token_ids") or []]
