"""Tiny Llama-shaped base models built offline, for tests and the demo pipeline.

`save_tiny_base` writes a folder that loads with AutoTokenizer / AutoModelForCausalLM
.from_pretrained exactly like a real checkpoint, so the trainer runs the same code path.

Tokenizer: byte-level BPE trained on the fly with `tokenizers` (every string is encodable, decode
is lossless). Special tokens, Llama-like ids: <unk>=0, <s>=1 (BOS), </s>=2 (EOS), plus a dedicated
<pad>=3 (pad != eos). Like Llama, encoding with add_special_tokens=True prepends BOS and adds no
EOS (a TemplateProcessing post-processor); the chat template (DEFAULT_CHAT_TEMPLATE) writes BOS
itself because apply_chat_template tokenizes with add_special_tokens=False. Offsets are not
trimmed, so assistant-label offsets are exact. The wrapper class is PreTrainedTokenizerFast
(transformers 5: TokenizersBackend): LlamaTokenizer would rebuild a SentencePiece-style
pipeline from vocab/merges on reload and break byte-level BPE.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

from llammas_core.errors import ConfigError
from llammas_core.threads import model_lock
from llammas_core.train.sft_data import DEFAULT_CHAT_TEMPLATE

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
_MIN_VOCAB = 256 + len(SPECIAL_TOKENS)

__all__ = ["train_tokenizer", "tiny_llama", "save_tiny_base", "SPECIAL_TOKENS"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000, out_dir: str | None = None):
    """Train a byte-level BPE tokenizer on `texts` and wrap it for transformers.

    vocab_size counts the 256 byte symbols and the 4 special tokens (so it must be >= 260).
    Saved to out_dir (tokenizer.json, tokenizer_config.json, chat_template.jinja) when given.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < _MIN_VOCAB:
        raise ConfigError(f"vocab_size must be >= {_MIN_VOCAB} (256 bytes + {len(SPECIAL_TOKENS)} specials)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((t for t in texts if t), trainer)
    bos_id = tok.token_to_id("<s>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)]),
    ])
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=1 << 20,
    )
    hf.chat_template = DEFAULT_CHAT_TEMPLATE
    if out_dir is not None:
        hf.save_pretrained(out_dir)
    return hf


def tiny_llama(tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
               intermediate: int = 128, max_position: int = 1024, seed: int = 0,
               attn_implementation: str | None = None):
    """A randomly initialised LlamaForCausalLM sized for CPU tests (float32).

    vocab = len(tokenizer); pad/bos/eos ids from the tokenizer. Initialised under `seed` without
    disturbing the global RNG. attn_implementation: "sdpa" (default), "eager", ...
    """
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_position,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    if attn_implementation is not None:
        config._attn_implementation = attn_implementation
    with model_lock(), torch.random.fork_rng(devices=[]):  # the seed owns the generator (llammas_core.threads)
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


_TOKENIZER_KW = {"vocab_size"}


def save_tiny_base(out_dir, texts: Iterable[str], **kw) -> str:
    """Train the tokenizer on `texts`, build tiny_llama, save both (safetensors) into out_dir.

    kw: vocab_size for the tokenizer; the rest goes to tiny_llama. Returns out_dir as a string.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok_kw = {k: v for k, v in kw.items() if k in _TOKENIZER_KW}
    model_kw = {k: v for k, v in kw.items() if k not in _TOKENIZER_KW}
    tokenizer = train_tokenizer(texts, **tok_kw)
    model = tiny_llama(tokenizer, **model_kw)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def run_tiny_base(store, corpus_uris: list[str], work_root, vocab_size: int = 2000, max_docs: int = 5000,
                  **model_kw):
    """A content-addressed 'tiny-base' stage: tokenizer trained on the corpora + random-init tiny Llama,
    saved under model/ like any exported checkpoint, so model.base can point at its manifest."""
    from itertools import chain, islice

    from llammas_core.stage import read_manifest, run_stage
    from llammas_core.train.cpt_data import iter_texts

    manifests = [read_manifest(u, store.endpoint_url) for u in corpus_uris]
    config = {"vocab_size": vocab_size, "max_docs": max_docs, **model_kw}

    def body(ctx) -> dict:
        texts = islice(chain.from_iterable(iter_texts(u) for u in corpus_uris), max_docs)
        save_tiny_base(ctx.out_dir / "model", texts, vocab_size=vocab_size, **model_kw)
        return {"model": "model"}

    return run_stage(store, "tiny-base", config, manifests, body, work_root)
