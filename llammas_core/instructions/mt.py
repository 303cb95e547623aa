"""Translate instruction records: segment, mask, translate through the cache, reassemble, QE.

`translate_items(items, translator, cache, qe)` takes each record as the list of its texts
(Alpaca instruction/input/output, or every message content) and returns one `ItemResult` each:
- verdict "ok": `texts` translated, same layout as the source (newlines, list markers, code);
- verdict "quarantined": a protected span was lost, duplicated or garbled by MT: `texts` is None
  and nothing is silently altered (reasons "protected_span_lost", ...);
- verdict "removed": QE rejected the translation (reasons "lid_not_target", "lid_low_prob",
  "length_ratio", "copy", "repetition", "roundtrip_chrf", "comet"); `texts` is None.
`qe` always holds the QE columns (JSON-able), whatever the verdict.

Segments are translated once each (deduplicated over the batch), in chunks: after every chunk
the translations are flushed to the SegmentCache as a new shard, so a killed run resumes with
only the segments that were not flushed, and identical segments anywhere hit the cache.
Empty texts and segments with nothing to translate pass through untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Literal

from llammas_core.instructions.cache import SegmentCache
from llammas_core.instructions.qe import COMET_SKIPPED, comet_scores, record_qe, roundtrip_chrf
from llammas_core.instructions.segment import Layout, split_text
from llammas_core.instructions.translate.base import Translator
from llammas_core.instructions.translate.config import QEConfig

__all__ = ["ItemResult", "translate_items", "translate_segments"]

log = logging.getLogger(__name__)


@dataclass
class ItemResult:
    texts: list[str] | None
    qe: dict = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    verdict: Literal["ok", "removed", "quarantined"] = "ok"


def translate_segments(segments: list[str], translator: Translator, cache: SegmentCache,
                       progress: Callable[[int, int], None] | None = None,
                       chunk_segments: int = 1024) -> dict[str, str]:
    """{segment: translation} for every distinct segment: cache first, then the translator in
    chunks of chunk_segments, each chunk flushed to the cache before the next starts."""
    unique = list(dict.fromkeys(s for s in segments if s))
    done = cache.get_many(unique)
    todo = [s for s in unique if s not in done]
    total = len(unique)
    if progress:
        progress(len(done), total)
    for start in range(0, len(todo), chunk_segments):
        chunk = todo[start:start + chunk_segments]
        outs = translator.translate(chunk)
        if len(outs) != len(chunk):
            raise RuntimeError(f"translator returned {len(outs)} translations for {len(chunk)} segments")
        pairs = dict(zip(chunk, outs))
        cache.put_many(pairs)
        cache.flush()
        done.update(pairs)
        if progress:
            progress(len(done), total)
    return done


def translate_items(
    items: list[list[str]],
    translator: Translator,
    cache: SegmentCache,
    qe: QEConfig,
    progress: Callable[[int, int], None] | None = None,
    *,
    reverse: Translator | None = None,
    chunk_segments: int = 1024,
) -> list[ItemResult]:
    """Translate records (each a list of texts) with QE; see the module docstring.
    progress(done, total) counts distinct segments. `reverse` (tgt->src translator) enables the
    round-trip chrF check when qe.roundtrip is set."""
    src_lang, tgt_lang = translator.cfg.src_lang, translator.cfg.tgt_lang
    layouts: list[list[Layout]] = [[split_text(t or "", src_lang) for t in item] for item in items]
    all_segments = [s for item in layouts for lay in item for s in lay.segments]
    table = translate_segments(all_segments, translator, cache, progress, chunk_segments)

    back: dict[str, str] = {}
    if qe.roundtrip and reverse is not None:
        outs = list(dict.fromkeys(table[s] for s in all_segments))
        back = translate_segments(outs, reverse, SegmentCache(cache.store, reverse.identity()),
                                  None, chunk_segments)

    results: list[ItemResult] = []
    for item, lays in zip(items, layouts):
        texts, problems, src_segs, out_segs = [], set(), [], []
        for text, lay in zip(item, lays):
            if not lay.segments:
                texts.append(text or "")
                continue
            outs = [table[s] for s in lay.segments]
            joined, probs = lay.join(outs)
            problems.update(probs)
            texts.append(joined)
            src_segs += lay.segments
            out_segs += outs
        cols, reasons = record_qe(src_segs, out_segs, tgt_lang, qe, sorted(problems))
        th = qe.for_lang(tgt_lang)
        if back and out_segs:
            cols["roundtrip_chrf"] = roundtrip_chrf(src_segs, [back[t] for t in out_segs])
            if th.roundtrip_chrf_min is not None and cols["roundtrip_chrf"] < th.roundtrip_chrf_min:
                reasons.append("roundtrip_chrf")
        else:
            cols["roundtrip_chrf"] = COMET_SKIPPED
        if problems:
            results.append(ItemResult(None, cols, sorted(problems), "quarantined"))
        elif reasons:
            results.append(ItemResult(None, cols, reasons, "removed"))
        else:
            results.append(ItemResult(texts, cols, [], "ok"))
        results[-1].qe["_src"] = " ".join(src_segs)  # for COMET below; dropped after
        results[-1].qe["_mt"] = " ".join(out_segs)

    idx = [i for i, r in enumerate(results) if r.qe["_src"]]
    scores = comet_scores([results[i].qe["_src"] for i in idx], [results[i].qe["_mt"] for i in idx], qe)
    th = qe.for_lang(tgt_lang)
    for r in results:
        r.qe["comet"] = COMET_SKIPPED
    if scores != COMET_SKIPPED:
        for i, s in zip(idx, scores):
            r = results[i]
            r.qe["comet"] = s
            if th.comet_min is not None and s < th.comet_min and r.verdict == "ok":
                r.texts, r.verdict, r.reasons = None, "removed", ["comet"]
    for r in results:
        r.qe.pop("_src", None)
        r.qe.pop("_mt", None)
    return results
