"""Training configuration: presets, the Alpaca chat template's labels, scheduler and batch mapping,
preflight of a missing model or a tokenizer without EOS, and the memory estimate."""

from __future__ import annotations

import json

import pytest

from llammas_core.errors import ConfigError, InputError
from llammas_core.train.config import ALPACA_CHAT_TEMPLATE, TrainConfig, preset, preset_yaml

from tests.train_fixtures import sft_config


def test_presets_validate_and_dump():
    et = preset("llammas-et")
    assert et.model.base == "meta-llama/Llama-2-7b-hf"
    c = et.optim_for("cpt")
    assert (c.lr, c.final_lr(), c.scheduler, c.weight_decay, c.grad_clip, c.seed) == (2e-5, 2e-6, "linear", 0.1, 1.0, 42)
    assert et.cpt.probabilities == [0.75, 0.25] and et.cpt.block_size == 1024 and et.cpt.max_tokens == 5_000_000_000
    assert et.sft.epochs == 3 and et.sft.max_length == 1024 and et.optim_for("sft").global_batch_size == 128
    x = preset("x-llama-coit")
    xo = x.optim_for("sft")
    assert (x.cpt.enabled, x.sft.max_length, xo.scheduler, xo.warmup_ratio, xo.global_batch_size) == (False, 512, "cosine", 0.03, 128)
    assert "global_batch_size: 256" in preset_yaml("llammas-et")
    assert x.sft.chat_template == ALPACA_CHAT_TEMPLATE
    # key view ignores launch settings: raising the wall-clock limit must not restart a stage
    a = et.phase_view("cpt")
    et2 = et.model_copy(deep=True)
    et2.launch.wall_clock_limit_seconds = 3600
    assert a == et2.phase_view("cpt")
    with pytest.raises(ValueError, match="extra"):
        TrainConfig.model_validate({"cpt": {"enabled": False}, "sft": {"sources": ["x"], "bogus": 1}})
    with pytest.raises(ValueError, match="max_tokens or max_steps"):
        TrainConfig.model_validate({"cpt": {"sources": ["a", "b"]}, "sft": {"enabled": False}})


def test_alpaca_template_assistant_only_labels(kit):
    from transformers import AutoTokenizer

    from llammas_core.train.sft_data import encode_chat, prepare_tokenizer

    tok, _ = prepare_tokenizer(AutoTokenizer.from_pretrained(kit["base"]), ALPACA_CHAT_TEMPLATE)
    msgs = [{"role": "user", "content": "Ütle tere"}, {"role": "assistant", "content": "Tere!"},
            {"role": "user", "content": "Veel?"}, {"role": "assistant", "content": "Jah."}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text.startswith("<s>Below is an instruction") and "### Instruction:\nVeel?\n\n### Response:Jah.</s>" in text
    enc = encode_chat({"messages": msgs}, tok, 512)
    assert tok.decode([i for i, lab in zip(enc["input_ids"], enc["labels"]) if lab != -100]) == "Tere!</s>Jah.</s>"


def test_scheduler_mapping_and_batching():
    from llammas_core.train.arguments import log_every
    from llammas_core.train.config import OptimConfig
    from llammas_core.train.trainer import batching, scheduler_args

    # log cadence: ~200 points on a paper-scale run (19,080 steps), every step of a tiny demo
    assert (log_every(preset("llammas-et"), 19_080), log_every(preset("llammas-et"), 30)) == (95, 1)

    assert scheduler_args(OptimConfig(lr=2e-5, min_lr=2e-6)) == ("polynomial", {"lr_end": 2e-6, "power": 1.0})
    assert scheduler_args(OptimConfig(scheduler="cosine")) == ("cosine", {})
    assert scheduler_args(OptimConfig(scheduler="cosine", min_lr_ratio=0.1))[0] == "cosine_with_min_lr"
    assert batching(OptimConfig(micro_batch_size=8, global_batch_size=256), world=8) == (8, 4)
    with pytest.raises(ConfigError, match="multiple"):
        batching(OptimConfig(micro_batch_size=8, global_batch_size=100), world=8)


def test_preflight_missing_model_and_no_eos(kit, tmp_path):
    from llammas_core.train.trainer import train

    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ConfigError, match="no-such-model"):
        train(sft_config(kit, base=missing), "sft", tmp_path / "o1")
    import shutil

    noeos = tmp_path / "noeos"
    shutil.copytree(kit["base"], noeos)
    tc = json.loads((noeos / "tokenizer_config.json").read_text())
    tc["eos_token"] = None
    (noeos / "tokenizer_config.json").write_text(json.dumps(tc))
    with pytest.raises(ConfigError, match="EOS"):
        train(sft_config(kit, base=str(noeos)), "sft", tmp_path / "o2")
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(InputError):
        train(sft_config(kit, sft={"sources": [str(empty)]}), "sft", tmp_path / "o3")


def test_memory_estimate_rejects_oversized_micro_batch(tmp_path):
    from transformers import LlamaConfig

    from llammas_core.train.trainer import check_memory_fits, estimate_memory_gib, model_shape

    LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                num_attention_heads=32).save_pretrained(tmp_path / "llama7b")
    shape = model_shape(str(tmp_path / "llama7b"), preset("llammas-et"))
    assert 6.6e9 < shape.n_params < 6.8e9 and shape.n_flop_params == shape.n_params - 32000 * 4096
    lora = estimate_memory_gib(shape, "lora", 2, 2, 4 * 1024, 1024, grad_ckpt=True)
    check_memory_fits(lora, 79.0, 4, True)  # 7B LoRA, micro 4 x 1024, checkpointing: fits an H100
    full = estimate_memory_gib(shape, "full", 4, 2, 64 * 1024, 1024, grad_ckpt=False)
    with pytest.raises(ConfigError, match="micro_batch_size"):
        check_memory_fits(full, 79.0, 64, False)
