"""loglik.py: shared-context, token-budget batched log-likelihoods give lm-eval's per-request numbers.

The reference is lm-eval's own HFLM loop with one request per forward (batch_size 1, no logits
cache) on the same tiny random Llama. Requests cover an XCOPA-like item (two multi-token choices),
two Belebele-like items on one passage (four one-token choices each: the passage is shared across
items), an unrelated request, and one longer than the window (HFLM's left truncation).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def loaded(tiny_eval_model):
    from llammas_core.evaluate.models import load_model
    from llammas_core.evaluate.spec import ModelSpec

    return load_model(ModelSpec(name="tiny", path=str(tiny_eval_model), chat=False, batch_size=4, device="cpu"))


def _requests(tok) -> list:
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    passage = "P: Tallinn on Eesti pealinn ja suurim linn, mis asub Soome lahe kaldal. " * 3
    items = [
        ("Mees kukkus maha seetõttu", [" ta sai haiget.", " ta naeris väga kõvasti."]),
        (passage + "\nQ: Mis on Eesti pealinn?\nAnswer:", [" A", " B", " C", " D"]),
        (passage + "\nQ: Kus asub Tallinn?\nAnswer:", [" A", " B", " C", " D"]),
        ("Ilm oli ilus", [" ja päike paistis"]),
    ]
    reqs = [((c, x), bos + enc(c), enc(x)) for c, conts in items for x in conts]
    long_ctx = bos + enc("sõna " * 200)
    reqs.append((("long", " lõpp"), long_ctx, enc(" lõpp")))
    return reqs


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_shared_rows_match_one_request_at_a_time(loaded, attn):
    from lm_eval.models.huggingface import HFLM

    from llammas_core.evaluate.loglik import _rows, batched_hflm

    loaded.model.set_attn_implementation(attn)
    try:
        reqs = _requests(loaded.tokenizer)
        ref_lm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=1, device="cpu",
                      logits_cache=False, max_length=128)
        ref = ref_lm._loglikelihood_tokens(reqs, disable_tqdm=True)
        lm = batched_hflm(loaded.model, loaded.tokenizer, batch_size=4, device="cpu", token_budget=600)
        lm._max_length = 128  # the long request goes through HFLM's left truncation
        ours = lm._loglikelihood_tokens(reqs, disable_tqdm=True)
        assert lm._share is True  # the self-check passed: rows really were shared
        for (lp, greedy), (rlp, rgreedy) in zip(ours, ref):
            assert lp == pytest.approx(rlp, rel=1e-5, abs=1e-5)
            assert greedy == rgreedy
        # the sharing is real: the passage once for both Belebele items, the XCOPA context once
        fits = list(range(len(reqs) - 1))
        shared = sum(len(r["tokens"]) for r in _rows(reqs, fits, True, 1024))
        alone = sum(len(r["tokens"]) for r in _rows(reqs, fits, False, 1024))
        assert shared < 0.35 * alone
        assert len(_rows(reqs, fits, True, 1024)) == 3  # XCOPA item, the passage, the unrelated one
    finally:
        loaded.model.set_attn_implementation("sdpa")


def test_run_task_uses_shared_scoring_and_budget_batches(loaded, tmp_path):
    from llammas_core.evaluate.engine import run_task
    from llammas_core.evaluate.loglik import _batches, _rows
    from llammas_core.evaluate.spec import TaskSpec
    from tests.conftest import REPO

    res = run_task(loaded, TaskSpec(name="xcopa_et", kind="xcopa", data=str(REPO / "demo/eval/xcopa_et")),
                   tmp_path)
    assert res.samples and loaded.extra["lm_eval_lm"]._share is True
    # token budget: no batch over budget unless one row alone is
    rows = [{"tokens": [0] * n, "reads": []} for n in (50, 40, 30, 30, 10, 10, 10, 10, 10)]
    sizes = lambda bs: [[len(r["tokens"]) for r in b] for b in bs]  # noqa: E731
    assert sizes(_batches(rows, max_rows=4, budget=90, max_pad=1.0)) == [[50], [40, 30], [30, 10, 10], [10, 10, 10]]
    assert sizes(_batches(rows, max_rows=2, budget=10_000, max_pad=1.0)) == [[50, 40], [30, 30], [10, 10], [10, 10],
                                                                             [10]]
    # and no row padded by more than max_pad of its batch's longest (the default: 10%)
    rows = [{"tokens": [0] * n, "reads": []} for n in (52, 50, 47, 46, 42, 40, 40)]
    assert sizes(_batches(rows, max_rows=32, budget=10_000)) == [[52, 50, 47], [46, 42], [40, 40]]


def test_strings_tokenized_ahead_are_lm_evals(loaded):
    """The batch-tokenized strings give exactly the ids of lm-eval's own per-request `_encode_pair`
    (trailing spaces moved to the continuation, an empty context, a context that starts with BOS)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from llammas_core.evaluate.loglik import batched_hflm

    tok = loaded.tokenizer
    pairs = [("Mees kukkus maha seetõttu", " ta sai haiget."), ("Mees kukkus maha seetõttu", " ta naeris."),
             ("Küsimus: mis värvi on taevas?  ", "sinine"), ("", "Ainult jätk"),
             (tok.bos_token + "Algus", " ja lõpp")]
    reqs = [Instance(request_type="loglikelihood", doc={}, arguments=p, idx=i) for i, p in enumerate(pairs)]
    seen = {}

    def capture(lm):
        def fake(requests, disable_tqdm=False, override_bs=None):
            seen[type(lm).__name__] = [(c, x) for _, c, x in requests]
            return [(0.0, False)] * len(requests)
        lm._loglikelihood_tokens = fake
        return lm

    ours = capture(batched_hflm(loaded.model, tok, batch_size=4, device="cpu"))
    ref = capture(HFLM(pretrained=loaded.model, tokenizer=tok, batch_size=1, device="cpu"))
    encoded = ours._encode_all(pairs)
    ours.loglikelihood(reqs, disable_tqdm=True)
    ref.loglikelihood(reqs, disable_tqdm=True)
    assert seen["LlammasHFLM"] == seen["HFLM"]
    assert len(encoded) == 8 and ours._encoded is None  # 2 strings a pair, the shared context once, dropped after
