"""Teach a random-init tiny MT model to stop: one calibrated bias on its end-of-sequence logit.

A random model never picks EOS in greedy decoding, so all its output would be cut at the length cap
(and rightly quarantined as `mt:output_truncated`). Adding a constant `b` to the EOS logit changes
nothing else: greedy decoding follows the same path until the first step where
`logit_eos + b >= max(other logits)`, and stops there. So one decode with EOS suppressed gives, per
step, the margin `max(other) - logit_eos`; the stop step for any `b` is the first margin <= b. We pick
the smallest `b` with which 95% of the calibration sentences stop within `ratio` x their source tokens.
A random model's stops stay erratic (measured on the demo: most stop after a few tokens, a few run on
and are still cut at the cap and quarantined, as they should be); one bias cannot give it a sense of
length, so outputs are mostly shorter than a translation would be.

The bias is a real model weight, kept by save_pretrained and by CTranslate2's converter:
- Marian: `final_logits_bias[eos]`.
- M2M100/NLLB (no logits bias): one hidden unit of the decoder's final layer norm is made constant 1
  (weight 0, bias 1) and the untied `lm_head` reads it only into EOS, with weight `b`.
Decoding still runs for real (HF generate, CTranslate2); a model with `ratio=None` is not calibrated.
"""

from __future__ import annotations

__all__ = ["calibrate_eos", "reserve_eos_unit"]

_UNIT = -1  # the hidden unit M2M100 models give over to the EOS bias


def reserve_eos_unit(model) -> None:
    """M2M100/NLLB: make hidden unit _UNIT of the decoder's output constant 1, read only by EOS (weight 0
    until calibrated). Needs an untied lm_head (config.tie_word_embeddings=False)."""
    import torch

    with torch.no_grad():
        norm = model.model.decoder.layer_norm
        norm.weight[_UNIT], norm.bias[_UNIT] = 0.0, 1.0
        model.lm_head.weight[:, _UNIT] = 0.0


def _set_bias(model, eos: int, b: float) -> None:
    import torch

    with torch.no_grad():
        if getattr(model, "final_logits_bias", None) is not None:
            model.final_logits_bias[0, eos] = b
        else:
            model.lm_head.weight[eos, _UNIT] = b


def _chars(tokenizer, ids) -> list[int]:
    """Characters of the text after each token (cumulative; special tokens count 0)."""
    special = set(tokenizer.all_special_ids)
    pieces = tokenizer.convert_ids_to_tokens([int(i) for i in ids])
    out, n = [], 0
    for i, p in zip(ids, pieces):
        n += 0 if int(i) in special else len(p)  # "▁" stands for the space before a word
        out.append(n)
    return out


def _margins(model, tokenizer, texts: list[str], forced_bos: int | None, cap: int,
             max_tokens: int) -> list[tuple[int, list[float], list[int]]]:
    """Per text: (source tokens, per-step margin max(other logits) - logit_eos, output characters before
    each step) on the EOS-free greedy path."""
    import torch

    gen = model.generation_config
    eos, pad = gen.eos_token_id, gen.pad_token_id
    out = []
    model.eval()
    for i in range(0, len(texts), 16):
        batch = tokenizer(texts[i:i + 16], return_tensors="pt", padding=True, truncation=True, max_length=max_tokens)
        kw = {"forced_bos_token_id": forced_bos} if forced_bos is not None else {}
        with torch.no_grad():
            res = model.generate(**batch, max_new_tokens=cap, num_beams=1, do_sample=False,
                                 bad_words_ids=[[eos], [pad]], return_dict_in_generate=True, output_logits=True, **kw)
        logits = torch.stack(res.logits, 1).float()  # raw: batch x steps x vocab
        eos_logit = logits[..., eos].clone()
        logits[..., eos] = logits[..., pad] = float("-inf")
        margin = logits.max(-1).values - eos_logit
        margin[:, 0] = float("inf")  # no stop at step 0: CTranslate2's min_decoding_length=1 (or a forced BOS)
        for src, gen_ids, m in zip(batch["input_ids"], res.sequences, margin):
            chars = [0] + _chars(tokenizer, gen_ids[1:])  # sequences start with the decoder start token
            out.append((int((src != tokenizer.pad_token_id).sum()), m.tolist(), chars))
    return out


def calibrate_eos(model, tokenizer, texts: list[str], ratio: float = 1.0, forced_bos: int | None = None,
                  coverage: float = 0.95, max_texts: int = 48, max_tokens: int = 96) -> dict:
    """Set the EOS bias so that greedy output on `texts` (their first max_tokens) stops within `ratio` x
    the source tokens for `coverage` of them, with the smallest such bias (the longest outputs); returns
    what was measured. Deterministic: greedy, fixed texts."""
    texts = [t for t in texts if t and t.strip()][:max_texts]
    eos = model.generation_config.eos_token_id
    _set_bias(model, eos, 0.0)
    cap = min(int(ratio * max_tokens) + 2, model.config.max_position_embeddings - 2)
    per_text = _margins(model, tokenizer, texts, forced_bos, cap, max_tokens)

    def stops(b: float) -> list[float]:  # output/source tokens at the stop (inf: runs past the cap)
        return sorted(next((t for t, m in enumerate(ms) if m <= b), float("inf")) / n for n, ms, _ in per_text)

    def covered(b: float) -> bool:
        return stops(b)[int(coverage * (len(per_text) - 1))] <= ratio

    # the stops come earlier as b grows: bisect for the smallest observed margin that covers, then move
    # halfway to the next margin (the same stops) so float noise (HF vs CTranslate2) does not flip a step
    margins = sorted({m for _, ms, _ in per_text for m in ms if m != float("inf")})
    lo, hi = 0, len(margins) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if covered(margins[mid]) else (mid + 1, hi)
    b = (margins[lo] + margins[lo + 1]) / 2 if lo + 1 < len(margins) else margins[lo] + 1.0
    ratios = stops(b)
    _set_bias(model, eos, b)
    return {"eos_bias": b, "texts": len(per_text), "median_ratio": ratios[len(ratios) // 2],
            "within_cap": sum(r <= ratio for r in ratios)}
