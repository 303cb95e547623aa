"""Training flow: continued pretraining then instruction tuning, full or LoRA."""

from __future__ import annotations

from prefect import flow

from llammas_core.config import StoreConfig
from llammas_core.train.config import TrainConfig
from tasks.train import train_task


@flow(name="train", log_prints=True)
def train_flow(train: TrainConfig, store: StoreConfig = StoreConfig()) -> str:
    """Run the CPT and SFT stages; returns the URI of the last stage's manifest (a HF checkpoint)."""
    return train_task(store, train)
