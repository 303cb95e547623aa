"""The main job: target-language corpus (+ English corpus) -> (tiny base) -> tokenize -> cpt -> sft."""

from __future__ import annotations

from prefect import flow

from llammas_core.config import LlammasConfig
from llammas_core.errors import ConfigError
from llammas_core.pipeline import resolve_refs
from tasks.corpus import corpus_task
from tasks.train import cpt_task, sft_task, tiny_base_task, tokenize_task


@flow(name="pipeline", log_prints=True)
def pipeline_flow(config: LlammasConfig) -> str:
    """Curate the corpora, then train; returns the final model's manifest URI (or the corpus's
    when the config has no train section)."""
    if config.corpus is None:
        raise ConfigError("the pipeline needs a `corpus` section")
    outputs = {"@corpus": corpus_task(config.store, config.corpus)}
    if config.english_corpus is not None:
        outputs["@english_corpus"] = corpus_task(config.store, config.english_corpus)
    if config.train is None:
        return outputs["@corpus"]
    if config.tiny_base is not None:
        corpora = [outputs[k] for k in ("@corpus", "@english_corpus") if k in outputs]
        outputs["@tiny_base"] = tiny_base_task(config.store, corpora, config.tiny_base)
    train = resolve_refs(config.train, outputs)
    if train.cpt.enabled:
        outputs["@tokenized"] = tokenize_task(config.store, train, config.corpus.executor)
        outputs["@cpt"] = cpt_task(config.store, train, outputs["@tokenized"])
    if train.sft.enabled:
        outputs["@sft"] = sft_task(config.store, train, outputs.get("@cpt"))
    return outputs.get("@sft") or outputs["@cpt"]
