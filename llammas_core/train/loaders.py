"""What the trainer feeds the model: CPT samples from the tokenize stage's blocks, SFT examples with
an optional held-out slice, and the DataLoaders around them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from llammas_core.errors import ConfigError, InputError
from llammas_core.train.config import TrainConfig
from llammas_core.train.blocks import BlockSchedule, CPTBlocks, HeldOutBlocks, TokenBlocks, open_blocks


def source_ids(sources: list[str]) -> list[str]:
    """Manifest ids for manifest sources, else the source string itself."""
    from llammas_core.stage import is_manifest_ref, read_manifest

    return [read_manifest(s)["id"] if is_manifest_ref(s) else s for s in sources]


# ----------------------------------------------------------------------------- CPT


@dataclass
class CPTPlan:
    """The CPT run against its token blocks: how many steps, passes and which blocks are held out."""

    blocks: TokenBlocks
    n_train: int          # blocks [0, n_train) are trained on
    held_out: int         # blocks [n_train, n_train + held_out) give the validation loss
    max_steps: int
    samples_per_step: int
    epochs: float         # passes over the training blocks the run needs

    def train_dataset(self, cfg: TrainConfig, rank: int, world: int, micro: int, accum: int,
                      start_step: int) -> CPTBlocks:
        """This rank's samples from optimiser step `start_step` on (O(1): no data before it is read).

        The dataset keeps the length of the whole run (Trainer sees one epoch of max_steps steps both in a
        fresh and a resumed run; it stops at max_steps, so the items past the end are never read)."""
        schedule = BlockSchedule(self.n_train, cfg.optim_for("cpt").seed, cfg.cpt.shuffle_blocks)
        return CPTBlocks(self.blocks, schedule, rank, world, micro, start=start_step * accum * micro,
                         length=self.max_steps * accum * micro)

    def eval_dataset(self) -> HeldOutBlocks | None:
        return HeldOutBlocks(self.blocks, self.n_train, self.held_out) if self.held_out else None


def plan_cpt(cfg: TrainConfig, data_uri: str | None, micro: int, accum: int, world: int, cache_dir) -> CPTPlan:
    """Open the tokenize stage's blocks and check that they can fill the configured steps.

    InputError (before any weight is loaded) when no block is left for training, or when the run needs
    more passes than cpt.max_epochs allows."""
    if not data_uri:
        raise ConfigError("CPT reads the tokenize stage's blocks: pass its manifest URI (--data), see "
                          "llammas_core.train.tokenize.run_tokenize")
    blocks = open_blocks(data_uri, cache_dir)
    if blocks.block_size != cfg.cpt.block_size:
        raise ConfigError(f"token blocks {data_uri} hold {blocks.block_size} tokens, cpt.block_size is {cfg.cpt.block_size}")
    held_out = cfg.cpt.validation_blocks
    n_train = len(blocks) - held_out
    if n_train <= 0:
        raise InputError(f"{len(blocks)} token blocks and cpt.validation_blocks {held_out}: nothing left to train on")
    per_step = micro * accum * world
    max_steps = cfg.cpt.max_steps or math.ceil(cfg.cpt.max_tokens / (cfg.cpt.block_size * per_step))
    epochs = max_steps * per_step / n_train
    if cfg.cpt.max_epochs is not None and epochs > cfg.cpt.max_epochs + 1e-9:
        raise InputError(
            f"the CPT data cannot fill {max_steps} steps: they need {max_steps * per_step:,} blocks "
            f"({max_steps * per_step * cfg.cpt.block_size:,} tokens; {epochs:.2f} passes over {n_train:,} training "
            f"blocks of {cfg.cpt.block_size} tokens) and cpt.max_epochs is {cfg.cpt.max_epochs}. {_mixture_numbers(blocks)}"
            "Add data, lower cpt.max_steps/max_tokens or raise cpt.max_epochs")
    return CPTPlan(blocks, n_train, held_out, max_steps, per_step, epochs)


def _mixture_numbers(blocks: TokenBlocks) -> str:
    """How the mixture used each source: the mix stops when the first source runs out (no repeats)."""
    m = blocks.manifest
    docs = m.get("documents") or []
    if not docs:
        return ""
    probs = (m.get("mixture") or {}).get("probabilities") or []
    parts = [f"{d['source']}: {d.get('drawn', '?'):,} of {d['documents']:,} documents ({d['tokens']:,} tokens in all)"
             for d in docs]
    ratio = "/".join(f"{p:g}" for p in probs)
    return (f"At {ratio} the mixture drew {'; '.join(parts)}, stopping when the first source ran out "
            f"(no document is repeated). ")


# ----------------------------------------------------------------------------- SFT


class SFTSubset(torch.utils.data.Dataset):
    """Some examples of an SFTDataset (keeps `lengths` for the token-budget sampler and `stats`)."""

    def __init__(self, ds, indices: list[int]):
        self.ds, self.indices = ds, list(indices)
        self.lengths = [ds.lengths[i] for i in self.indices]
        self.stats = ds.stats

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        return self.ds[self.indices[i]]


def build_sft_datasets(cfg: TrainConfig, tokenizer):
    """(train, validation or None): cfg.sft.validation_examples conversations held out by a seeded choice."""
    import itertools

    from llammas_core.train.sft_data import SFTDataset, SFTStats, load_chat_records

    stats = SFTStats()
    records = itertools.chain.from_iterable(load_chat_records(s, stats) for s in cfg.sft.sources)
    ds = SFTDataset(records, tokenizer, cfg.sft.max_length, cfg.sft.overflow, stats)
    n_val = cfg.sft.validation_examples
    if len(ds) - n_val <= 0:
        raise InputError(f"SFT data {cfg.sft.sources} gave {len(ds)} trainable examples "
                         f"(validation_examples {n_val}): {stats.as_dict()}")
    if not n_val:
        return ds, None
    perm = np.random.default_rng(cfg.optim_for("sft").seed).permutation(len(ds))
    val = sorted(perm[:n_val].tolist())
    keep = sorted(perm[n_val:].tolist())
    return SFTSubset(ds, keep), SFTSubset(ds, val)


class EpochDataLoader(torch.utils.data.DataLoader):
    """A DataLoader whose batch sampler follows Trainer's set_epoch (seeded reshuffle per epoch)."""

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)


def stack_collate(examples: list[dict]) -> dict:
    return {k: torch.stack([ex[k] for ex in examples]) for k in examples[0]}
