"""Bootstrap CIs and paired deltas, the report files, and the contamination check (no models needed)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from llammas_core.evaluate import metrics
from llammas_core.evaluate.bootstrap import align, bootstrap_ci, compare, metric_stat, resample_indices
from llammas_core.evaluate.contamination_check import TrainingSource, lineage_sources, overlap_table
from llammas_core.evaluate.report import write_report
from llammas_core.stage import run_stage
from llammas_core.store import LocalStore


def _acc_samples(p: float, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"doc_id": i, "acc": float(v)} for i, v in enumerate(rng.random(n) < p)]


def test_bootstrap_is_deterministic_under_a_seed():
    a, b = _acc_samples(0.6, 300, 1), _acc_samples(0.5, 300, 2)
    r1 = compare("xcopa", "t", {"base": b, "m": a}, ["acc"], "base", samples=500, seed=7)
    r2 = compare("xcopa", "t", {"base": b, "m": a}, ["acc"], "base", samples=500, seed=7)
    r3 = compare("xcopa", "t", {"base": b, "m": a}, ["acc"], "base", samples=500, seed=8)
    assert r1 == r2
    assert r1 != r3  # another seed, other resamples (same point estimates)
    assert [r["score"] for r in r1] == [r["score"] for r in r3]
    # a task's resamples do not depend on which other tasks run
    assert np.array_equal(resample_indices(10, 5, 7, "t"), resample_indices(10, 5, 7, "t"))
    assert not np.array_equal(resample_indices(10, 5, 7, "t"), resample_indices(10, 5, 7, "u"))


def test_paired_bootstrap_finds_a_planted_gap_and_not_a_missing_one():
    n = 400
    base = _acc_samples(0.5, n, 3)
    # planted: the model answers 60 more items right than the base (same items otherwise)
    wrong = [i for i, s in enumerate(base) if s["acc"] == 0.0][:60]
    better = [dict(s, acc=1.0) if i in wrong else dict(s) for i, s in enumerate(base)]
    # no gap: same accuracy, different items (swap 30 right for 30 wrong)
    right = [i for i, s in enumerate(base) if s["acc"] == 1.0][:30]
    same = [dict(s, acc=1.0 - s["acc"]) if i in wrong[:30] or i in right else dict(s) for i, s in enumerate(base)]
    rows = compare("xcopa", "planted", {"base": base, "better": better, "same": same}, ["acc"], "base",
                   samples=1000, seed=1)
    by = {r["model"]: r for r in rows}
    assert by["base"]["delta"] is None and by["base"]["p_value"] is None
    g = by["better"]
    assert g["delta"] == pytest.approx(60 / n)
    assert 0 < g["delta_low"] <= g["delta"] <= g["delta_high"]
    assert g["p_value"] < 0.01
    s = by["same"]
    assert s["delta"] == pytest.approx(0.0)
    assert s["delta_low"] < 0 < s["delta_high"]
    assert s["p_value"] > 0.5
    # each model's own CI covers its score
    for r in rows:
        assert r["ci_low"] <= r["score"] <= r["ci_high"]


def test_corpus_metric_resampling_equals_sacrebleu_on_each_resample():
    hyps = ["the cat sat on the mat", "a dog ran home", "hello there world", "it rains today"] * 10
    refs = ["the cat sat on a mat", "the dog ran home", "hello world", "today it rains"] * 10
    for metric in ("bleu", "chrf"):
        stats = metrics.sentence_stats(metric, hyps, refs)
        recs = [{"doc_id": i, "generation": h, "reference": r, "stats": {metric: s}}
                for i, (h, r, s) in enumerate(zip(hyps, refs, stats))]
        stat = metric_stat("flores", metric, recs)
        for row in resample_indices(len(recs), 3, 0, metric):
            sub = [recs[i] for i in row]
            m = metrics.sacrebleu_metric(metric)
            expected = m.corpus_score([s["generation"] for s in sub], [[s["reference"] for s in sub]]).score
            assert stat(row) == pytest.approx(expected, abs=1e-9)
        ci, _ = bootstrap_ci(stat, resample_indices(len(recs), 200, 0, metric))
        assert ci.low <= ci.value <= ci.high


def test_align_pairs_by_doc_id_and_refuses_mismatches():
    a = [{"doc_id": 1, "acc": 1.0}, {"doc_id": 0, "acc": 0.0}]
    b = [{"doc_id": 0, "acc": 1.0}, {"doc_id": 1, "acc": 1.0}]
    out, how = align({"a": a, "b": b})
    assert how == "doc_id" and [s["doc_id"] for s in out["b"]] == [1, 0]
    # a group task: doc ids repeat across subtasks, items are (task, doc_id)
    g1 = [{"task": t, "doc_id": 0, "acc": float(i)} for i, t in enumerate(("x", "y"))]
    g2 = list(reversed(g1))
    out, how = align({"a": g1, "b": g2})
    assert how == "doc_id" and [s["task"] for s in out["b"]] == ["x", "y"]
    with pytest.raises(ValueError, match="other items"):
        align({"a": a, "b": [{"doc_id": 0, "acc": 1.0}, {"doc_id": 2, "acc": 1.0}]})


def test_report_files_are_self_contained_with_table_cis_and_deltas(tmp_path):
    rows = compare("xcopa", "xcopa_et", {"base": _acc_samples(0.5, 100, 4), "sft": _acc_samples(0.7, 100, 5)},
                   ["acc"], "base", samples=200, seed=3)
    hyps, refs = ["tere maailm", "kass istub"] * 5, ["tere, maailm", "kass istus"] * 5
    recs = [{"doc_id": i, "generation": h, "reference": r, "stats": {"chrf": s}}
            for i, (h, r, s) in enumerate(zip(hyps, refs, metrics.sentence_stats("chrf", hyps, refs)))]
    rows += compare("flores", "flores_en-et", {"base": recs, "sft": recs[::-1]}, ["chrf"], "base", samples=200)
    contamination = [{"eval_set": "xcopa_et", "source": "sft/abc", "source_kind": "sft", "via": "sft/abc",
                      "docs_sampled": 10, "texts": 40, "texts_any_overlap": 3, "texts_contaminated": 2,
                      "fraction_contaminated": 0.05, "mean_overlap": 0.04}]
    context = {"baseline": "base", "samples": 200, "seed": 3, "confidence": 0.95,
               "models": [{"name": "base", "path": "/m/base", "identity": "folder:1"},
                          {"name": "sft", "path": "/m/sft", "identity": "folder:2"}],
               "signatures": {"flores_en-et chrf": "nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.6.0"},
               "contamination": {"n": 8, "threshold": 0.5},
               "not_scored": [{"task": "flores_en-et", "model": m, "metric": "comet", "reason": "no comet_model given"}
                              for m in ("base", "sft")]}
    files = write_report(tmp_path, "demo <eval>", rows, context, contamination)
    for name in ("report.md", "report.html", "scores.png", "comparison.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report.md").read_text()
    sft_acc = next(r for r in rows if r["model"] == "sft" and r["metric"] == "acc")
    line = next(l for l in md.splitlines() if l.startswith("| xcopa_et | acc | sft |"))
    assert f"{sft_acc['score']:.3f}" in line
    assert f"[{sft_acc['ci_low']:.3f}, {sft_acc['ci_high']:.3f}]" in line
    assert f"{sft_acc['delta']:+.3f}" in line and f"{sft_acc['p_value']:.3g}" in line
    assert "| Δ vs base |" in md.splitlines()[md.splitlines().index(next(l for l in md.splitlines() if l.startswith("| task")))]
    assert "sft/abc" in md and "![scores" in md
    assert "| flores_en-et | comet | base, sft | no comet_model given |" in md  # skipped, with its reason
    html = (tmp_path / "report.html").read_text()
    assert "<style>" in html and 'src="data:image/png;base64,' in html
    assert not re.search(r"https?://", html)
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)  # nothing fetched from anywhere
    assert "demo &lt;eval&gt;" in html  # escaped
    assert json.loads((tmp_path / "comparison.json").read_text())["rows"] == json.loads(json.dumps(rows))
    assert files["plot"] == "scores.png"


def test_contamination_finds_planted_overlap_through_the_lineage(tmp_path):
    premises = ["Mees jalutas eile õhtul kaua aega pargis koos oma suure koeraga.",
                "Tüdruk luges raamatukogus terve päeva vanu ajalehti ja ajakirju.",
                "Poiss jooksis hommikul staadionil kümme ringi järjest ilma pausita.",
                "Vanaema küpsetas pühapäeval köögis õunakooki kogu suurele perele.",
                "Õpetaja kirjutas tahvlile pika ülesande, mida keegi ei mõistnud.",
                "Autojuht peatus ristmikul, sest foor näitas juba mõnda aega punast.",
                "Kass magas päikesepaistelisel aknalaual terve pärastlõuna rahulikult.",
                "Naabrid korraldasid laupäeval hoovis suure grillipeo kõigile elanikele."]
    eval_items = [{"premise": p, "choice1": "Ta väsis.", "choice2": f"See juhtus {i}. korda.",
                   "question": "effect", "label": 0} for i, p in enumerate(premises)]
    eval_file = tmp_path / "xcopa.jsonl"
    eval_file.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in eval_items) + "\n")
    # the SFT data carries two premises verbatim inside longer answers; the CPT corpus carries none
    sft = tmp_path / "sft.jsonl"
    chats = [{"messages": [{"role": "user", "content": "Kirjuta lugu."},
                           {"role": "assistant", "content": f"Lugu algab nii. {eval_items[i]['premise']} Lõpp."}]}
             for i in (2, 5)]
    chats += [{"messages": [{"role": "user", "content": f"Küsimus {i}"}, {"role": "assistant", "content": "Vastus."}]}
              for i in range(20)]
    sft.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in chats) + "\n")
    cpt = tmp_path / "corpus.jsonl"
    cpt.write_text("\n".join(json.dumps({"text": f"Täiesti teine tekst number {i} ilma kattuvuseta siin."})
                             for i in range(30)) + "\n")
    store = LocalStore(tmp_path / "store")
    # stage manifests shaped like the training stages' (phase, data, init_model); CPT trained on the
    # token blocks of a tokenize stage, whose config names the corpora it read
    tok = run_stage(store, "tokenize", {"sources": [f"file:{cpt}:x"], "text_field": "text"}, [],
                    lambda ctx: {"blocks": 1}, tmp_path / "w")
    c = run_stage(store, "cpt", {"t": 1}, [tok.manifest], lambda ctx: {"phase": "cpt", "data": [tok.manifest["id"]],
                                                                         "init_model": "hub/base@"}, tmp_path / "w")
    s = run_stage(store, "sft", {"t": 2}, [c.manifest], lambda ctx: {"phase": "sft", "data": [f"file:{sft}:y"],
                                                                       "init_model": c.manifest["id"]}, tmp_path / "w")
    sources = lineage_sources(s.manifest_uri)
    assert [(x.kind, x.ref) for x in sources] == [("sft", str(sft)), ("cpt", str(cpt))]
    from llammas_core.evaluate.contamination_check import eval_texts

    rows = overlap_table({"xcopa": eval_texts(str(eval_file))}, sources, n=8, threshold=0.5, sample_docs=1000,
                         max_scan=10000, seed=0)
    by = {r["source_kind"]: r for r in rows}
    # 8 premises + 8 three-word choices (matched whole) are checked; 2-word texts and "effect" are too short
    assert by["sft"]["texts"] == 16 and by["cpt"]["texts"] == 16
    assert by["sft"]["texts_contaminated"] == 2
    assert by["sft"]["fraction_contaminated"] == pytest.approx(2 / 16)
    assert by["cpt"]["texts_contaminated"] == 0 and by["cpt"]["texts_any_overlap"] == 0
    # a source named in the config (shape unknown: every string field of every record) finds them too
    other = overlap_table({"xcopa": eval_texts(str(eval_file))}, [TrainingSource(str(sft), "other", "cfg", "config")],
                          n=8, threshold=0.5, sample_docs=1000, max_scan=10000, seed=0)
    assert other[0]["texts_contaminated"] == 2
    # the sample size bounds what is read: a 1-document sample of the SFT data may miss both plants
    small = overlap_table({"xcopa": eval_texts(str(eval_file))}, [TrainingSource(str(sft), "sft", "x", "t")],
                          n=8, threshold=0.5, sample_docs=1, max_scan=1, seed=0)
    assert small[0]["docs_sampled"] == 1
