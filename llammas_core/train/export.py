"""Final output of a training phase: a model folder that loads with from_pretrained and serves.

- full fine-tuning: the trained weights, cast to the save dtype (bf16 on CUDA, fp32 on CPU runs);
- LoRA / QLoRA: `adapter/` (PEFT format) and, with method.merge_for_serving, `model/` = the adapter
  merged into the base *reloaded unquantized in the save dtype* (never into a 4-bit base: merging
  into NF4 weights would round the update away and dequantize badly);
- always: safetensors weights, the tokenizer with its chat template (chat_template.jinja),
  generation_config whose eos ids include the chat template's turn terminator (e.g. <|im_end|>) and the
  tokenizer's EOS, and a README.md model card (data ids, recipe, metrics).
"""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import torch

from llammas_core.errors import ConfigError

MODEL_DIR = "model"
ADAPTER_DIR = "adapter"


def _clear(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, PeftModel)


def save_dtype_for(compute_dtype: torch.dtype) -> torch.dtype:
    """Exports keep the compute precision: bf16 for CUDA runs, fp32 for CPU runs (tests, demo)."""
    return compute_dtype if compute_dtype in (torch.bfloat16, torch.float16) else torch.float32


def set_generation_ids(model, tokenizer) -> list[int]:
    """generation_config for serving: eos = the chat template's turn terminator + the tokenizer's EOS (+ the
    ids the base already listed), pad without growing the vocabulary (stop_tokens.set_generation_stop)."""
    from llammas_core.train.stop_tokens import set_generation_stop

    ids = set_generation_stop(model, tokenizer)
    model.config.use_cache = True
    return ids


def merge_lora(base_path: str, adapter_dir: str | Path, tokenizer, dtype: torch.dtype, trust_remote_code: bool = False,
               revision: str | None = None):
    """Load the base unquantized in `dtype` on CPU, rebuild its grown embeddings, merge the adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from llammas_core.train.modeling import grow_embeddings

    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype, trust_remote_code=trust_remote_code,
                                                revision=revision)
    if getattr(base, "is_quantized", False) or getattr(base.config, "quantization_config", None):
        raise ConfigError(f"refusing to merge a LoRA adapter into the quantized base {base_path!r}")
    grow_embeddings(base, tokenizer)
    peft_model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=False)
    return peft_model.merge_and_unload()


def model_card(cfg, phase: str, metrics: dict, lineage: dict, base_path: str, files: dict) -> str:
    import yaml

    lang = [cfg.language] + (["en"] if cfg.language != "en" else [])
    front = {
        "language": lang,
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "base_model": lineage.get("base_model") or cfg.model.base,
        "tags": ["llammas", "continued-pretraining" if phase == "cpt" else "instruction-tuning", cfg.method.kind],
    }
    show = ["steps", "tokens", "tokens_per_s", "tokens_per_s_per_device", "mfu", "first_loss", "final_loss",
            "final_loss_avg10", "peak_memory_gib", "device", "world_size", "global_batch", "train_seconds"]
    rows = "\n".join(f"| {k} | {metrics.get(k)} |" for k in show if k in metrics)
    recipe = yaml.safe_dump(cfg.phase_view(phase), sort_keys=False, width=100)
    data = metrics.get("data") or []
    data_lines = "\n".join(f"- `{d}`" for d in data) or "- (none recorded)"
    lineage_lines = "\n".join(f"- {k}: `{v}`" for k, v in lineage.items())
    what = ("continued pretraining (next-token loss on packed blocks of the mixed corpus)" if phase == "cpt"
            else "instruction tuning (loss on assistant tokens only, chat template saved with the tokenizer)")
    usage = (
        "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "tok = AutoTokenizer.from_pretrained(PATH)\nmodel = AutoModelForCausalLM.from_pretrained(PATH)\n"
        + ("msgs = [{\"role\": \"user\", \"content\": \"Tere! Kuidas läheb?\"}]\n"
           "ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors=\"pt\")\n"
           if phase == "sft" else "ids = tok(\"Eesti keel on\", return_tensors=\"pt\").input_ids\n")
        + "print(tok.decode(model.generate(ids, max_new_tokens=64)[0]))\n```")
    return (
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n"
        f"# {cfg.name} ({phase})\n\n"
        f"{cfg.method.kind} {what}, produced by the llammas pipeline (Llammas recipe, Kuulmets et al. 2024; "
        f"x-LLaMA, Zhu et al. 2023).\n\nStarted from `{lineage.get('init_model', base_path)}`.\n\n"
        f"## Data\n\n{data_lines}\n\n"
        f"## Recipe\n\n```yaml\n{recipe}```\n\n"
        f"## Metrics\n\n| metric | value |\n|---|---|\n{rows}\n\n"
        f"FLOPs convention: {metrics.get('flops_per_token_convention', 'n/a')}\n\n"
        f"## Lineage\n\n{lineage_lines}\n\n"
        f"## Files\n\n" + "\n".join(f"- `{k}`: {v}" for k, v in files.items()) + "\n\n"
        f"## Usage\n\n{usage}\n"
    )


def export_model(model, tokenizer, output: str | Path, *, cfg, phase: str, base_path: str, metrics: dict,
                 lineage: dict | None = None, compute_dtype: torch.dtype = torch.float32) -> dict:
    """Write OUTPUT/model (and OUTPUT/adapter for LoRA). Returns {"model": rel path or None, "adapter": ...}."""
    output = Path(output)
    lineage = dict(lineage or {})
    dtype = save_dtype_for(compute_dtype)
    files: dict[str, str] = {}
    result: dict[str, str | None] = {"model": None, "adapter": None}
    if _is_peft(model):
        adapter_dir = _clear(output / ADAPTER_DIR)
        model.save_pretrained(adapter_dir)
        tokenizer.save_pretrained(adapter_dir)
        result["adapter"] = ADAPTER_DIR
        files[ADAPTER_DIR + "/"] = f"PEFT LoRA adapter (r={cfg.method.lora_r}, alpha={cfg.method.lora_alpha})"
        if not cfg.method.merge_for_serving:
            (adapter_dir / "README.md").write_text(model_card(cfg, phase, metrics, lineage, base_path, files))
            return result
        del model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        model = merge_lora(base_path, adapter_dir, tokenizer, dtype, cfg.model.trust_remote_code, cfg.model.revision)
        files[MODEL_DIR + "/"] = f"adapter merged into the unquantized base ({str(dtype).replace('torch.', '')})"
    else:
        if hasattr(model, "module"):  # a DDP wrapper slipped through
            model = model.module
        model = model.to(dtype)
        files[MODEL_DIR + "/"] = f"full weights ({str(dtype).replace('torch.', '')})"
    model_dir = _clear(output / MODEL_DIR)
    if getattr(model.config, "_attn_implementation", None) not in (None, "sdpa", "eager", "flash_attention_2",
                                                                   "flash_attention_3"):
        model.set_attn_implementation("sdpa")  # the training-only packed kernel is not registered elsewhere
    set_generation_ids(model, tokenizer)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (model_dir / "training_metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    (model_dir / "README.md").write_text(model_card(cfg, phase, metrics, lineage, base_path, files))
    result["model"] = MODEL_DIR
    return result


def export_from_folder(folder: str | Path, output: str | Path, **kw) -> dict:
    """Export a model saved by Trainer.save_model (FSDP/DeepSpeed gather it there), reloading it in the save dtype."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = save_dtype_for(kw.get("compute_dtype", torch.float32))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return export_model(model, tokenizer, output, **kw)
