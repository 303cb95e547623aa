"""Batched generation with left padding, for FLORES and QA.

Written here rather than through lm-eval's `generate_until`: lm-eval's HF generation batches by
context length but scores generations only with its own metric functions (per-sample, not
sacrebleu's corpus chrF++ with signatures) and has no per-item chat-template-with-few-shot turns
for translation prompts. Here prompts are sorted by length (longest first, so padding stays small and
an out-of-memory shows up in the first batch), padded on the left, generated greedily by default
(beams configurable; a batch of several rows decodes into a preallocated static KV cache whose
prompt part is encoded without padding, see prefill.py), and stopped per row on EOS or, for
base-model few-shot prompts, on any token
that contains a newline (passed as extra EOS ids, so `generate` stops each row as soon as its line ends).
"""

from __future__ import annotations

from typing import Any, Sequence

Prompt = str | list[dict]  # plain text, or chat messages for the tokenizer's chat template


def newline_token_ids(tokenizer, cache: dict | None = None) -> list[int]:
    """Ids of every vocabulary token whose text contains a newline (cached per tokenizer)."""
    if cache is not None and "newline_ids" in cache:
        return cache["newline_ids"]
    specials = set(tokenizer.all_special_ids)
    ids = [i for i in range(len(tokenizer)) if i not in specials and "\n" in tokenizer.decode([i])]
    if cache is not None:
        cache["newline_ids"] = ids
    return ids


def stop_ids_for(loaded, chat: bool) -> list[int]:
    """Tokenizer EOS + the ids in the model's generation_config (e.g. Llama 3's list) + for chat prompts the
    chat template's assistant-turn terminator (<|im_end|>, <|eot_id|>, ...; see train/stop_tokens.py)."""
    from llammas_core.train.stop_tokens import stop_token_ids

    gen_eos = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
    ids = [loaded.tokenizer.eos_token_id] + (gen_eos if isinstance(gen_eos, list) else [gen_eos])
    if chat:
        ids += stop_token_ids(loaded.tokenizer)
    out: list[int] = []
    for i in ids:
        if i is not None and int(i) not in out:
            out.append(int(i))
    return out


def render(tokenizer, prompt: Prompt) -> tuple[str, bool]:
    """(text to tokenize, add_special_tokens): chat messages go through the chat template, which writes
    BOS itself; plain prompts get the tokenizer's own specials (BOS for Llama)."""
    if isinstance(prompt, str):
        return prompt, True
    text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    return text, False


def _generate(model, enc, kw: dict, static: bool):
    """model.generate; static: a preallocated KV cache, None if the model has none. A growing (dynamic)
    cache copies the whole batch's keys and values at every step, which on CPU costs a batch of 32 about
    15% of its time; for one row the dynamic cache is the faster (measured in benchmarks/eval_throughput.py).
    A static batch first has its prompts encoded without padding (prefill.py) where the model allows."""
    import torch

    from llammas_core.evaluate.prefill import prefilled_cache

    try:
        with torch.inference_mode():
            if not static:
                return model.generate(**enc, **kw)
            cache = prefilled_cache(model, enc["input_ids"], enc["attention_mask"], kw["max_new_tokens"])
            if cache is not None:
                return model.generate(**enc, **kw, past_key_values=cache)
            return model.generate(**enc, **kw, cache_implementation="static")
    except (ValueError, NotImplementedError):
        if not static:
            raise
        return None


def _left_padded(rows: list[list[int]], pad_id: int, device) -> dict:
    """input_ids and attention_mask of token rows padded on the left (what the tokenizer's padding gives)."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for n, r in enumerate(rows):
        if r:
            ids[n, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[n, width - len(r):] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def generate(loaded, prompts: Sequence[Prompt], max_new_tokens: int = 256, num_beams: int = 1,
             do_sample: bool = False, batch_size: int | None = None, stop_at_newline: bool = True) -> list[dict]:
    """Generate for every prompt; returns [{"text", "n_tokens", "prompt_text"}] in input order.

    text: the decoded continuation (cut at the first newline when stop_at_newline); n_tokens: tokens
    generated for that row up to and including its stop token.
    """
    tok, model = loaded.tokenizer, loaded.model
    bs = batch_size or loaded.spec.batch_size
    rendered = [render(tok, p) for p in prompts]
    token_rows = [tok(t, add_special_tokens=s)["input_ids"] for t, s in rendered]  # tokenized once
    order = sorted(range(len(prompts)), key=lambda i: -len(token_rows[i]))
    stop_ids = stop_ids_for(loaded, chat=any(not isinstance(p, str) for p in prompts))
    if stop_at_newline:
        stop_ids = stop_ids + newline_token_ids(tok, loaded.extra)
    stop_set = set(stop_ids)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    out: list[dict[str, Any]] = [{} for _ in prompts]
    for start in range(0, len(order), bs):
        idx = order[start:start + bs]
        enc = _left_padded([token_rows[i] for i in idx], pad_id, model.device)
        kw = dict(max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=do_sample,
                  eos_token_id=stop_ids or None, pad_token_id=pad_id)
        gen = _generate(model, enc, kw, static=len(idx) > 1 and num_beams == 1 and loaded.extra.get(
            "static_cache", True))
        if gen is None:  # this model has no static cache: dynamic from now on
            loaded.extra["static_cache"] = False
            gen = _generate(model, enc, kw, static=False)
        new = gen[:, enc["input_ids"].shape[1]:].tolist()
        for row, i in zip(new, idx):
            n = len(row)
            for j, t in enumerate(row):
                if t in stop_set:
                    n = j + 1
                    break
            text = tok.decode(row[:n], skip_special_tokens=True)
            if stop_at_newline:  # every line break (\r, \u2028, ... too), so one item stays one line
                text = (text.splitlines() or [""])[0]
            out[i] = {"text": text.strip(), "n_tokens": n, "prompt_text": rendered[i][0]}
    return out


__all__ = ["generate", "render", "stop_ids_for", "newline_token_ids", "Prompt"]
