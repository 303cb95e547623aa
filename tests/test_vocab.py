"""Vocabulary extension: fertility on held-out Estonian drops; the extended model loads and trains with
full fine-tuning and with LoRA (peft trainable_token_indices / modules_to_save on the new rows)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from llammas_core.train.vocab import VOCAB_META, extend_vocabulary, fertility, lora_vocab_kwargs, read_vocab_extension

REPO = Path(__file__).resolve().parents[1]
UD = REPO.parent / "shared" / "data" / "ud_estonian"
K = 300


def _texts():
    """(english, estonian train, estonian held-out, description): UD Estonian (EWT train / EDT test) from the
    data kit when present, else the demo corpus."""
    sys.path.insert(0, str(REPO / "demo"))
    import demo_texts

    english = [d[-1] for d in demo_texts.EN_DOCS]
    if (UD / "et_ewt-ud-train.txt").is_file():
        train = (UD / "et_ewt-ud-train.txt").read_text().splitlines()[:3000]
        held = (UD / "et_edt-ud-test.txt").read_text().splitlines()[:600]
        return english, train, held, "UD Estonian EWT train / EDT test"
    docs = [d[-1] for d in demo_texts.ET_DOCS]
    return english, docs[:60], docs[60:], "demo ET_DOCS 60 / 20"


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    from llammas_core.train.tiny import save_tiny_base

    english, train, held, desc = _texts()
    root = tmp_path_factory.mktemp("vocab")
    # a base tokenizer that saw mostly English: Estonian words come out in many pieces
    base = save_tiny_base(root / "base", english * 3 + train[:40], vocab_size=600, hidden_size=32, layers=1,
                          heads=2, kv_heads=1, intermediate=64)
    meta = extend_vocabulary(base, train, K, root / "ext", heldout_texts=held, min_frequency=2)
    print(f"\nfertility on held-out Estonian ({desc}), K={meta['k']}: {meta['fertility_before']} -> "
          f"{meta['fertility_after']} tokens/word")
    return {"base": base, "ext": root / "ext", "meta": meta, "train": train, "held": held}


def test_fertility_drops_on_heldout_estonian(extended):
    from transformers import AutoTokenizer

    meta, held = extended["meta"], extended["held"]
    assert read_vocab_extension(extended["ext"]) == meta == json.loads((extended["ext"] / VOCAB_META).read_text())
    assert read_vocab_extension(extended["base"]) is None
    old = AutoTokenizer.from_pretrained(extended["base"])
    new = AutoTokenizer.from_pretrained(extended["ext"])
    assert 0 < meta["k"] <= K and len(meta["new_token_ids"]) == meta["k"] == len(new) - len(old)
    assert meta["fertility_after"] < 0.95 * meta["fertility_before"]
    assert fertility(new, held) == pytest.approx(meta["fertility_after"], abs=1e-4)
    used = {i for t in held for i in new(t, add_special_tokens=False).input_ids} & set(meta["new_token_ids"])
    assert used, "no new token is used on held-out text"
    for t in held[:50]:  # still lossless
        assert new.decode(new(t, add_special_tokens=False).input_ids) == t


def test_new_rows_are_means_of_old_pieces(extended):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    old_tok = AutoTokenizer.from_pretrained(extended["base"])
    new_tok = AutoTokenizer.from_pretrained(extended["ext"])
    old = AutoModelForCausalLM.from_pretrained(extended["base"])
    new = AutoModelForCausalLM.from_pretrained(extended["ext"])
    rows = new.get_input_embeddings().weight.shape[0]
    assert rows % 64 == 0 and rows > max(extended["meta"]["new_token_ids"])
    assert new.get_output_embeddings().weight.shape[0] == rows
    tid = extended["meta"]["new_token_ids"][-1]
    pieces = old_tok.backend_tokenizer.model.tokenize(new_tok.convert_ids_to_tokens(tid))
    assert len(pieces) > 1
    ids = [p.id for p in pieces]
    for o, n in ((old.get_input_embeddings(), new.get_input_embeddings()),
                 (old.get_output_embeddings(), new.get_output_embeddings())):
        assert torch.allclose(n.weight[tid], o.weight[ids].mean(0), atol=1e-6)
        assert torch.equal(n.weight[: o.weight.shape[0]], o.weight)  # old rows untouched


def _batches(tok, texts, n=4):
    ids = [tok(t, add_special_tokens=True, return_tensors="pt").input_ids[:, :48] for t in texts[:n]]
    return [{"input_ids": i, "labels": i} for i in ids]


def _train(model, batches, steps=6, lr=5e-3):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    losses = []
    for s in range(steps):
        loss = model(**batches[s % len(batches)]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def _new_token_texts(extended, tok):
    new = set(extended["meta"]["new_token_ids"])
    return [t for t in extended["train"] if new & set(tok(t, add_special_tokens=False).input_ids)]


def test_extended_model_trains_full_ft(extended):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(extended["ext"])
    model = AutoModelForCausalLM.from_pretrained(extended["ext"]).train()
    batches = _batches(tok, _new_token_texts(extended, tok))
    before = model.get_input_embeddings().weight.detach().clone()
    losses = _train(model, batches, steps=8)
    assert all(map(torch.isfinite, map(torch.tensor, losses)))
    ids = torch.tensor(extended["meta"]["new_token_ids"])
    used = torch.unique(torch.cat([b["input_ids"].view(-1) for b in batches]))
    used_new = ids[torch.isin(ids, used)]
    assert len(used_new) and not torch.equal(before[used_new], model.get_input_embeddings().weight[used_new])
    with torch.no_grad():
        assert model(**batches[0]).loss.item() < losses[0]


@pytest.mark.parametrize("mode", ["trainable_token_indices", "modules_to_save"])
def test_extended_model_trains_with_lora(extended, mode, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(extended["ext"])
    model = AutoModelForCausalLM.from_pretrained(extended["ext"])
    ids = extended["meta"]["new_token_ids"]
    extra = lora_vocab_kwargs(model, ids, mode)
    if mode == "trainable_token_indices":
        assert extra == {"trainable_token_indices": {"embed_tokens": ids, "lm_head": ids}}
    else:
        assert extra == {"modules_to_save": ["embed_tokens", "lm_head"]}
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM", **extra)
    peft_model = get_peft_model(model, cfg).train()
    batches = _batches(tok, _new_token_texts(extended, tok))
    losses = _train(peft_model, batches, steps=8)
    with torch.no_grad():
        assert peft_model(**batches[0]).loss.item() < losses[0]
    peft_model.save_pretrained(tmp_path / "adapter")
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(extended["ext"]),
                                       tmp_path / "adapter").merge_and_unload()
    base = AutoModelForCausalLM.from_pretrained(extended["ext"])
    new_ids = torch.tensor(ids)
    used = torch.unique(torch.cat([b["input_ids"].view(-1) for b in batches]))
    used_new = new_ids[torch.isin(new_ids, used)]
    w_new, w_base = merged.get_input_embeddings().weight, base.get_input_embeddings().weight
    assert not torch.allclose(w_new[used_new], w_base[used_new])  # the new rows were trained and saved
    assert not torch.allclose(merged.lm_head.weight[used_new], base.lm_head.weight[used_new])
    if mode == "trainable_token_indices":  # only the new rows
        old = torch.ones(w_base.shape[0], dtype=torch.bool)
        old[new_ids] = False
        assert torch.equal(w_new[old], w_base[old])
