"""Stop tokens come from the chat template: ChatML's <|im_end|>, the Llammas template's EOS, multi-id EOS
lists kept; an exported ChatML model stops generating at <|im_end|>."""

from __future__ import annotations

import pytest
import torch

from llammas_core.train.sft_data import DEFAULT_CHAT_TEMPLATE
from llammas_core.train.stop_tokens import set_generation_stop, stop_token_ids, template_terminator

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
TEXTS = [f"Tere! Kuidas läheb, sõber number {i}? Hästi, aitäh küsimast. Ilus ilm täna." for i in range(200)]


@pytest.fixture(scope="module")
def chatml_tok():
    from llammas_core.train.tiny import train_tokenizer

    tok = train_tokenizer(TEXTS, vocab_size=400)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHATML
    return tok


@pytest.fixture(scope="module")
def llammas_tok():
    from llammas_core.train.tiny import train_tokenizer

    return train_tokenizer(TEXTS, vocab_size=400)  # DEFAULT_CHAT_TEMPLATE: assistant turns end with </s>


def test_chatml_terminator_and_eos(chatml_tok):
    im_end = chatml_tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end != chatml_tok.eos_token_id
    assert template_terminator(chatml_tok) == im_end
    assert stop_token_ids(chatml_tok) == [im_end, chatml_tok.eos_token_id]


def test_llammas_template_stops_at_eos(llammas_tok):
    assert llammas_tok.chat_template == DEFAULT_CHAT_TEMPLATE
    assert stop_token_ids(llammas_tok) == [llammas_tok.eos_token_id]
    # an explicit template overrides the tokenizer's: a template whose turns end in plain text has no terminator
    plain = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"
    assert template_terminator(llammas_tok, plain) is None
    assert stop_token_ids(llammas_tok, plain) == [llammas_tok.eos_token_id]


def test_set_generation_stop_keeps_multi_id_list_and_vocab(chatml_tok):
    from llammas_core.train.tiny import tiny_llama

    model = tiny_llama(chatml_tok, hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate=64)
    n_vocab = model.get_input_embeddings().weight.shape[0]
    model.generation_config.eos_token_id = [chatml_tok.eos_token_id, 5]  # a base that lists two ids
    ids = set_generation_stop(model, chatml_tok)
    im_end = chatml_tok.convert_tokens_to_ids("<|im_end|>")
    assert ids == [im_end, chatml_tok.eos_token_id, 5]
    assert model.generation_config.eos_token_id == ids and model.config.eos_token_id == ids
    assert model.generation_config.pad_token_id == chatml_tok.pad_token_id
    assert model.get_input_embeddings().weight.shape[0] == n_vocab == len(chatml_tok)


def _train_to_answer(model, tok, max_steps=300):
    """Teach the tiny model one ChatML exchange, so it ends its answer with <|im_end|> (then goes on)."""
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Tere!"}, {"role": "assistant", "content": "Hästi"}], tokenize=False)
    ids = torch.tensor([tok(text, add_special_tokens=False).input_ids])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(max_steps):
        loss = model(input_ids=ids, labels=ids).loss
        if loss.item() < 0.02:
            break
        loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval()


def test_exported_chatml_model_stops_at_im_end(chatml_tok, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llammas_core.train.config import TrainConfig
    from llammas_core.train.export import export_model
    from llammas_core.train.tiny import tiny_llama

    torch.manual_seed(0)
    model = _train_to_answer(tiny_llama(chatml_tok, hidden_size=64, layers=2, heads=4, kv_heads=2), chatml_tok)
    cfg = TrainConfig.model_validate({"model": {"base": "x"}, "cpt": {"enabled": False}, "sft": {"sources": ["x"]}})
    export_model(model, chatml_tok, tmp_path, cfg=cfg, phase="sft", base_path="x", metrics={})
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "model").eval()
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end in loaded.generation_config.eos_token_id

    prompt = tok.apply_chat_template([{"role": "user", "content": "Tere!"}], add_generation_prompt=True,
                                     return_tensors="pt", return_dict=True)["input_ids"]
    out = loaded.generate(prompt, max_new_tokens=20, do_sample=False)[0, prompt.shape[1]:].tolist()
    assert out[-1] == im_end and len(out) < 20, tok.decode(out)
    assert tok.decode(out[:-1]).strip() == "Hästi"
    # the old export (eos = tokenizer.eos_token_id only) does not stop at the end of the turn
    runaway = loaded.generate(prompt, max_new_tokens=20, do_sample=False, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id)[0, prompt.shape[1]:].tolist()
    assert im_end in runaway and runaway[-1] != im_end and len(runaway) > len(out)
