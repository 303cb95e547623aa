"""The main job: corpus(et), corpus(en) -> (tiny base) -> instructions -> tokenize -> cpt -> sft ->
evaluate(base, cpt, sft) -> report.

Each stage's output is remembered under its reference name (`@corpus`, `@english_corpus`,
`@tiny_base`, `@instructions`, `@tokenized`, `@cpt`, `@sft`, `@base`); a later section's references
are replaced by those URIs (llammas_core.refs). The instruction data is built before CPT: MT errors
(an unreachable endpoint, a bad model) then surface in minutes, not after hours of training.
"""

from __future__ import annotations

from prefect import flow

from llammas_core.config import LlammasConfig
from llammas_core.errors import ConfigError
from llammas_core.preflight import PIPELINE_SECTIONS, preflight
from llammas_core.refs import substitute
from tasks.common import one_line_errors, run_namer, tagged
from tasks.corpus import corpus_task
from tasks.evaluate import evaluate_task
from tasks.instructions import instructions_task
from tasks.train import tiny_base_task
from flows.train import train_stages

@flow(name="pipeline", log_prints=True, flow_run_name=run_namer("pipeline", "config.corpus.language"))
@one_line_errors
def pipeline_flow(config: LlammasConfig) -> str:
    """Every configured stage, in order; returns the URI of the last one's manifest (the evaluation
    report when there is an `evaluate` section)."""
    if config.corpus is None:
        raise ConfigError("the pipeline needs a `corpus` section")
    preflight(config, PIPELINE_SECTIONS, config.store.endpoint_url)  # every path and setting, before any long stage
    store, out = config.store, {}
    for name in ("corpus", "english_corpus"):
        corpus = getattr(config, name)
        if corpus is not None:
            out[name] = tagged(corpus_task, "corpus", corpus.language)(store, corpus)
    if config.tiny_base is not None:
        corpora = [out[k] for k in ("corpus", "english_corpus") if k in out]
        out["tiny_base"] = tagged(tiny_base_task, "tiny-base")(store, corpora, config.tiny_base)
    if config.instructions is not None:
        instructions = substitute(config.instructions, out, "instructions")
        out["instructions"] = tagged(instructions_task, "instructions", instructions.language)(store, instructions)
    if config.train is not None:
        train = substitute(config.train, out, "train")
        out["base"] = train.model.base
        out |= train_stages(store, train, config.corpus.executor)
    if config.evaluate is not None:
        out["report"] = tagged(evaluate_task, "evaluate")(store, substitute(config.evaluate, out, "evaluate"))
    last = next(k for k in ("report", "sft", "cpt", "instructions", "corpus") if k in out)
    return out[last]
