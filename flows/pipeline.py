"""The main job: corpus(et), corpus(en) -> (tiny base) -> instructions -> tokenize -> cpt -> sft ->
evaluate(base, cpt, sft) -> report.

Each stage's output is kept under its reference name (`@corpus`, `@english_corpus`, `@tiny_base`,
`@instructions`, `@tokenized`, `@cpt`, `@sft`, `@base`), and a later section's references are replaced
by those URIs (llammas_core.refs). Each is also remembered in the store under the identity of its
resolved section, also when its task was Cached, so a flow run alone finds it. The instruction data is built before CPT: MT errors
(an unreachable endpoint, a bad model) then surface in minutes, not after hours of training.
"""

from __future__ import annotations

from prefect import flow

from llammas_core.config import LlammasConfig
from llammas_core.errors import ConfigError
from llammas_core.preflight import PIPELINE_SECTIONS, preflight
from llammas_core.refs import remember, substitute
from tasks.common import one_line_errors, run_namer, tagged
from tasks.corpus import corpus_task
from tasks.evaluate import evaluate_and_publish
from tasks.instructions import instructions_task
from tasks.train import tiny_base_task
from flows.multilingual import language_corpora, language_instructions, language_models
from flows.train import train_stages
from llammas_core.multilingual.compare import with_language_models

@flow(name="pipeline", log_prints=True, flow_run_name=run_namer("pipeline", "config.corpus.language"))
@one_line_errors
def pipeline_flow(config: LlammasConfig) -> str:
    """Every configured stage, in order; returns the URI of the last one's manifest (the evaluation
    report when there is an `evaluate` section)."""
    if all(getattr(config, s) is None for s in ("corpus", "instructions", "train")) and not config.per_language:
        raise ConfigError("the pipeline needs a `corpus`, `instructions` or `train` section, or `languages`")
    preflight(config, PIPELINE_SECTIONS, config.store.endpoint_url, whole_run=True)  # every path and setting, before any long stage
    store, out = config.store, {}
    for name in ("corpus", "english_corpus"):
        corpus = getattr(config, name)
        if corpus is not None:
            out[name] = tagged(corpus_task, "corpus", corpus.language)(store, corpus)
            remember(store.open(), "corpus", corpus, out[name])
    out |= language_corpora(config)  # several target languages: one corpus each, in parallel
    if config.tiny_base is not None:
        corpora = [uri for k, uri in out.items() if k in ("corpus", "english_corpus") or k.startswith("corpus_")]
        out["tiny_base"] = tagged(tiny_base_task, "tiny-base")(store, corpora, config.tiny_base)
        remember(store.open(), "tiny_base", config.tiny_base, out["tiny_base"])
    if config.instructions is not None:
        instructions = substitute(config.instructions, out, "instructions")
        out["instructions"] = tagged(instructions_task, "instructions", instructions.language)(store, instructions)
        remember(store.open(), "instructions", instructions, out["instructions"])
    out |= language_instructions(config, out)  # per language in parallel, then the MuIT mixture: @instructions
    if config.train is not None:
        train = substitute(config.train, out, "train")
        out["base"] = train.model.base
        executor = config.corpus.executor if config.corpus is not None else None
        out |= train_stages(store, train, executor)
        out |= language_models(config, out, executor)  # x-LLaMAs, the uniform-split model (when asked for)
    if config.evaluate is not None:
        evaluate = substitute(config.evaluate, out, "evaluate")
        if config.languages:
            evaluate = with_language_models(evaluate, config.evaluate, out, config.languages)
        language = next((s.language for s in (config.corpus, config.instructions, config.train) if s is not None), None)
        out["report"] = evaluate_and_publish(store, evaluate, None if config.languages else language)
    last = next(k for k in ("report", "sft", "cpt", "instructions", "corpus") if k in out)  # x-LLaMA: no corpus
    return out[last]
