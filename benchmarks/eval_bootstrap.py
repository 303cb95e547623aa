"""Bootstrap cost for the report: summed sentence statistics vs re-scoring each resample with sacrebleu.

The report resamples every (task, model, metric) 1000 times with the same indices for every model.
For BLEU / chrF++ a resample's corpus score is a function of the per-sentence sufficient statistics
summed over the resample (`metrics.sufficient_stats` / `score_from_stats`, what `bootstrap.metric_stat`
uses), so nothing is re-tokenized; the naive way calls `corpus_score` on the resampled sentences.
Both give the same numbers (tests/test_eval_report.py checks it resample by resample).

Data: the kit's FLORES devtest Estonian references (../shared/data) when present, else synthetic
sentences; hypotheses are the references with words dropped at three rates (three "models").

    .venv/bin/python benchmarks/eval_bootstrap.py [--sentences 1012] [--resamples 1000] [--naive 20]

--naive: resamples actually re-scored the naive way; its total is extrapolated to --resamples. Both ways run
in ABBA order with threads pinned to 1; wall and CPU seconds and the load average are printed, and the naive
scores are checked equal to the summed-statistics scores of the same resamples.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
KIT_REFS = REPO.parent / "shared" / "data" / "flores_sib200" / "parallel" / "devtest.est_Latn"


def references(n: int) -> list[str]:
    if KIT_REFS.is_file():
        lines = [ln.strip() for ln in KIT_REFS.read_text(encoding="utf-8").splitlines() if ln.strip()]
    else:
        rng = random.Random(0)
        words = "kass koer maja tee päike vihm linn mets meri saar raamat laps ema isa kool töö".split()
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))) + "." for _ in range(500)]
    return (lines * (n // len(lines) + 1))[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=1012)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--naive", type=int, default=20)
    args = ap.parse_args()

    from _bench import abba, header, pin_threads

    pin_threads(1)
    import numpy as np

    from llammas_core.evaluate import metrics
    from llammas_core.evaluate.bootstrap import compare, resample_indices

    refs = references(args.sentences)
    rng = random.Random(1)
    by_model = {}
    for name, drop in (("base", 0.6), ("cpt", 0.4), ("sft", 0.3)):
        hyps = [" ".join(w for w in r.split() if rng.random() > drop) for r in refs]
        stats = {m: metrics.sentence_stats(m, hyps, refs) for m in ("bleu", "chrf")}
        by_model[name] = [{"doc_id": i, "generation": h, "reference": r,
                           "stats": {m: stats[m][i] for m in stats}} for i, (h, r) in enumerate(zip(hyps, refs))]

    idx = resample_indices(len(refs), args.naive, 1, "bench")

    def ours():
        return compare("flores", "bench", by_model, ["bleu", "chrf"], "base", samples=args.resamples, seed=1)

    def naive_scores():
        out = []
        for recs in by_model.values():
            for metric in ("bleu", "chrf"):
                m = metrics.sacrebleu_metric(metric)
                for row in idx:
                    sub = [recs[i] for i in row]
                    out.append(m.corpus_score([s["generation"] for s in sub], [[s["reference"] for s in sub]]).score)
        return out

    def summed_scores():  # the same resamples as naive_scores, from summed sentence statistics
        out = []
        for recs in by_model.values():
            for metric in ("bleu", "chrf"):
                st = np.array([s["stats"][metric] for s in recs], dtype=float)
                out += [metrics.score_from_stats("flores", metric, st[row].sum(0)) for row in idx]
        return out

    runs = abba({"summed sentence stats (ours)": ours, "sacrebleu corpus_score (naive)": naive_scores})
    rows = runs.outputs("summed sentence stats (ours)")[0]
    fast, fast_cpu = runs.wall("summed sentence stats (ours)") / 2, runs.cpu("summed sentence stats (ours)") / 2
    scale = args.resamples / args.naive
    naive = runs.wall("sacrebleu corpus_score (naive)") / 2 * scale
    naive_cpu = runs.cpu("sacrebleu corpus_score (naive)") / 2 * scale
    ref_scores = runs.outputs("sacrebleu corpus_score (naive)")[0]
    same = all(abs(a - b) < 1e-6 for a, b in zip(summed_scores(), ref_scores))

    cells = len(by_model) * 2 * args.resamples
    print(f"{len(refs)} sentences, 3 models x 2 metrics x {args.resamples} resamples ({cells} corpus scores)")
    print(header(1))
    print(f"{'method':<34}{'wall s':>10}{'CPU s':>10}{'scores/s':>12}{'per CPU-s':>11}")
    print(f"{'summed sentence stats (ours)':<34}{fast:>10.2f}{fast_cpu:>10.2f}{cells / fast:>12.0f}{cells / fast_cpu:>11.0f}")
    print(f"{'sacrebleu corpus_score (naive)':<34}{naive:>10.1f}{naive_cpu:>10.1f}{cells / naive:>12.1f}"
          f"{cells / naive_cpu:>11.1f}   (extrapolated from {args.naive})")
    print(f"speed-up: {naive / fast:.0f}x wall, {naive_cpu / fast_cpu:.0f}x CPU (ABBA: {' '.join(runs.order)}); "
          f"before: {runs.load_before}; after: {runs.load_after}")
    print(f"the {args.naive} naive resamples x 3 models x 2 metrics equal the summed-statistics scores: {same}")
    for r in rows:
        if r["model"] != "base":
            print(f"  {r['metric']} {r['model']}: {r['score']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]  "
                  f"delta {r['delta']:+.2f} [{r['delta_low']:+.2f}, {r['delta_high']:+.2f}] p={r['p_value']:.3g}")


if __name__ == "__main__":
    main()
