"""Batched log-likelihood scoring that wins over one request at a time: lm-eval's HFLM with its
`_loglikelihood_tokens` replaced.

lm-eval builds the requests (prompts, few-shot, continuations: unchanged, so results stay lm-eval's);
this scores them. What it does differently from HFLM's own loop:
- **A shared context is encoded once.** Requests whose contexts share most of their tokens (an item's
  choices; Belebele questions on the same passage) go into ONE row: the prefix tree of their inputs,
  each token at its depth (position id) and, through a 4D attention mask, seeing only its own
  ancestors. Each request so computes exactly what its `context + continuation` alone computes. Models
  that take a custom 4D mask do this (sdpa and eager attention); a one-time check on the first shared
  row compares it with separate rows. Any other model, or one that fails the check, gets one row per
  request.
- **Batches by a token budget**, rows sorted longest first: rows x padded length <= budget, at most
  `batch_size` rows, none padded by more than MAX_PAD of its batch's longest. Long passages make
  narrow batches and short items wide ones: memory stays bounded, and little is spent on padding.
- **Logits only where they are read** (`logits_to_keep` with the positions the batch needs), not
  a [batch, length, vocab] log-softmax over every position: most of a Belebele row is its passage.
- **Tokenized in one call**: every string lm-eval's `_encode_pair` will ask for goes to the fast
  tokenizer as one batch beforehand (`tok_encode` then reads it), the same ids in a fraction of the time.

Requests longer than the model's window go through HFLM's own loop (it truncates from the left).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

log = logging.getLogger(__name__)

# Request as lm-eval hands it over: ((context str, continuation str) or None, context ids, continuation ids)
Request = tuple[Any, list[int], list[int]]
ROW_TOKENS = 256  # token budget per row of batch_size: bs 32 -> 8192 tokens a batch
ROW_CAP = 1024  # most tokens one shared row holds (its mask is cap x cap)
MAX_PAD = 0.1  # padding a row may get, as a share of its batch's longest: more buys fewer, wider forwards
SELF_CHECK_TOL = 1e-3  # |packed - separate| in summed log-prob that turns sharing off (fp32 noise is ~1e-6)


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _groups(requests: list[Request], idx: list[int], share: bool, cap: int) -> list[list[int]]:
    """Requests that go into one row: contexts sorted, neighbours joined while they share at least half
    of the shorter context (an item's choices; Belebele items on the same passage) and the row stays
    under cap tokens. Without share, one request a row."""
    if not share:
        return [[i] for i in idx]
    order = sorted(idx, key=lambda i: (requests[i][1], requests[i][2]))
    out: list[list[int]] = []
    size = 0
    for i in order:
        ctx, cont = requests[i][1], requests[i][2]
        if out:
            first = requests[out[-1][0]][1]
            shared = _common(first, ctx)
            grow = len(ctx) + len(cont) - 1 - shared
            if shared > 0 and 2 * shared >= min(len(first), len(ctx)) and size + grow <= cap:
                out[-1].append(i)
                size += grow
                continue
        out.append([i])
        size = len(ctx) + len(cont) - 1
    return out


def _row(requests: list[Request], members: list[int]) -> dict:
    """One row: the prefix tree (trie) of the members' inputs (context + continuation[:-1]), flattened in
    insertion order (a parent before its children). Each token sits at its depth (position id) and sees
    its ancestors only, so every request computes what its input alone computes; shared prefixes once.
    reads: (request index, logit slots that predict its continuation tokens, continuation ids)."""
    tokens: list[int] = []
    parent: list[int] = []
    depth: list[int] = []
    children: dict[tuple[int, int], int] = {}  # (parent slot or -1, token) -> slot
    reads = []
    for i in members:
        ctx, cont = requests[i][1], requests[i][2]
        path, at = [], -1
        for t in list(ctx) + list(cont[:-1]):
            slot = children.get((at, t))
            if slot is None:
                slot = len(tokens)
                children[(at, t)] = slot
                tokens.append(t)
                parent.append(at)
                depth.append(depth[at] + 1 if at >= 0 else 0)
            path.append(slot)
            at = slot
        reads.append((i, path[len(ctx) - 1:len(ctx) - 1 + len(cont)], list(cont)))
    chain = all(p == k - 1 for k, p in enumerate(parent))
    return {"tokens": tokens, "parent": parent, "pos": depth, "chain": chain, "reads": reads}


def _rows(requests: list[Request], idx: list[int], share: bool, cap: int) -> list[dict]:
    return [_row(requests, g) for g in _groups(requests, idx, share, cap)]


def _tree_mask(row: dict, length: int):
    """[length, length] bool: slot q may attend to slot k iff k is q itself or one of its ancestors;
    padding slots see only themselves (a fully masked row would give NaN)."""
    import numpy as np

    m = np.zeros((length, length), dtype=bool)
    for q, p in enumerate(row["parent"]):
        if p >= 0:
            m[q] = m[p]
        m[q, q] = True
    for q in range(len(row["parent"]), length):
        m[q, q] = True
    return m


def _batches(rows: list[dict], max_rows: int, budget: int, max_pad: float = MAX_PAD) -> list[list[dict]]:
    """Longest first; a batch grows while rows x its longest row <= budget, rows <= max_rows and no row
    is padded by more than max_pad of the longest (prefill.buckets, as batched generation does)."""
    from llammas_core.evaluate.prefill import buckets

    rows = sorted(rows, key=lambda r: -len(r["tokens"]))
    groups = buckets([len(r["tokens"]) for r in rows], budget, max_pad=max_pad, max_rows=max_rows)
    return [[rows[i] for i in g] for g in groups]


class BatchedHFLM:
    """Mixin body for lm-eval's HFLM (see `batched_hflm`): replaces `_loglikelihood_tokens`."""

    token_budget: int | None = None
    _share: bool | None = None  # None: not checked yet
    _encoded: dict | None = None  # strings tokenized ahead for the running loglikelihood call

    def _attn_impl(self) -> str:
        return str(getattr(self.model.config, "_attn_implementation", "") or "")

    def _can_share(self) -> bool:
        return self.backend == "causal" and self._attn_impl() in ("sdpa", "eager")

    def _keeps_logits(self) -> bool:
        return "logits_to_keep" in inspect.signature(self.model.forward).parameters

    def _run_rows(self, rows: list[dict], requests: list[Request]) -> dict[int, tuple[float, bool]]:
        """One forward over right-padded rows; returns {request index: (sum log-prob, is greedy)}."""
        import torch
        import torch.nn.functional as F

        dev = self.device
        B, L = len(rows), max(len(r["tokens"]) for r in rows)
        toks = torch.zeros(B, L, dtype=torch.long)
        pos = torch.zeros(B, L, dtype=torch.long)
        for b, r in enumerate(rows):
            n = len(r["tokens"])
            toks[b, :n] = torch.tensor(r["tokens"])
            pos[b, :n] = torch.tensor(r["pos"])
        kw: dict[str, Any] = {}
        if not all(r["chain"] for r in rows):  # branching rows: the tree mask and depth positions
            import numpy as np

            mask = torch.from_numpy(np.stack([_tree_mask(r, L) for r in rows]))[:, None]
            if self._attn_impl() == "eager":
                mask = torch.zeros(mask.shape, dtype=self.model.dtype).masked_fill(
                    ~mask, torch.finfo(self.model.dtype).min)
            kw = {"attention_mask": mask.to(dev), "position_ids": pos.to(dev)}
        # else: plain right padding under a causal mask, exactly lm-eval's own batched call
        need = sorted({p for r in rows for _, slots, _ in r["reads"] for p in slots})
        keep = None
        if self._keeps_logits():
            keep = torch.tensor(need, dtype=torch.long, device=dev)
            kw["logits_to_keep"] = keep
        with torch.no_grad(), torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype,
                                             enabled=self.mixed_precision_dtype is not None):
            logits = self.model(toks.to(dev), use_cache=False, **kw).logits  # no KV cache: one forward
        logp = F.log_softmax(logits, dim=-1, dtype=self.softmax_dtype)
        # every read gathered at once: one index per continuation token, then summed per request
        col = {p: j for j, p in enumerate(need)} if keep is not None else None
        where, row_of, ids, owner = [], [], [], []
        order = []  # request indices, in the order of `owner`'s numbers
        for b, r in enumerate(rows):
            for i, slots, cont in r["reads"]:
                where += [col[p] for p in slots] if col else slots
                row_of += [b] * len(cont)
                ids += cont
                owner += [len(order)] * len(cont)
                order.append(i)
        lp = logp[torch.tensor(row_of, device=dev), torch.tensor(where, device=dev)]  # [tokens, vocab]
        c = torch.tensor(ids, dtype=torch.long, device=dev)
        own = torch.tensor(owner, device=dev)
        n = len(order)
        tok_lp = lp.gather(1, c[:, None]).squeeze(-1)
        sums = torch.zeros(n, dtype=tok_lp.dtype, device=dev).index_add_(0, own, tok_lp)
        misses = torch.zeros(n, dtype=torch.long, device=dev).index_add_(0, own, (lp.argmax(-1) != c).long())
        return {i: (float(s), m == 0) for i, s, m in zip(order, sums.tolist(), misses.tolist())}

    def _check_sharing(self, requests: list[Request], idx: list[int]) -> bool | None:
        """The first shared row against the same requests one row each (None: no row would be shared)."""
        item = next((g for g in _groups(requests, idx, True, min(self.max_length, ROW_CAP)) if len(g) > 1), None)
        if item is None:
            return None
        packed = self._run_rows(_rows(requests, item, True, 1 << 30), requests)
        alone = self._run_rows(_rows(requests, item, False, 1 << 30), requests)
        worst = max(abs(packed[i][0] - alone[i][0]) for i in item)
        if worst > SELF_CHECK_TOL or any(packed[i][1] != alone[i][1] for i in item):
            log.warning("shared-context scoring disagrees with separate rows by %.2e on this model; "
                        "scoring one row per request", worst)
            return False
        return True

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        """lm-eval's own (its `_encode_pair` tokenizes each request), with every string it will encode
        tokenized beforehand in one batch call of the fast tokenizer: a per-string call costs ~60 us of
        Python, and an item's choices repeat its context."""
        self._encoded = self._encode_all([req.args for req in requests])
        try:
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)
        finally:
            self._encoded = None

    def _encode_all(self, pairs) -> dict | None:
        """{(string, add_special_tokens): ids} for the strings a causal `_encode_pair` asks `tok_encode`
        for, with the same special-token arguments. A string it asks for that is not here (say a later
        lm-eval splits differently) is simply encoded as before: this only warms a cache."""
        from lm_eval.models.utils import _add_special_kwargs, has_bos_prefix

        if self.backend != "causal" or not getattr(self.tokenizer, "is_fast", False):
            return None
        wanted: set[tuple[str, bool | None]] = set()
        for context, continuation in pairs:
            if context == "":
                wanted.add((continuation, False))
                continue
            n = len(context) - len(context.rstrip())
            ctx, cont = (context[:-n], context[-n:] + continuation) if n else (context, continuation)
            wanted.update({(ctx + cont, None), (ctx, None)})
        bos = self.tokenizer.decode(self.prefix_token_id)
        by_kwargs: dict[tuple, list] = {}
        for string, special in wanted:
            kw = _add_special_kwargs(special, self.add_bos_token)
            if special is None and has_bos_prefix(string, bos):
                kw["add_special_tokens"] = False
            by_kwargs.setdefault(tuple(sorted(kw.items())), []).append((string, special))
        out = {}
        for kw, keys in by_kwargs.items():
            ids = self.tokenizer([k[0] for k in keys], **dict(kw))["input_ids"]
            out.update(zip(keys, ids))
        return out

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, left_truncate_len: int | None = None,
                   **kwargs) -> list[int]:
        hit = (self._encoded or {}).get((string, add_special_tokens))
        if hit is not None and not left_truncate_len and not kwargs:
            return list(hit)
        return super().tok_encode(string, add_special_tokens=add_special_tokens, left_truncate_len=left_truncate_len,
                                  **kwargs)

    def _loglikelihood_tokens(self, requests: list[Request], disable_tqdm: bool = False,
                              override_bs: int | None = None) -> list[tuple[float, bool]]:
        if self.backend != "causal":
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        fits = [i for i, (_, c, x) in enumerate(requests) if len(c) + len(x) <= self.max_length + 1 and c and x]
        rest = sorted(set(range(len(requests))) - set(fits))
        if self._share is None and fits:  # None again when nothing here shares a row: checked next time
            self._share = self._check_sharing(requests, fits) if self._can_share() else False
        bs = override_bs or (self.batch_size if isinstance(self.batch_size, int) else 32)
        budget = self.token_budget or bs * ROW_TOKENS
        results: dict[int, tuple[float, bool]] = {}
        cap = min(self.max_length, ROW_CAP)
        for batch in _batches(_rows(requests, fits, bool(self._share), cap), bs, budget):
            results.update(self._run_rows(batch, requests))
        if rest:  # longer than the window: HFLM truncates from the left
            results.update(zip(rest, super()._loglikelihood_tokens([requests[i] for i in rest], disable_tqdm=True,
                                                                   override_bs=override_bs)))
        out = [results[i] for i in range(len(requests))]
        for (req_str, _, _), ans in zip(requests, out):
            if req_str is not None:
                self.cache_hook.add_partial("loglikelihood", req_str, ans)
        return out


def batched_hflm(model, tokenizer, batch_size: int, device: str, token_budget: int | None = None):
    """lm-eval's HFLM over an in-memory model, scoring log-likelihoods as described above."""
    from lm_eval.models.huggingface import HFLM

    cls = type("LlammasHFLM", (BatchedHFLM, HFLM), {})
    lm = cls(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
    lm.token_budget = token_budget
    return lm


__all__ = ["batched_hflm", "BatchedHFLM", "ROW_TOKENS"]
