"""The recipes' training strings, byte for byte: x-LLaMA = Stanford Alpaca's prompts (prompt_input /
prompt_no_input, loss on the response), through the whole SFT data path (mixture -> Parquet -> reader)."""

from __future__ import annotations

import pytest

from llammas_core.errors import ConfigError
from llammas_core.instructions.config import MixtureConfig, TemplatesConfig
from llammas_core.instructions.mixture import build_mixture
from llammas_core.instructions.stage import write_shards
from llammas_core.instructions.templates import translation_record
from llammas_core.train.config import ALPACA_CHAT_TEMPLATE, TrainConfig
from llammas_core.train.sft_data import DEFAULT_CHAT_TEMPLATE, encode_chat, load_chat_records, prepare_tokenizer

# tatsu-lab/stanford_alpaca train.py PROMPT_DICT (the same in NJUNLP/x-LLM train.py), copied as the reference
PROMPT_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                "Write a response that appropriately completes the request.\n\n"
                "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:")
PROMPT_NO_INPUT = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.\n\n"
                   "### Instruction:\n{instruction}\n\n### Response:")


@pytest.fixture(scope="module")
def llama_tok(tmp_path_factory):
    from transformers import AutoTokenizer

    from llammas_core.train.tiny import save_tiny_base

    texts = ["Translate the following sentences from English to Estonian. Tere hommikust! Good morning."] * 20
    base = save_tiny_base(tmp_path_factory.mktemp("tok") / "base", texts, vocab_size=300, hidden_size=32, layers=1)
    return AutoTokenizer.from_pretrained(base)


def _mixture_rows(tmp_path):
    """x-LLaMA's CoIT mixture as the instructions stage writes it, read back as the SFT stage does."""
    pair = translation_record("Good morning.", "Tere hommikust!", 0, "en", "et", "wikimatrix", TemplatesConfig(style="xllama"))
    alpaca = {"id": "alpaca:1", "source": "alpaca", "language": "en", "kind": "alpaca",
              "instruction": "Name a colour.", "input": "", "output": "Blue."}
    cfg = MixtureConfig.model_validate({"seed": 1, "prompts": {"style": "alpaca"}, "components": [
        {"name": "translation", "pool": "bitext"}, {"name": "alpaca_en", "pool": "alpaca"}]})
    rows, _ = build_mixture({"bitext": [pair], "alpaca": [alpaca]}, cfg)
    write_shards(rows, tmp_path, 100)
    return {r["component"]: r for r in load_chat_records(str(tmp_path / "part-00000.parquet"))}


def test_xllama_training_string_is_stanford_alpaca(llama_tok, tmp_path):
    """A translation task: x-LLM's first instruction, the source in `### Input:`, the target as the
    response; an Alpaca record without input: prompt_no_input. Only the response + EOS carry loss."""
    cfg = TrainConfig.model_validate({"cpt": {"enabled": False}, "sft": {"sources": ["x"], "chat_template": "alpaca"}})
    assert cfg.sft.chat_template == ALPACA_CHAT_TEMPLATE
    tok, _ = prepare_tokenizer(llama_tok, cfg.sft.chat_template)
    rows = _mixture_rows(tmp_path)
    cases = [(rows["translation"], PROMPT_INPUT.format_map({"instruction": "Translate the following sentences from "
                                                              "English to Estonian.", "input": "Good morning."}),
              "Tere hommikust!"),
             (rows["alpaca_en"], PROMPT_NO_INPUT.format_map({"instruction": "Name a colour."}), "Blue.")]
    for row, prompt, output in cases:
        enc = encode_chat(row, tok, 512)
        text = tok.decode(enc["input_ids"])
        assert text == tok.bos_token + prompt + output + tok.eos_token  # Alpaca: source + f"{output}{eos}"
        assert enc["input_ids"] == tok(prompt + output + tok.eos_token)["input_ids"]  # = Alpaca's tokenization, BOS first
        assert tok.decode([i for i, lab in zip(enc["input_ids"], enc["labels"]) if lab != -100]) == output + tok.eos_token


def test_input_never_silently_dropped(llama_tok, tmp_path):
    """The default (Llammas) template writes a separate input after the instruction; a template that
    ignores it is refused rather than training on the instruction alone."""
    row = _mixture_rows(tmp_path)["translation"]
    tok, _ = prepare_tokenizer(llama_tok, DEFAULT_CHAT_TEMPLATE)
    text = tok.decode(encode_chat(row, tok, 512)["input_ids"])
    assert "<|user|>\nTranslate the following sentences from English to Estonian.\n\nGood morning.\n<|assistant|>" in text
    bare = "{% for m in messages %}{{ m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}"
    tok2, _ = prepare_tokenizer(llama_tok, bare)
    with pytest.raises(ConfigError, match="drops a user turn's `input`"):
        encode_chat(row, tok2, 512)
