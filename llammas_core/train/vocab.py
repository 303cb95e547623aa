"""Vocabulary extension for the target language (optional, off by default: model.extend_vocab).

A base tokenizer trained mostly on English cuts Estonian words into many pieces (high fertility =
tokens per word): the context holds less text and training/generation cost more per word. This module

1. trains a target-language BPE tokenizer (`tokenizers`) with the base tokenizer's normalizer and
   pre-tokenizer on corpus texts;
2. scores each of its tokens that the base vocabulary lacks by frequency x (base pieces - 1), i.e. the
   tokens it saves on that corpus, and keeps the K best (with the merge parents they need);
3. appends them to the base BPE model as vocabulary entries plus merges (lowest priority, in the target
   tokenizer's merge order), so the extended tokenizer is still one BPE pipeline: base merges first,
   then the new ones (the Chinese-LLaMA way of merging vocabularies, not `add_tokens`, whose added tokens
   match anywhere in the raw text, ignoring word boundaries);
4. grows the embedding and LM head (to a multiple of `pad_to_multiple_of`), each new row = the mean of
   the rows of the token's pieces under the old tokenizer; padding rows = the mean of all old rows;
5. saves a new base-model folder with `llammas_vocab.json` = {"new_token_ids", "k", "fertility_before",
   "fertility_after", ...}; the trainer's LoRA setup reads it (`lora_vocab_kwargs`) to train the new rows
   through peft's `trainable_token_indices` (or `modules_to_save`).

Only BPE tokenizers (tokenizer.json model type BPE: Llama 2/3, Mistral, Qwen2, GPT-2 style byte-level,
the tiny test models) are supported; others get a ConfigError.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Literal, Sequence

import torch

from llammas_core.errors import ConfigError, InputError

VOCAB_META = "llammas_vocab.json"
_WORD = re.compile(r"\S+")

__all__ = ["VOCAB_META", "fertility", "extend_vocabulary", "extend_vocabulary_from_config", "read_vocab_extension",
           "lora_vocab_kwargs"]


# ----------------------------------------------------------------------------- measuring


def fertility(tokenizer, texts: Iterable[str]) -> float:
    """Tokens per whitespace-separated word over `texts` (no special tokens)."""
    words = tokens = 0
    for t in texts:
        if not t:
            continue
        words += len(_WORD.findall(t))
        tokens += len(tokenizer(t, add_special_tokens=False)["input_ids"])
    if words == 0:
        raise InputError("fertility needs texts with at least one word")
    return tokens / words


# ----------------------------------------------------------------------------- tokenizer surgery


def _merge_pair(m) -> tuple[str, str]:
    if isinstance(m, str):
        a, b = m.split(" ", 1)
        return a, b
    return m[0], m[1]


def _train_target(base_json: dict, texts: Sequence[str], vocab_size: int, min_frequency: int):
    """A BPE tokenizer with the base's normalizer and pre-tokenizer, trained on `texts`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    base = _backend_from_json(base_json)
    target = Tokenizer(models.BPE())
    if base.normalizer is not None:
        target.normalizer = base.normalizer
    pre = base.pre_tokenizer
    byte_level = "ByteLevel" in json.dumps(base_json.get("pre_tokenizer"))
    if pre is None:  # SentencePiece-style (Llama 2): spaces became "▁" in the normalizer; split before each "▁"
        pre = pre_tokenizers.Split("▁", behavior="merged_with_next")
    target.pre_tokenizer = pre
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False, special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if byte_level else [])
    target.train_from_iterator((t for t in texts if t), trainer)
    return target


def _backend_from_json(data: dict):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(json.dumps(data))


def _select(base_json: dict, base_backend, target, texts: Sequence[str], k: int, rounds: int = 4,
            sample: int = 20000) -> list[tuple[str, tuple | None]]:
    """The new entries, in the order to append: (token, (left, right) merge or None for a single symbol).

    Candidates (target tokens the base vocabulary lacks) are ranked by frequency x (base pieces - 1). The
    appended merges have the lowest priority, so base merges can pre-empt a candidate ("Pa" never forms if
    the base merges "al" in "Palju" first). So the choice is refined over a few rounds: the extended
    tokenizer encodes (a sample of) the texts, new tokens it never emits (and that no emitted new token
    needs as a merge parent) are dropped, and their places go to the next candidates.
    """
    vocab = base_json["model"]["vocab"]
    t_json = json.loads(target.to_str())["model"]
    t_merges = [_merge_pair(m) for m in t_json["merges"]]
    produced = {a + b: (rank, (a, b)) for rank, (a, b) in enumerate(t_merges)}
    texts = [t for t in texts if t][:sample]
    freq: Counter = Counter()
    for enc in target.encode_batch(texts, add_special_tokens=False):
        freq.update(enc.tokens)
    scored = []
    for tok, n in freq.items():
        if tok in vocab:
            continue
        pieces = len(base_backend.model.tokenize(tok))
        if pieces > 1:
            scored.append((n * (pieces - 1), tok))
    scored.sort(key=lambda x: (-x[0], x[1]))
    queue = [tok for _score, tok in scored]

    def closure(tok: str, have: dict, acc: dict) -> bool:
        if tok in vocab or tok in have or tok in acc:
            return True
        if tok in produced:
            a, b = produced[tok][1]
            if not (closure(a, have, acc) and closure(b, have, acc)):
                return False
            acc[tok] = (a, b)
            return True
        if len(tok) == 1:  # an alphabet symbol the base vocabulary lacks
            acc[tok] = None
            return True
        return False

    def ordered(chosen: dict) -> list:  # single symbols first, then merges in the target's priority order
        return sorted(chosen.items(), key=lambda kv: -1 if kv[1] is None else produced[kv[0]][0])

    chosen: dict[str, tuple | None] = {}
    rejected: set[str] = set()
    pos = 0
    for round_ in range(rounds):
        while len(chosen) < k and pos < len(queue):
            tok = queue[pos]
            pos += 1
            if tok in rejected or tok in chosen:
                continue
            acc: dict = {}
            if closure(tok, chosen, acc) and len(chosen) + len(acc) <= k:
                chosen.update(acc)
        if not chosen or round_ == rounds - 1:
            break
        data, _ids = _extended_json(base_json, ordered(chosen))
        used: Counter = Counter()
        for enc in _backend_from_json(data).encode_batch(texts, add_special_tokens=False):
            used.update(t for t in enc.tokens if t in chosen)
        keep: dict = {}
        for tok in used:
            closure(tok, {}, keep)  # the token and the new merge parents it needs
        keep = {t: chosen[t] for t in keep if t in chosen}
        dropped = set(chosen) - set(keep)
        if not dropped or pos >= len(queue):
            break
        rejected |= dropped
        chosen = keep
    return ordered(chosen)


def _extended_json(base_json: dict, entries: list[tuple[str, tuple | None]]) -> tuple[dict, dict[str, int]]:
    data = json.loads(json.dumps(base_json))
    model = data["model"]
    next_id = 1 + max([*model["vocab"].values(), *(t["id"] for t in data.get("added_tokens") or [])])
    as_strings = bool(model["merges"]) and isinstance(model["merges"][0], str)
    ids: dict[str, int] = {}
    for tok, pair in entries:
        model["vocab"][tok] = next_id
        ids[tok] = next_id
        next_id += 1
        if pair is not None:
            model["merges"].append(f"{pair[0]} {pair[1]}" if as_strings else [pair[0], pair[1]])
    return data, ids


# ----------------------------------------------------------------------------- the model


def _init_rows(model, new_ids: dict[str, int], pieces: dict[str, list[int]], n_old: int, n_total: int,
               pad_to_multiple_of: int) -> int:
    model.resize_token_embeddings(n_total, pad_to_multiple_of=pad_to_multiple_of, mean_resizing=False)
    inp = model.get_input_embeddings().weight
    out_layer = model.get_output_embeddings()
    out = out_layer.weight if out_layer is not None and out_layer.weight.data_ptr() != inp.data_ptr() else None
    rows = inp.shape[0]
    with torch.no_grad():
        for w in [inp] + ([out] if out is not None else []):
            mean = w[:n_old].float().mean(0)
            w[n_old:] = mean.to(w.dtype)  # padding rows (and anything not set below)
            for tok, tid in new_ids.items():
                old = [i for i in pieces[tok] if i < n_old]
                if old:
                    w[tid] = w[old].float().mean(0).to(w.dtype)
    return rows


def extend_vocabulary(base_model_dir: str | Path, texts: Sequence[str], k: int, out_dir: str | Path, *,
                      heldout_texts: Sequence[str] | None = None, tokenizer_vocab_size: int | None = None,
                      min_frequency: int = 2, pad_to_multiple_of: int = 64, trust_remote_code: bool = False) -> dict:
    """Add up to `k` target-language tokens to the model in `base_model_dir`; save the extended model,
    tokenizer and VOCAB_META in `out_dir`. Returns the VOCAB_META dict.

    texts: target-language documents (the tokenizer is trained and candidates are counted on them).
    heldout_texts: where fertility before/after is measured; default: the last 10% of `texts` (then
    not used for training). tokenizer_vocab_size: of the target tokenizer (default: base size + 2k, at
    least 4k).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if k < 1:
        raise ConfigError("extend_vocabulary: k must be >= 1")
    texts = [t for t in texts if t and t.strip()]
    if heldout_texts is None:
        cut = max(1, len(texts) // 10)
        texts, heldout_texts = texts[:-cut], texts[-cut:]
    heldout_texts = [t for t in heldout_texts if t and t.strip()]
    if not texts or not heldout_texts:
        raise InputError("extend_vocabulary needs training and held-out texts")
    base_model_dir, out_dir = Path(base_model_dir), Path(out_dir)
    tok = AutoTokenizer.from_pretrained(base_model_dir, trust_remote_code=trust_remote_code)
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError(f"vocabulary extension needs a fast (tokenizers) tokenizer; {base_model_dir} has none")
    base_json = json.loads(backend.to_str())
    if base_json.get("model", {}).get("type") != "BPE":
        raise ConfigError(f"vocabulary extension supports BPE tokenizers only; {base_model_dir} has "
                          f"{base_json.get('model', {}).get('type')}")
    vocab_size = tokenizer_vocab_size or max(4000, len(base_json["model"]["vocab"]) + 2 * k)
    target = _train_target(base_json, texts, vocab_size, min_frequency)
    entries = _select(base_json, backend, target, texts, k)
    if not entries:
        raise InputError("no target-language token would shorten the texts: nothing to add")
    new_json, new_ids = _extended_json(base_json, entries)
    pieces = {t: [p.id for p in backend.model.tokenize(t)] for t in new_ids}

    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype="auto", trust_remote_code=trust_remote_code)
    n_old = model.get_input_embeddings().weight.shape[0]
    if min(new_ids.values()) < n_old:
        raise ConfigError(f"the base model has {n_old} embedding rows, more than its tokenizer's ids: "
                          "the new ids would reuse rows")
    n_total = max(new_ids.values()) + 1
    rows = _init_rows(model, new_ids, pieces, n_old, n_total, pad_to_multiple_of)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    (out_dir / "tokenizer.json").write_text(json.dumps(new_json, ensure_ascii=False))
    for stale in ("tokenizer.model", "vocab.json", "merges.txt"):  # slow-tokenizer files with the old vocabulary
        (out_dir / stale).unlink(missing_ok=True)
    new_tok = AutoTokenizer.from_pretrained(out_dir, trust_remote_code=trust_remote_code)
    if new_tok.convert_tokens_to_ids(entries[-1][0]) != new_ids[entries[-1][0]]:
        raise ConfigError(f"the tokenizer class of {base_model_dir} does not load the extended tokenizer.json")
    before, after = fertility(tok, heldout_texts), fertility(new_tok, heldout_texts)
    meta = {
        "new_token_ids": sorted(new_ids.values()),
        "k": len(new_ids),
        "k_requested": k,
        "fertility_before": round(before, 4),
        "fertility_after": round(after, 4),
        "heldout_texts": len(heldout_texts),
        "training_texts": len(texts),
        "target_tokenizer_vocab_size": vocab_size,
        "embedding_rows_before": n_old,
        "embedding_rows_after": rows,
        "init": "mean of the old-tokenizer pieces' rows (input embedding and LM head); padding rows: mean of old rows",
        "base_model": str(base_model_dir),
    }
    (out_dir / VOCAB_META).write_text(json.dumps(meta, indent=2))
    return meta


def extend_vocabulary_from_config(vcfg, base_model_dir: str | Path, texts: Sequence[str], out_dir: str | Path,
                                  heldout_texts: Sequence[str] | None = None, trust_remote_code: bool = False) -> dict:
    """extend_vocabulary with the settings of a config.VocabExtensionConfig (model.extend_vocab); the caller
    passes at most vcfg.max_docs target-language texts."""
    return extend_vocabulary(base_model_dir, list(texts)[: vcfg.max_docs], vcfg.k, out_dir,
                             heldout_texts=heldout_texts, tokenizer_vocab_size=vcfg.tokenizer_vocab_size,
                             min_frequency=vcfg.min_frequency, pad_to_multiple_of=vcfg.pad_to_multiple_of,
                             trust_remote_code=trust_remote_code)


# ----------------------------------------------------------------------------- training the new rows


def read_vocab_extension(model_dir: str | Path) -> dict | None:
    """VOCAB_META of a model folder, or None when its vocabulary was not extended."""
    p = Path(model_dir) / VOCAB_META
    return json.loads(p.read_text()) if p.is_file() else None


def _module_name(model, module) -> str:
    for name, m in model.named_modules():
        if m is module:
            return name.rsplit(".", 1)[-1]
    raise ConfigError("embedding module not found in the model")


def lora_vocab_kwargs(model, new_token_ids: Sequence[int],
                      mode: Literal["trainable_token_indices", "modules_to_save"] = "trainable_token_indices") -> dict:
    """peft LoraConfig kwargs that train the new rows of the input embedding and (when untied) the LM head:
    trainable_token_indices {embedding name: ids, lm head name: ids} (only those rows are stored in the
    adapter), or modules_to_save [embedding, lm head] (full copies)."""
    ids = [int(i) for i in new_token_ids]
    inp = model.get_input_embeddings()
    out = model.get_output_embeddings()
    names = [_module_name(model, inp)]
    if out is not None and out.weight is not inp.weight:
        names.append(_module_name(model, out))
    if mode == "modules_to_save":
        return {"modules_to_save": names}
    if not ids:
        raise ConfigError("trainable_token_indices needs the new token ids")
    return {"trainable_token_indices": {n: ids for n in names}}
