"""Corpus-level metric values over any subset of per-sample rows (for bootstrap CIs and paired tests).

`aggregate(kind, metric, samples)` is THE definition of a task's score:
- per-item metrics (acc, acc_norm, em, f1, answer_in_output): the mean of the samples' values;
- corpus metrics (bleu, chrf, spbleu): sacrebleu's corpus score of the subset's hypotheses vs references.

Fast path for bootstrap (the way sacrebleu's own paired bootstrap works): BLEU and chrF++ corpus scores
are functions of per-sentence sufficient statistics *summed* over the corpus (BLEU: n-gram matches and
totals for n=1..4, hypothesis and reference lengths; chrF++: character and word n-gram matches / counts).
`run_task` stores each sentence's statistics in `samples[i]["stats"][metric]`, so

    S = sufficient_stats(kind, metric, samples)      # (n, d) array, once
    for b in range(B): idx = rng.integers(0, n, n); v = score_from_stats(kind, metric, S[idx].sum(0))

gives exactly `aggregate(kind, metric, [samples[i] for i in idx])` without re-tokenizing anything.
For per-item metrics `sufficient_stats` is the (n, 1) column of values and `score_from_stats` divides
the sum by n (pass n via `count`), so one bootstrap loop serves every metric.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from llammas_core.errors import ConfigError

PER_ITEM = {"acc", "acc_norm", "em", "f1", "answer_in_output"}
CORPUS = {"bleu", "chrf", "spbleu"}

_NAMES = {
    "xcopa": ["acc"],
    "belebele": ["acc", "acc_norm"],
    "flores": ["bleu", "chrf"],  # + "spbleu" when the flores200 SPM model was supplied (see TaskResult.metrics)
    "qa": ["em", "f1", "answer_in_output"],
    "lm_eval": ["acc", "acc_norm"],  # those the lm-eval task reports; see TaskResult.metrics
}
SCALE = {"bleu": 100.0, "chrf": 100.0, "spbleu": 100.0}  # sacrebleu scores are 0..100; the rest 0..1


def metric_names(task_kind: str) -> list[str]:
    """The metrics a task kind reports (primary first)."""
    if task_kind not in _NAMES:
        raise ConfigError(f"unknown task kind {task_kind!r}")
    return list(_NAMES[task_kind])


def sacrebleu_metric(metric: str):
    """The sacrebleu metric object used for scoring (one definition for scores, stats and signatures)."""
    from sacrebleu.metrics import BLEU, CHRF

    if metric == "bleu":
        return BLEU()
    if metric == "chrf":
        return CHRF(word_order=2)  # chrF++
    if metric == "spbleu":
        return BLEU(tokenize="flores200")  # caller must have placed the checked SPM model (flores.spm_ready)
    raise ConfigError(f"{metric!r} is not a sacrebleu corpus metric")


def sentence_stats(metric: str, hyps: Sequence[str], refs: Sequence[str]) -> list[list[float]]:
    """Per-sentence sufficient statistics (sacrebleu's own `_extract_corpus_statistics`)."""
    m = sacrebleu_metric(metric)
    return [list(map(float, s)) for s in m._extract_corpus_statistics(list(hyps), [list(refs)])]


def score_from_stats(task_kind: str, metric: str, summed, count: int | None = None) -> float:
    """The metric value from summed statistics (corpus metrics) or summed values / count (per-item)."""
    if metric in CORPUS:
        m = sacrebleu_metric(metric) if metric != "spbleu" else _bleu_like()
        return float(m._compute_score_from_stats([int(round(x)) if metric != "chrf" else x
                                                   for x in np.asarray(summed).tolist()]).score)
    if count is None or count == 0:
        raise ConfigError("per-item metrics need count > 0")
    return float(np.asarray(summed).reshape(-1)[0]) / count


def _bleu_like():
    # spBLEU statistics are BLEU statistics over SentencePiece pieces; scoring them needs no tokenizer.
    from sacrebleu.metrics import BLEU

    return BLEU()


def sufficient_stats(task_kind: str, metric: str, samples: Sequence[dict]) -> np.ndarray:
    """(n, d) statistics matrix: per-sentence sacrebleu stats, or the (n, 1) column of per-item values."""
    if metric in CORPUS:
        rows = []
        missing = [s for s in samples if metric not in (s.get("stats") or {})]
        if missing:
            stats = sentence_stats(metric, [s["generation"] for s in samples], [s["reference"] for s in samples])
            return np.asarray(stats, dtype=float)
        for s in samples:
            rows.append(s["stats"][metric])
        return np.asarray(rows, dtype=float)
    return np.asarray([[_value(s, metric)] for s in samples], dtype=float)


def _value(sample: dict, metric: str) -> float:
    if metric not in sample:
        raise ConfigError(f"sample {sample.get('doc_id')} has no {metric!r} value")
    return float(sample[metric])


def aggregate(task_kind: str, metric: str, samples: Sequence[dict]) -> float:
    """Corpus-level value of `metric` over `samples` (any subset or bootstrap resample, repeats allowed)."""
    if not samples:
        raise ConfigError(f"cannot aggregate {metric} over no samples")
    if metric in CORPUS:
        if all(metric in (s.get("stats") or {}) for s in samples):
            return score_from_stats(task_kind, metric, sufficient_stats(task_kind, metric, samples).sum(0))
        if metric == "spbleu":
            raise ConfigError("spbleu needs per-sample stats (computed only with a checked SPM model)")
        m = sacrebleu_metric(metric)
        return float(m.corpus_score([s["generation"] for s in samples], [[s["reference"] for s in samples]]).score)
    return float(np.mean([_value(s, metric) for s in samples]))


__all__ = ["aggregate", "metric_names", "sufficient_stats", "score_from_stats", "sentence_stats",
           "sacrebleu_metric", "PER_ITEM", "CORPUS", "SCALE"]
