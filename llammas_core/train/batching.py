"""Batching for SFT: collators and token-budget packs of encoded chat examples.

`PaddingFreeCollator` concatenates examples into one row with per-sequence `position_ids` and no
attention mask; transformers (masking_utils.find_packed_sequence_indices) then builds a
block-diagonal causal mask for sdpa/eager (and flash-attention uses varlen), so sequences never
attend to each other. `PaddedCollator` right-pads to [B, max_len] with an attention mask and
-100 labels on pads. `pack_by_tokens` groups example indices into packs of at most `max_tokens`
tokens (first-fit decreasing) and `TokenBudgetBatchSampler` serves those packs as batches,
shuffled per epoch and split across distributed ranks. Examples come from
llammas_core.train.sft_data (SFTDataset items: {"input_ids", "labels"}).
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from llammas_core.errors import ConfigError
from llammas_core.train.sft_data import IGNORE_INDEX

__all__ = [
    "PaddingFreeCollator",
    "PaddedCollator",
    "pack_by_tokens",
    "TokenBudgetBatchSampler",
]


# --------------------------------------------------------------------------- collators


def _as_long(x) -> torch.Tensor:
    return x.long() if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.long)


class PaddingFreeCollator:
    """Concatenate a batch into one row: input_ids/labels/position_ids of shape [1, total].

    position_ids restart at 0 for each sequence and the first label of each sequence is -100 (no
    prediction across a boundary). No attention_mask is returned ON PURPOSE: transformers only
    derives the block-diagonal (per-sequence causal) mask from position_ids when attention_mask is
    None AND past_key_values is None (masking_utils._preprocess_mask_arguments ->
    find_packed_sequence_indices), for sdpa/eager/flex; flash-attention uses the same
    position_ids (or the cu_seq_lens kwargs with return_flash_attn_kwargs=True).

    PITFALL (measured with transformers 5.23): with config.use_cache=True (the Llama default)
    a forward pass without past_key_values creates a DynamicCache even in training, which
    silently disables packed-sequence detection: sequences then attend to each other. So the
    batch carries "use_cache": False (disable_cache=True, the default). A training loop that
    moves every batch value with .to(device) must skip non-tensors, or set
    model.config.use_cache = False (or enable gradient checkpointing, which also turns the cache
    off) and build the collator with disable_cache=False. Never add an all-ones attention_mask.
    """

    def __init__(self, return_flash_attn_kwargs: bool = False, disable_cache: bool = True):
        self.return_flash_attn_kwargs = return_flash_attn_kwargs
        self.disable_cache = disable_cache

    def __call__(self, examples: list[dict]) -> dict:
        if not examples:
            raise ValueError("empty batch")
        ids, labels, pos, lens = [], [], [], []
        for ex in examples:
            x = _as_long(ex["input_ids"]).view(-1)
            y = _as_long(ex.get("labels", x)).view(-1).clone()
            if x.numel() == 0:
                continue
            y[0] = IGNORE_INDEX
            ids.append(x)
            labels.append(y)
            pos.append(torch.arange(x.numel(), dtype=torch.long))
            lens.append(x.numel())
        batch = {
            "input_ids": torch.cat(ids).unsqueeze(0),
            "labels": torch.cat(labels).unsqueeze(0),
            "position_ids": torch.cat(pos).unsqueeze(0),
        }
        if self.return_flash_attn_kwargs:
            cu = torch.tensor([0] + lens, dtype=torch.int32).cumsum(0, dtype=torch.int32)
            batch.update(cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=max(lens), max_length_k=max(lens))
        if self.disable_cache:
            batch["use_cache"] = False
        return batch


class PaddedCollator:
    """Right-pad a batch: input_ids [B, maxlen] (pad_token_id), attention_mask, labels (-100 on pads).

    `pad_token_id` may be an int or a tokenizer. `pad_to_multiple_of` rounds maxlen up.
    """

    def __init__(self, pad_token_id, pad_to_multiple_of: int | None = None):
        if not isinstance(pad_token_id, int):
            pad_token_id = getattr(pad_token_id, "pad_token_id", None)
        if pad_token_id is None:
            raise ConfigError("PaddedCollator needs a pad token id (see prepare_tokenizer)")
        self.pad_token_id = int(pad_token_id)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, examples: list[dict]) -> dict:
        seqs = [_as_long(ex["input_ids"]).view(-1) for ex in examples]
        labs = [_as_long(ex.get("labels", ex["input_ids"])).view(-1) for ex in examples]
        maxlen = max(s.numel() for s in seqs)
        if self.pad_to_multiple_of:
            maxlen = int(math.ceil(maxlen / self.pad_to_multiple_of) * self.pad_to_multiple_of)
        b = len(seqs)
        input_ids = torch.full((b, maxlen), self.pad_token_id, dtype=torch.long)
        labels = torch.full((b, maxlen), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((b, maxlen), dtype=torch.long)
        for i, (s, lab) in enumerate(zip(seqs, labs)):
            n = s.numel()
            input_ids[i, :n] = s
            labels[i, :n] = lab
            attention_mask[i, :n] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


# --------------------------------------------------------------------------- token-budget batching


def pack_by_tokens(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Group example indices into packs of at most max_tokens tokens, first-fit decreasing.

    Examples are taken longest first (ties by index) and each goes into the earliest-opened pack
    with room (a max segment tree finds it in O(log n)). An example longer than max_tokens gets a
    pack of its own. Deterministic; packs are returned in opening order.
    """
    if max_tokens <= 0:
        raise ConfigError(f"max_tokens must be > 0, got {max_tokens}")
    n = len(lengths)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: (-lengths[i], i))
    size = 1
    while size < n:
        size *= 2
    tree = [-1] * (2 * size)  # max remaining capacity per subtree; leaf b = pack b (-1: not open)
    packs: list[list[int]] = []
    for i in order:
        need = lengths[i]
        if need > max_tokens or tree[1] < need:
            b = len(packs)
            packs.append([i])
            remaining = max(max_tokens - need, 0)
        else:
            node = 1
            while node < size:  # leftmost leaf with capacity >= need
                node = 2 * node if tree[2 * node] >= need else 2 * node + 1
            b = node - size
            packs[b].append(i)
            remaining = tree[node] - need
        node = b + size
        tree[node] = remaining
        node //= 2
        while node:
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
            node //= 2
    return packs


class TokenBudgetBatchSampler(torch.utils.data.Sampler):
    """Batches of example indices of at most max_tokens tokens, for PaddingFreeCollator.

    Packs are computed once with pack_by_tokens (deterministic); each epoch their order is
    shuffled with seed + epoch (set_epoch). With num_replicas > 1 (torch.distributed when
    initialized, or the kwargs) rank r takes packs r, r + R, ... of the shuffled order and every
    rank gets the same number of batches (the surplus < R packs of an epoch are skipped).
    """

    def __init__(self, lengths: list[int], max_tokens: int, seed: int = 42, shuffle: bool = True,
                 num_replicas: int | None = None, rank: int | None = None):
        self.packs = pack_by_tokens(list(lengths), max_tokens)
        self.max_tokens = max_tokens
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        if num_replicas is None or rank is None:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                num_replicas, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
            else:
                num_replicas, rank = 1, 0
        self.num_replicas, self.rank = num_replicas, rank

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.packs) // self.num_replicas

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.packs)))
        if self.shuffle:
            rng = np.random.default_rng(self.seed + self.epoch)
            order = rng.permutation(len(self.packs)).tolist()
        n = len(self) * self.num_replicas
        for k in order[self.rank:n:self.num_replicas]:
            yield list(self.packs[k])
