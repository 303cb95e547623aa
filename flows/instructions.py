"""Instructions flow: instruction sets (+ their machine translation) and bitext in, one chat-format
SFT mixture in the store (`train.sft.sources: ["@instructions"]`)."""

from __future__ import annotations

from prefect import flow

from llammas_core.config import StoreConfig
from llammas_core.instructions.config import InstructionsConfig
from tasks.instructions import instructions_task


@flow(name="instructions", log_prints=True)
def instructions_flow(instructions: InstructionsConfig, store: StoreConfig = StoreConfig()) -> str:
    """Read the instruction sets, translate those marked `translate`, build translation tasks from the
    cleaned bitext, decontaminate, sample the mixture. Returns the URI of the mixture's manifest."""
    return instructions_task(store, instructions)
