"""Training flow: tokenize the CPT corpora, continued pretraining, then instruction tuning (full or LoRA)."""

from __future__ import annotations

from prefect import flow

from llammas_core.config import StoreConfig
from llammas_core.corpus.config import ExecutorConfig
from llammas_core.train.config import TrainConfig
from tasks.train import cpt_task, sft_task, tokenize_task


@flow(name="train", log_prints=True)
def train_flow(train: TrainConfig, store: StoreConfig = StoreConfig(), executor: ExecutorConfig | None = None) -> str:
    """tokenize -> cpt -> sft (the enabled ones); returns the URI of the last stage's manifest (a HF checkpoint).

    `executor` runs the tokenizing (datatrove: local processes by default, Ray or Slurm)."""
    cpt = None
    if train.cpt.enabled:
        tokenized = tokenize_task(store, train, executor)
        cpt = cpt_task(store, train, tokenized)
    if not train.sft.enabled:
        return cpt
    return sft_task(store, train, cpt)
