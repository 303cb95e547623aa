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
                      "docs_sampled": 10, "docs_scanned": 10, "docs_total": 10, "scan_complete": True, "items": 40,
                      "items_checked": 40, "items_any_overlap": 3, "items_contaminated": 2,
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
    from llammas_core.evaluate.report import fmt_p

    assert f"{sft_acc['delta']:+.3f}" in line and f"| {fmt_p(sft_acc['p_value'], 200)} |" in line
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
    items = [[r["premise"], r["choice1"], r["choice2"], r["question"]] for r in eval_items]  # the scored items
    rows = overlap_table({"xcopa": items}, sources, n=8, threshold=0.5, sample_docs=1000, max_scan=10000, seed=0)
    by = {r["source_kind"]: r for r in rows}
    # rows count scored items (8), not the texts of the file; each item has its premise long enough to check
    assert by["sft"]["items"] == 8 and by["cpt"]["items"] == 8 and by["sft"]["items_checked"] == 8
    assert by["sft"]["items_contaminated"] == 2
    assert by["sft"]["fraction_contaminated"] == pytest.approx(2 / 8)
    assert by["cpt"]["items_contaminated"] == 0 and by["cpt"]["items_any_overlap"] == 0
    # coverage: every document was read, so the totals are exact
    assert (by["sft"]["docs_scanned"], by["sft"]["docs_total"], by["sft"]["scan_complete"]) == (22, 22, True)
    # a source named in the config (shape unknown: every string field of every record) finds them too
    other = overlap_table({"xcopa": items}, [TrainingSource(str(sft), "other", "cfg", "config")],
                          n=8, threshold=0.5, sample_docs=1000, max_scan=10000, seed=0)
    assert other[0]["items_contaminated"] == 2
    # max_scan bounds what is read, and the row says so: 5 of 22 documents scanned, the total unknown
    small = overlap_table({"xcopa": items}, [TrainingSource(str(sft), "sft", "x", "t")],
                          n=8, threshold=0.5, sample_docs=1, max_scan=5, seed=0)
    assert (small[0]["docs_sampled"], small[0]["docs_scanned"], small[0]["scan_complete"]) == (1, 5, False)
    from llammas_core.evaluate.report import contamination_table

    table = contamination_table(small + rows)
    assert table[0]["docs scanned (of total)"] == "first 5 of more (total unknown)"
    assert table[1]["docs scanned (of total)"] == "22 of 22" and table[1]["items scored"] == "8"
    assert table[1]["items contaminated"] == "2"


def test_delta_interval_and_p_value_agree_on_every_resample_set():
    """Defect 5: the Δ CI excluded 0 while p = 0.0719. Now both come from one distribution: for
    random delta distributions (centred anywhere, ties at 0 included), the CI excludes 0 <=> p < alpha."""
    from llammas_core.evaluate.bootstrap import delta_interval, significant

    rng = np.random.default_rng(0)
    checked = excluded = 0
    for trial in range(3000):
        b = int(rng.integers(20, 400))
        conf = float(rng.choice([0.9, 0.95, 0.99]))
        d = np.round(rng.normal(rng.uniform(-3.5, 3.5), 1.0, b), int(rng.integers(0, 3)))  # rounding makes ties at 0
        lo, hi, p = delta_interval(d, conf)
        assert lo <= hi and 0.0 <= p <= 1.0
        assert (lo > 0 or hi < 0) == significant(p, conf), (trial, lo, hi, p, conf)
        checked += 1
        excluded += lo > 0 or hi < 0
    assert 0.2 * checked < excluded < 0.8 * checked  # both outcomes are exercised


def test_compare_rows_never_contradict_themselves():
    """Defect 5 as the report saw it (CI [0.001, 0.373] but p = 0.0719, no mark): over many paired
    comparisons near the edge of significance, a row's Δ interval excludes 0 exactly when it is marked."""
    from llammas_core.evaluate.report import table_rows

    marked = 0
    for seed in range(60):
        base, sft = _acc_samples(0.5, 80, seed), _acc_samples(0.62, 80, seed + 1000)
        rows = compare("xcopa", "xcopa_et", {"base": base, "sft": sft}, ["acc"], "base", samples=300, seed=seed)
        r = next(x for x in rows if x["model"] == "sft")
        t = next(x for x in table_rows(rows, 0.95, 300) if x["model"] == "sft")
        excludes = r["delta_low"] > 0 or r["delta_high"] < 0
        assert excludes == (t["sig."] == "*") == (r["p_value"] < 0.05), (seed, r)
        marked += excludes
    assert 0 < marked < 60  # both outcomes occur


def test_p_values_print_as_less_than_and_chance_levels_show():
    from llammas_core.evaluate.report import fmt_p, table_rows

    assert fmt_p(0.000999) == "< 0.001" and fmt_p(0.0) == "< 0.001" and fmt_p(0.0, 1000) == "< 0.001"
    assert fmt_p(0.0, 200) == "< 0.005"  # 200 resamples cannot resolve below 1/200
    assert fmt_p(0.0719) == "0.072" and fmt_p(None) == ""
    rows = compare("xcopa", "xcopa_et", {"base": _acc_samples(0.5, 60, 4), "sft": _acc_samples(0.6, 60, 5)},
                   ["acc"], "base", samples=100, seed=3)
    bb = {m: [{**x, "acc_norm": x["acc"]} for x in _acc_samples(0.3, 60, k)] for m, k in (("base", 6), ("sft", 7))}
    rows += compare("belebele", "belebele_et", bb, ["acc", "acc_norm"], "base", samples=100, seed=3)
    chance = {(r["task"], r["metric"]): r["chance"] for r in table_rows(rows)}
    assert chance == {("xcopa_et", "acc"): "0.500", ("belebele_et", "acc"): "0.250",
                      ("belebele_et", "acc_norm"): "0.250"}


def test_markdown_and_html_carry_the_same_sections_and_html_left_aligns_paths(tmp_path):
    rows = compare("xcopa", "xcopa_et", {"base": _acc_samples(0.5, 40, 4), "sft": _acc_samples(0.7, 40, 5)},
                   ["acc"], "base", samples=100, seed=3)
    context = {"baseline": "base", "samples": 100, "seed": 3, "confidence": 0.95,
               "models": [{"name": "base", "path": "/m/base", "identity": "folder:1"},
                          {"name": "sft", "path": "/m/sft", "identity": "folder:2"}],
               "signatures": {"xcopa_et lm_eval": "lm-eval 0.4.13"},
               "contamination": {"n": 8, "threshold": 0.5, "max_scan": 200000, "sample_docs": 20000},
               "not_scored": [{"task": "xcopa_et", "model": "sft", "metric": "x", "reason": "why"}],
               "results": [{"model": "sft", "task": "xcopa_et", "uri": "file:///s/eval/abc/manifest.json"}]}
    crows = [{"eval_set": "xcopa_et", "source": "sft/abc", "source_kind": "sft", "via": "sft/abc", "docs_sampled": 10,
              "docs_scanned": 200000, "docs_total": 900000, "scan_complete": False, "items": 40, "items_checked": 40,
              "items_any_overlap": 3, "items_contaminated": 2, "fraction_contaminated": 0.05, "mean_overlap": 0.04}]
    write_report(tmp_path, "t", rows, context, crows)
    md = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    md_titles = re.findall(r"^## (.+)$", md, re.M)
    html_titles = [t.replace("&amp;", "&") for t in re.findall(r"<h2>(.+?)</h2>", page)]
    assert md_titles == html_titles
    assert {"Models", "Results", "Not scored", "Signatures", "Result stages"} <= set(md_titles)
    assert "file:///s/eval/abc/manifest.json" in page
    assert '<td class="num">/m/base</td>' not in page and "<td>/m/base</td>" in page  # paths left-aligned
    assert "n-gram size 8" in md and "200000 of 900000" in md and "| items scored |" in md
    assert "percentile bootstrap" in md and "excludes 0 exactly when p" in md  # the method, stated


def test_belebele_few_shot_takes_the_first_n_like_lm_eval(tmp_path):
    """lm-eval's belebele uses `sampler: first_n`; XCOPA its default seeded sampler over validation."""
    from lm_eval.api.samplers import ContextSampler, FirstNSampler
    from lm_eval.tasks import TaskManager

    from llammas_core.evaluate.lmeval import build_config
    from llammas_core.evaluate.spec import TaskSpec

    head = "link,question_number,flores_passage,question,mc_answer1,mc_answer2,mc_answer3,mc_answer4,correct_answer_num\n"
    for split, n in (("test", 3), ("dev", 6)):
        (tmp_path / f"est_Latn-{split}.csv").write_text(head + "".join(
            f"u,{i},Lõik {split} {i}.,Küsimus {i}?,a,b,c,d,{1 + i % 4}\n" for i in range(n)))
    task = TaskSpec(name="bb", kind="belebele", data=str(tmp_path), num_fewshot=2)
    tm = TaskManager(include_defaults=False)
    bb = tm.load([build_config(task)])["tasks"]["bb"]
    assert isinstance(bb.sampler, FirstNSampler)
    shots = bb.sampler.sample(2, eval_doc=None)
    assert [s["question"] for s in shots] == ["Küsimus 0?", "Küsimus 1?"]  # dev split, first two, in order
    assert bb.fewshot_cfg.split == "validation"
