"""Translation-task templates, mixture weights/caps/seeding/dedup, and decontamination."""

from __future__ import annotations

from collections import Counter

import pytest

from llammas_core.contamination import NgramIndex, default_eval_files, normalize, read_eval_texts, word_ngrams
from llammas_core.errors import ConfigError
from llammas_core.instructions.config import Component, InstructionsConfig, MixtureConfig, TemplatesConfig
from llammas_core.instructions.mixture import LazyPool, build_mixture, plan
from llammas_core.instructions.templates import XLLAMA_EN, to_messages, translation_record
from tests.conftest import shared_data


def _alpaca(n, prefix="r", language="en"):
    return [{"id": f"{prefix}:{i}", "source": prefix, "language": language, "kind": "alpaca",
             "instruction": f"Instruction number {i} of {prefix}.", "input": "", "output": f"Answer {i}."}
            for i in range(n)]


# --------------------------------------------------------------------------- templates


def test_llammas_templates_shares():
    cfg = TemplatesConfig(style="llammas", p_has_input=0.85, p_target_instruction=0.05, p_reverse=0.25, seed=1)
    recs = [translation_record(f"Source sentence {i}.", f"Sihtlause {i}.", i, "en", "et", "c", cfg) for i in range(4000)]
    n = len(recs)
    ilang = Counter(r["instruction_language"] for r in recs)
    direction = Counter(r["direction"] for r in recs)
    has_input = sum(bool(r["input"]) for r in recs)
    assert abs(ilang["et"] / n - 0.05) < 0.015 and set(ilang) == {"en", "et"}
    assert abs(direction["et-en"] / n - 0.25) < 0.03 and set(direction) == {"en-et", "et-en"}
    assert abs(has_input / n - 0.85) < 0.03
    for r in recs:  # the source text is in the input or inline, the output is the other side
        src, out = ("Source sentence", "Sihtlause") if r["direction"] == "en-et" else ("Sihtlause", "Source sentence")
        assert src in (r["input"] or r["instruction"]) and r["output"].startswith(out)
        assert r["source"] == "c" and r["template"]
    et = next(r for r in recs if r["instruction_language"] == "et")
    assert "keel" in et["instruction"]  # an Estonian instruction
    # deterministic per (seed, index)
    assert translation_record("A b c.", "D e f.", 7, "en", "et", "c", cfg) == translation_record("A b c.", "D e f.", 7, "en", "et", "c", cfg)


def test_xllama_templates_english_to_x_only():
    assert len(set(XLLAMA_EN)) == 33
    cfg = TemplatesConfig(style="xllama", p_reverse=0.5, p_target_instruction=0.5)
    recs = [translation_record(f"Sentence {i}.", f"Lause {i}.", i, "en", "et", "wm", cfg) for i in range(500)]
    assert {r["direction"] for r in recs} == {"en-et"} and {r["instruction_language"] for r in recs} == {"en"}
    assert all("Estonian" in r["instruction"] and r["input"].startswith("Sentence") for r in recs)
    assert len({r["template"] for r in recs}) == 33
    # x-LLM data/translation/translation.py: train record k takes instruction k % 33, English names
    assert recs[0]["instruction"] == "Translate the following sentences from English to Estonian."
    assert recs[34]["instruction"] == "What do the following sentences mean in Estonian?"
    assert recs[32]["instruction"] == "Can you reveal the Estonian translation of the forthcoming sentences?"
    assert (recs[7]["input"], recs[7]["output"], recs[7]["template"]) == ("Sentence 7.", "Lause 7.", "xllama-7")


def test_prompts_in_record_language():
    en = to_messages({"id": "a", "kind": "alpaca", "language": "en", "instruction": "Add.", "input": "2+2", "output": "4"}, 0)
    assert en[0]["role"] == "user" and "Add." in en[0]["content"] and "2+2" in en[0]["content"]
    assert en[1] == {"role": "assistant", "content": "4"}
    ets = [to_messages({"id": "x", "kind": "alpaca", "language": "et", "instruction": f"Liida {i}.", "input": "2+2",
                        "output": "4"}, 0)[0]["content"] for i in range(300)]
    assert any("Sisend:" in u for u in ets) and not any("Input:" in u for u in ets)
    # x-LLaMA (style alpaca): instruction and input stay apart for the `### Input:` block
    rec = {"id": "a", "kind": "alpaca", "language": "en", "instruction": " Add. ", "input": "2+2", "output": "4"}
    assert to_messages(rec, 0, style="alpaca") == [{"role": "user", "content": "Add.", "input": "2+2"},
                                                  {"role": "assistant", "content": "4"}]
    assert to_messages({**rec, "input": " "}, 0, style="alpaca")[0] == {"role": "user", "content": "Add."}


# --------------------------------------------------------------------------- mixture


def test_plan_caps_and_weights():
    comps = [Component(name="a", pool="A", max_records=30), Component(name="b", pool="B", weight=3),
             Component(name="c", pool="C", weight=1), Component(name="d", pool="D")]
    got = plan(comps, {"A": 100, "B": 1000, "C": 1000, "D": 7}, total=137)
    assert got == {"a": 30, "d": 7, "b": 75, "c": 25}
    assert plan([Component(name="a", pool="A", max_records=500)], {"A": 20}, None) == {"a": 20}
    with pytest.raises(ConfigError):
        plan([Component(name="a", pool="A", max_records=50), Component(name="b", pool="B", weight=1)],
             {"A": 100, "B": 100}, total=10)


def test_mixture_counts_seeding_and_shortfall():
    pools = {"en": _alpaca(200, "en"), "et": _alpaca(100, "et", "et"),
             "tt": LazyPool(1000, lambda i: translation_record(f"Sentence {i} here.", f"Lause {i} siin.", i, "en", "et",
                                                               "bx", TemplatesConfig()))}
    cfg = MixtureConfig(total=300, seed=3, components=[
        Component(name="english", pool="en", weight=1), Component(name="estonian", pool="et", weight=1),
        Component(name="translation", pool="tt", max_records=50)])
    rows, stats = build_mixture(pools, cfg)
    by = Counter(r["component"] for r in rows)
    assert by == {"english": 125, "estonian": 100, "translation": 50}  # estonian has only 100 of its 125
    assert stats["estonian"].shortfall == 25 and stats["translation"].not_sampled == 950
    assert all(isinstance(r["messages"], list) and r["messages"][-1]["role"] == "assistant" for r in rows)
    rows2, _ = build_mixture(pools, cfg)
    assert [r["id"] for r in rows] == [r["id"] for r in rows2]  # seeded
    rows3, _ = build_mixture(pools, cfg.model_copy(update={"seed": 4}))
    assert {r["id"] for r in rows3 if r["component"] == "english"} != {r["id"] for r in rows if r["component"] == "english"}


def test_exact_dedup_across_components():
    a = _alpaca(10, "a")
    b = [dict(r, id=f"b:{i}") for i, r in enumerate(_alpaca(10, "a"))][:4] + _alpaca(3, "b")
    removed = []
    rows, stats = build_mixture({"a": a, "b": b}, MixtureConfig(), on_removed=lambda r, c, why: removed.append(why))
    assert len(rows) == 13 and stats["b"].removed == {"duplicate": 4} and removed == ["duplicate"] * 4


def test_config_rejects_bad_mixtures():
    base = {"sources": [{"name": "s", "paths": ["x.json"]}]}
    with pytest.raises(ValueError, match="unknown pool"):
        InstructionsConfig.model_validate({**base, "mixture": {"components": [{"name": "a", "pool": "nope"}]}})
    with pytest.raises(ValueError, match="total"):
        InstructionsConfig.model_validate({**base, "mixture": {"components": [{"name": "a", "pool": "s", "weight": 1}]}})
    with pytest.raises(ValueError, match="not both"):
        Component(name="a", pool="s", weight=1, max_records=3)
    with pytest.raises(ValueError, match="translator"):
        InstructionsConfig.model_validate({"sources": [{"name": "s", "paths": ["x"], "translate": True}]})


# --------------------------------------------------------------------------- decontamination

EVAL = ["The quick brown fox jumps over the lazy dog near the quiet river bank today.",
        "Ese oli mullikilesse mässitud."]


def test_ngram_index_self_made(tmp_path):
    (tmp_path / "eval.jsonl").write_text('{"premise": "%s", "choice1": "%s", "label": 0}\n' % tuple(EVAL))
    idx = NgramIndex(8)
    assert idx.add_file(tmp_path / "eval.jsonl") == 2
    assert normalize("THE quick, brown -- fox!") == "the quick brown fox"
    assert idx.overlap("the QUICK brown fox jumps over the lazy dog, near the quiet river bank today") == 1.0
    assert idx.overlap("A completely different sentence about cooking potatoes with dill and butter.") == 0.0
    planted = "Here is a long answer about many things. " * 5 + EVAL[0] + " And it goes on for a while after that."
    assert idx.overlap(planted) < 0.5 and idx.contaminated(planted, 0.5)  # caught sentence by sentence
    assert idx.contaminated("Ese oli mullikilesse mässitud!")  # short items are matched whole
    assert not idx.contaminated("Ese oli mullikilesse mässitud ja siis kaoti ära kusagile mujale metsa taha.")
    assert word_ngrams("two words", 8) == []


def _planted_pools():
    pools = {"alpaca": _alpaca(30)}
    return pools


def test_decontamination_removes_planted_flores():
    root = shared_data("flores_sib200")
    files = default_eval_files(root.parent)
    assert any("flores" in str(f) for f in files) and any("xcopa" in str(f) for f in files)
    idx = NgramIndex(8)
    for f in files:
        idx.add_file(f)
    flores_et = [t for t in read_eval_texts(root / "parallel" / "devtest.est_Latn")][:5]
    flores_en = [t for t in read_eval_texts(root / "parallel" / "dev.eng_Latn")][:5]
    recs = _alpaca(40)
    for i, s in enumerate(flores_en):  # planted in outputs of English records
        recs[i]["output"] = f"Sure. {s} I hope this helps."
    for i, s in enumerate(flores_et):  # and as translation-task inputs
        recs[10 + i]["input"] = s
    rows, stats = build_mixture({"alpaca": recs}, MixtureConfig(), index=idx)
    assert stats["alpaca"].removed == {"contaminated": 10} and len(rows) == 30
    assert not any(s in r["messages"][1]["content"] for r in rows for s in flores_en)
