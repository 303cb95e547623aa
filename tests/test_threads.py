"""Models built and loaded in threads side by side, as the per-language instruction stages and the
per-model evaluations do under Prefect's thread pool: no meta weights, no half-imported transformers,
and a seeded tiny model is the same whichever thread built it (llammas_core.threads)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from llammas_core.evaluate.models import load_model
from llammas_core.evaluate.spec import ModelSpec
from llammas_core.train.tiny import tiny_llama, train_tokenizer

TEXTS = ["Tere hommikust, kuidas läheb?", "Good morning, how are you?", "Ilus ilm täna."] * 20


def test_models_built_and_loaded_in_threads_side_by_side(tiny_eval_model):
    tok = train_tokenizer(TEXTS, vocab_size=300)
    spec = ModelSpec(name="m", path=str(tiny_eval_model), device="cpu")

    def build(_):
        return {k: v.clone() for k, v in tiny_llama(tok, seed=7).state_dict().items()}

    def load(_):
        return load_model(spec).model

    with ThreadPoolExecutor(6) as pool:
        built = [pool.submit(build, i) for i in range(3)]
        loaded = [pool.submit(load, i) for i in range(3)]
        built, loaded = [f.result() for f in built], [f.result() for f in loaded]
    for model in loaded:
        assert not any(p.is_meta for p in model.parameters())
        assert torch.equal(next(model.parameters()), next(loaded[0].parameters()))
    alone = build(None)
    for weights in built:  # the seed decides the weights, not which thread drew first
        assert weights.keys() == alone.keys() and all(torch.equal(weights[k], alone[k]) for k in alone)
