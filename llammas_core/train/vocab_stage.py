"""The `vocab` stage: the base model with its vocabulary extended for the target language (optional).

When `model.extend_vocab.enabled`, every training stage starts from this stage's model instead of
`model.base`: `with_extended_vocab` runs it (or reuses it: it is content-addressed on the base model,
the target-language corpus and the extension settings) and returns the config with `model.base` set to
its manifest. The tokenize stage then uses the extended tokenizer, CPT trains the new rows (all of them
in full fine-tuning; in LoRA through `trainable_token_indices`, see llammas_vocab.json), and SFT follows.

The new tokens come from the first CPT source (the target-language corpus); every 50th document is
held out to report tokens-per-word fertility before and after (manifest `vocab`).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable

from llammas_core.errors import ConfigError
from llammas_core.stage import StageContext, StageResult, run_stage
from llammas_core.store import Store
from llammas_core.train.config import TrainConfig

HELD_OUT_EVERY = 50


def run_vocab(store: Store, config: TrainConfig, work_root: str | Path, log: Callable[[str], None] = print) -> StageResult:
    from llammas_core.train.cpt_data import iter_texts
    from llammas_core.train.modeling import resolve_model_path
    from llammas_core.train.stage import data_inputs, model_inputs, resolve_base
    from llammas_core.train.vocab import extend_vocabulary_from_config

    vcfg = config.model.extend_vocab
    if not config.cpt.sources:
        raise ConfigError("model.extend_vocab needs cpt.sources: the new tokens come from the target-language corpus")
    source = config.cpt.sources[0]
    manifests, extra = data_inputs([source], store.endpoint_url)
    base_manifests, base_extra = model_inputs(config.model.base, config.model.revision, store.endpoint_url)

    def body(ctx: StageContext) -> dict:
        local, _ = resolve_base(config.model.base, config.model.revision, ctx.work_dir, store.endpoint_url)
        base_dir = local or resolve_model_path(config.model.base, ctx.work_dir / "model-cache")
        docs = list(itertools.islice(iter_texts(source, config.cpt.text_field), vcfg.max_docs + vcfg.max_docs // HELD_OUT_EVERY))
        heldout = docs[::HELD_OUT_EVERY]
        texts = [d for i, d in enumerate(docs) if i % HELD_OUT_EVERY]
        log(f"[vocab] extending {config.model.base} with up to {vcfg.k} tokens from {len(texts):,} documents")
        meta = extend_vocabulary_from_config(vcfg, base_dir, texts, ctx.out_dir / "model", heldout_texts=heldout,
                                             trust_remote_code=config.model.trust_remote_code)
        log(f"[vocab] {len(meta.get('new_token_ids', []))} new tokens; tokens per word "
            f"{meta.get('fertility_before')} -> {meta.get('fertility_after')} on {len(heldout)} held-out documents")
        return {"model": "model", "vocab": meta, "base_model": config.model.base}

    view = {"base": config.model.base, "revision": config.model.revision, "source": source,
            "text_field": config.cpt.text_field, "extend_vocab": vcfg.model_dump(mode="json")}
    return run_stage(store, "vocab", view, manifests + base_manifests, body, work_root, extra_key=extra + base_extra,
                     log=log)


def with_extended_vocab(store: Store, config: TrainConfig, work_root: str | Path,
                        log: Callable[[str], None] = print) -> TrainConfig:
    """The config every training stage uses: unchanged, or starting from the extended-vocabulary model."""
    if not config.model.extend_vocab.enabled:
        return config
    result = run_vocab(store, config, work_root, log)
    model = config.model.model_copy(update={
        "base": result.manifest_uri, "revision": None,
        "extend_vocab": config.model.extend_vocab.model_copy(update={"enabled": False})})
    return config.model_copy(update={"model": model})
