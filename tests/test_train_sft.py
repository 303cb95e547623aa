"""Instruction tuning on a tiny CPU Llama: padding-free loss equals padded, gradient accumulation equals a
large batch (token-mean loss), resume mid-epoch with a token budget, LoRA (merged = adapter, new token
rows trained), and the cpt -> sft stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.train_fixtures import cpt_config, _losses, sft_config


def test_padding_free_loss_equals_padded_loss(kit):
    """Packing sequences into one row (position_ids reset) must not change the loss."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llammas_core.train.batching import PaddedCollator, PaddingFreeCollator
    from llammas_core.train.sft_data import SFTDataset, load_chat_records, prepare_tokenizer
    from llammas_core.train.trainer import register_packed_attention

    tok, _ = prepare_tokenizer(AutoTokenizer.from_pretrained(kit["base"]))
    ds = SFTDataset(load_chat_records(kit["sft"]), tok, 96)
    model = AutoModelForCausalLM.from_pretrained(kit["base"]).eval()
    examples = [ds[i] for i in range(6)]
    pf, pad = PaddingFreeCollator()(examples), PaddedCollator(tok.pad_token_id)(examples)
    n = int((pf["labels"][..., 1:] != -100).sum())
    assert n == int((pad["labels"][..., 1:] != -100).sum())
    with torch.no_grad():
        l_pf = model(**pf, num_items_in_batch=n).loss
        l_pad = model(**pad, num_items_in_batch=n).loss
        model.set_attn_implementation(register_packed_attention())  # per-sequence sdpa (trainer default for SFT)
        l_packed = model(**pf, num_items_in_batch=n).loss
        l_pad2 = model(**pad, num_items_in_batch=n).loss  # padded batches fall back to masked sdpa
    assert torch.allclose(l_pf, l_pad, atol=1e-5), (l_pf, l_pad)
    assert torch.allclose(l_packed, l_pad, atol=1e-5) and torch.allclose(l_pad2, l_pad, atol=1e-6), (l_packed, l_pad2)


def test_grad_accumulation_matches_large_batch(kit, tmp_path):
    """micro 8 x accum 1 and micro 1 x accum 8 give the same parameters after one (SGD) step."""
    from safetensors.torch import load_file

    from llammas_core.train.trainer import train

    results = {}
    for micro, accum in ((8, 1), (1, 8)):
        cfg = sft_config(kit, sft={"max_steps": 1, "packing": "padding_free"},
                         optim={"micro_batch_size": micro, "grad_accum": accum, "optimizer": "sgd", "lr": 0.5,
                                "weight_decay": 0.0, "grad_clip": 0.0, "scheduler": "constant"})
        out = tmp_path / f"m{micro}a{accum}"
        train(cfg, "sft", out)
        results[(micro, accum)] = load_file(out / "model" / "model.safetensors")
    base = load_file(Path(kit["base"]) / "model.safetensors")
    a, b = results[(8, 1)], results[(1, 8)]
    delta = max((a[k] - base[k]).abs().max().item() for k in a)
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    # what a naive "mean of per-micro-batch mean losses" accumulation would change (sensitivity of the test)
    naive = _naive_vs_token_mean_update(kit, lr=0.5)
    print(f"max |update| {delta:.3e}, max |8x1 - 1x8| {diff:.3e}, naive-normalisation error would be {naive:.3e}")
    assert delta > 1e-3  # the step did something
    assert diff < 1e-5
    assert naive > 100 * diff


def _naive_vs_token_mean_update(kit, lr: float) -> float:
    """max |lr * (grad of mean-of-sequence-means - grad of token mean)| over 8 SFT examples."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llammas_core.train.batching import PaddingFreeCollator
    from llammas_core.train.sft_data import SFTDataset, load_chat_records, prepare_tokenizer

    tok, _ = prepare_tokenizer(AutoTokenizer.from_pretrained(kit["base"]))
    ds = SFTDataset(load_chat_records(kit["sft"]), tok, 96)
    model = AutoModelForCausalLM.from_pretrained(kit["base"])
    model.config.use_cache = False
    batches = [PaddingFreeCollator()([ds[i]]) for i in range(8)]
    n_total = sum(int((b["labels"][..., 1:] != -100).sum()) for b in batches)

    def grads(weights):
        model.zero_grad()
        for b, w in zip(batches, weights):
            n = int((b["labels"][..., 1:] != -100).sum())
            (model(**b, num_items_in_batch=n).loss * w(n)).backward()
        return [p.grad.clone() for p in model.parameters()]

    g_tok = grads([lambda n: n / n_total] * 8)
    g_naive = grads([lambda n: 1 / 8] * 8)
    return max((lr * (x - y)).abs().max().item() for x, y in zip(g_tok, g_naive))


class _Crash(Exception):
    pass


def test_sft_resume_mid_second_epoch_with_token_budget(kit, tmp_path):
    """Token-budget padding-free SFT, 2 epochs: a crash after checkpoint-8 (in epoch 2) and a resume give
    the same losses as the uninterrupted run (HF batch skipping + per-epoch reshuffle + RNG restored)."""
    from transformers import TrainerCallback

    from llammas_core.train.trainer import train

    class CrashAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 10:
                raise _Crash()

    cfg = sft_config(kit, sft={"epochs": 2, "tokens_per_micro_batch": 256},
                     optim={"lr": 5e-3, "grad_accum": 2, "scheduler": "cosine", "warmup_ratio": 0.1},
                     checkpoint={"every_steps": 4, "keep_last": 3})
    ref = train(cfg, "sft", tmp_path / "ref")
    n_steps = ref["steps"]
    assert n_steps > 10
    with pytest.raises(_Crash):
        train(cfg, "sft", tmp_path / "run", extra_callbacks=[CrashAt()])
    m = train(cfg, "sft", tmp_path / "run")
    assert m["resumed_from_step"] == 8 and m["steps"] == n_steps
    state = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-8" / "llammas_state.json").read_text())
    assert state["sft_data"]["epoch"] == 1  # the checkpoint sits inside the second epoch
    a, b = _losses(tmp_path / "ref" / "metrics.jsonl"), _losses(tmp_path / "run" / "metrics.jsonl")
    assert sorted(a) == sorted(b) == list(range(1, n_steps + 1))
    worst = max(abs(a[s] - b[s]) / a[s] for s in a)
    print(f"SFT resume at step 8 of {n_steps}: max relative loss deviation {worst:.2e}")
    assert worst < 1e-4


def _vocab_without_pad(src: str, dst: Path) -> str:
    """A copy of the tiny base whose tokenizer has no pad token (like Llama-2, which has <unk>)."""
    import shutil

    shutil.copytree(src, dst)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        p = dst / name
        p.write_text(p.read_text().replace('"<pad>"', '"<unused0>"'))
    cfg = json.loads((dst / "tokenizer_config.json").read_text())
    cfg.pop("pad_token", None)
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg))
    return str(dst)


def test_lora_merged_logits_equal_adapter_logits(kit, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llammas_core.train.trainer import grow_embeddings, train

    base = _vocab_without_pad(kit["base"], tmp_path / "base-nopad")
    assert AutoTokenizer.from_pretrained(base).pad_token is None
    cfg = sft_config(kit, base=base, method={"kind": "lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
                     sft={"max_steps": 3, "packing": "padded"}, optim={"lr": 2e-2})
    out = tmp_path / "out"
    m = train(cfg, "sft", out)
    assert m["exported"] == {"model": "model", "adapter": "adapter"}
    assert "4N" in m["flops_per_token_convention"]
    tok = AutoTokenizer.from_pretrained(out / "model")
    assert tok.pad_token == "<unk>" and tok.pad_token_id != tok.eos_token_id  # an existing token: no new row
    assert tok.chat_template and "<|assistant|>" in tok.chat_template  # reload keeps the chat template
    merged = AutoModelForCausalLM.from_pretrained(out / "model").eval()
    assert merged.get_input_embeddings().weight.shape[0] == len(tok) == 400  # padded SFT did not grow the vocabulary
    plain = AutoModelForCausalLM.from_pretrained(base)
    grow_embeddings(plain, tok)
    adapted = PeftModel.from_pretrained(plain, out / "adapter").eval()
    enc = tok.apply_chat_template([{"role": "user", "content": "Ütle midagi numbri 3 kohta"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        l_merged = merged(**enc).logits
        l_adapter = adapted(**enc).logits
        with adapted.disable_adapter():
            l_base = adapted(**enc).logits
    print(f"adapter effect {(l_adapter - l_base).abs().max():.3e}, merge error {(l_merged - l_adapter).abs().max():.3e}")
    assert (l_adapter - l_base).abs().max() > 1e-3
    assert torch.allclose(l_merged, l_adapter, atol=1e-5)
    gen = merged.generate(**enc, max_new_tokens=5, do_sample=False)
    assert gen.shape[1] > enc["input_ids"].shape[1]


def test_run_train_stages_cpt_then_sft(kit, tmp_path):
    from llammas_core.store import LocalStore
    from llammas_core.train.stage import model_inputs, resolve_base, run_train

    cfg = cpt_config(kit)
    cfg.cpt.max_steps = 4
    cfg.sft = sft_config(kit).sft.model_copy(update={"max_steps": 2, "validation_examples": 8, "eval_every_steps": 1})
    cfg.checkpoint.every_steps = 2
    store = LocalStore(tmp_path / "store")
    lines = []
    res = run_train(store, cfg, tmp_path / "work", log=lines.append)
    man = res.manifest
    assert man["stage"] == "sft" and man["phase"] == "sft" and not res.skipped
    cpt_id = [i["id"] for i in man["inputs"] if i["id"].startswith("cpt/")]
    assert len(cpt_id) == 1 and man["init_model"] == cpt_id[0]
    cpt_man = json.loads((tmp_path / "store" / cpt_id[0] / "manifest.json").read_text())
    assert [i["id"] for i in cpt_man["inputs"] if i["id"].startswith("tokenize/")] == cpt_man["data"]  # tokenize -> cpt
    assert man["metrics"]["steps"] == 2 and man["metrics"]["tokens"] > 0 and man["model"] == "model"
    assert man["metrics"]["final_eval_loss"] > 0  # SFT validation loss on the 8 held-out conversations
    assert store.exists(f"{man['id']}/model/model.safetensors")
    assert store.exists(f"{man['id']}/model/chat_template.jinja")
    assert any(k.endswith("COMPLETE") for k, _ in store.list(f"checkpoints/sft/{man['key']}"))
    again = run_train(store, cfg, tmp_path / "work", log=lines.append)
    assert again.skipped and again.manifest_uri == res.manifest_uri
    # a committed stage can serve as model.base of another run (its model/ folder; id enters the key)
    path, ident = resolve_base(res.manifest_uri, None, tmp_path / "w2")
    assert ident == man["id"] and (Path(path) / "config.json").is_file()
    assert model_inputs(res.manifest_uri, None)[0][0]["id"] == man["id"]


def test_lora_trains_the_new_token_rows_of_an_extended_vocabulary(kit, tmp_path):
    """A base folder with llammas_vocab.json (vocab.py's marker): LoRA trains those embedding rows
    (peft trainable_token_indices) and leaves the others as they were."""
    import shutil

    from safetensors.torch import load_file

    from llammas_core.train.trainer import train

    base = tmp_path / "base-ext"
    shutil.copytree(kit["base"], base)
    new_ids = [300, 301, 302]
    (base / "llammas_vocab.json").write_text(json.dumps({"new_token_ids": new_ids}))
    cfg = sft_config(kit, base=str(base), method={"kind": "lora", "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0},
                     sft={"max_steps": 2}, optim={"lr": 5e-2})
    data = tmp_path / "new-tokens.jsonl"
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    words = tok.decode(new_ids)
    data.write_text("\n".join(json.dumps({"instruction": f"Ütle {i}", "output": words * 3}) for i in range(16)))
    cfg.sft.sources = [str(data)]
    train(cfg, "sft", tmp_path / "out")
    before = load_file(base / "model.safetensors")["model.embed_tokens.weight"]
    after = load_file(tmp_path / "out" / "model" / "model.safetensors")["model.embed_tokens.weight"]
    changed = (after - before).abs().amax(dim=1) > 0
    assert changed[new_ids].all() and int(changed.sum()) == len(new_ids)
