"""Instructions flow: instruction sets (+ their machine translation) and bitext in, one chat-format
SFT mixture in the store (`train.sft.sources: ["@instructions"]`)."""

from __future__ import annotations

from prefect import flow

from llammas_core.config import LlammasConfig
from llammas_core.preflight import preflight
from llammas_core.refs import remember, resolve_section
from tasks.common import one_line_errors, run_namer, tagged
from tasks.instructions import instructions_task


@flow(name="instructions", log_prints=True, flow_run_name=run_namer("instructions", "config.instructions.language"))
@one_line_errors
def instructions_flow(config: LlammasConfig) -> str:
    """The `instructions` section of the config: read the instruction sets, translate those marked
    `translate`, build translation tasks from the cleaned bitext, decontaminate, sample the mixture.
    Returns the URI of the mixture's manifest."""
    preflight(config, ["instructions"], config.store.endpoint_url)
    instructions = resolve_section(config, "instructions")
    uri = tagged(instructions_task, "instructions", instructions.language)(config.store, instructions)
    remember(config.store.open(), "instructions", instructions, uri)  # `@instructions` for a later flow run
    return uri
