"""Translate instruction records: segment, mask, translate through the cache, reassemble, QE.

`translate_items(items, translator, cache, qe)` takes each record as the list of its texts
(Alpaca instruction/input/output, or every message content) and returns one `ItemResult` each:
- verdict "ok": `texts` translated, same layout as the source (newlines, list markers, code);
- verdict "quarantined": a protected span was lost, duplicated or garbled by MT, or a segment
  was cut: its output stopped at the length cap ("output_truncated": no EOS, or the endpoint's
  finish_reason "length"), the backend cut its source ("source_truncated"), or a sentence could
  not be split to fit the model's input limit ("source_too_long"). `texts` is None and nothing
  is silently altered;
- verdict "removed": QE rejected the translation (reasons "lid_not_target", "lid_low_prob",
  "length_ratio", "copy", "repetition", "roundtrip_chrf", "comet"); `texts` is None.
`qe` always holds the QE columns (JSON-able), whatever the verdict.

Segments are translated once each (deduplicated over the batch), in chunks: after every chunk
the translations are flushed to the SegmentCache as a new shard, so a killed run resumes with
only the segments that were not flushed, and identical segments anywhere hit the cache.
Empty texts and segments with nothing to translate pass through untouched.

Source length: a segment longer than the translator's input limit (max_source_tokens, counted
with its tokenizer) is never sent to be cut: its text is split again with a character budget
derived from the overshoot (sentences at clause boundaries, then spaces; segment.split_long),
up to a few times, before the record is given up as "source_too_long".

Truncated output: a segment whose translation stopped at the cap is split into pieces of at
most half its length at clause (or space) boundaries and the pieces are translated; when all
finish, their translations joined stand for the segment. Otherwise the record is quarantined
("output_truncated"). Not tried when most outputs of a batch are cut: that model (e.g. the
demo's random one) would cut the pieces too, at twice the cost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal

from llammas_core.instructions.cache import SegmentCache
from llammas_core.instructions.qe import COMET_SKIPPED, comet_scores, record_qe, roundtrip_chrf
from llammas_core.instructions.segment import Layout, split_long, split_text
from llammas_core.instructions.translate.base import OUTPUT_TRUNCATED, Translator
from llammas_core.instructions.translate.config import QEConfig

if TYPE_CHECKING:
    from llammas_core.instructions.fanout import WorkerPool

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
                       chunk_segments: int = 1024, pool: WorkerPool | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """({segment: translation}, {segment: problem}) for every distinct segment: cache first, then
    the translator in chunks of chunk_segments, each chunk flushed to the cache before the next
    starts. Problems are the backend's reports (output_truncated, source_truncated). With a worker
    pool (fanout.py) the same chunks go to the workers, which flush them; they are read back here."""
    unique = list(dict.fromkeys(s for s in segments if s))
    done = cache.get_many(unique)
    todo = [s for s in unique if s not in done]
    total = len(unique)
    if progress:
        progress(len(done), total)
    if pool is not None and todo:
        finished = len(done)
        for n in pool.translate([todo[i:i + chunk_segments] for i in range(0, len(todo), chunk_segments)]):
            finished += n
            if progress:
                progress(finished, total)
        cache.reload()
        got = cache.get_many(todo, count=False)
        if len(got) != len(todo):
            raise RuntimeError(f"MT workers finished but {len(todo) - len(got)} segments are not in the cache")
        done.update(got)
        return done, cache.problems(unique)
    for start in range(0, len(todo), chunk_segments):
        chunk = todo[start:start + chunk_segments]
        outs = translator.translate_checked(chunk)
        if len(outs) != len(chunk):
            raise RuntimeError(f"translator returned {len(outs)} translations for {len(chunk)} segments")
        pairs = {s: t for s, (t, _) in zip(chunk, outs)}
        cache.put_many(pairs, {s: p for s, (_, p) in zip(chunk, outs) if p})
        cache.flush()
        done.update(pairs)
        if progress:
            progress(len(done), total)
    return done, cache.problems(unique)


MIN_SEGMENT_CHARS = 20


def retry_truncated(table: dict[str, str], problems: dict[str, str], translator: Translator, cache: SegmentCache,
                    chunk_segments: int = 1024, pool: WorkerPool | None = None) -> None:
    """Translate each output-truncated segment again in pieces of at most half its length
    (split_long); where every piece finishes, their joined translations replace the segment's
    and its problem is cleared (in place)."""
    halves = {}
    for seg, problem in problems.items():
        if problem == OUTPUT_TRUNCATED and len(seg) >= 2 * MIN_SEGMENT_CHARS:
            parts = split_long(seg, -(-len(seg) // 2))
            if len(parts) > 1 and all(len(p.strip()) >= 2 for p in parts):
                halves[seg] = parts
    if not halves:
        return
    pieces = [p.strip() for parts in halves.values() for p in parts]
    sub, sub_problems = translate_segments(pieces, translator, cache, None, chunk_segments, pool)
    for seg, parts in halves.items():
        if not any(p.strip() in sub_problems for p in parts):  # kept whitespace between the halves
            table[seg] = "".join(sub[p.strip()] + p[len(p.rstrip()):] for p in parts).strip()
            del problems[seg]


def fit_layout(text: str, lang: str, translator: Translator, tries: int = 4) -> tuple[Layout, str | None]:
    """The Layout of `text` with every segment within the translator's input limit: split again
    with a smaller character budget while a segment is too long. (layout, "source_too_long") when
    it still does not fit after `tries` splits."""
    limit = translator.max_source_tokens()

    def over(lay: Layout) -> list[tuple[str, int]]:
        # a token spans at least one character: shorter segments fit without counting (+ room for
        # the language prefix and EOS the tokenizer adds)
        long = [s for s in lay.segments if len(s) + 16 > limit]
        return [(s, n) for s, n in zip(long, translator.source_tokens(long) if long else []) if n > limit]

    lay = split_text(text, lang)
    bad, budget = over(lay), None
    for _ in range(tries):
        if not bad:
            return lay, None
        seg, n = max(bad, key=lambda x: x[1])
        fit = int(len(seg) * limit / n * 0.9)
        budget = fit if budget is None else min(fit, budget * 3 // 4)
        if budget < MIN_SEGMENT_CHARS:  # pieces this small are no longer sentences worth translating
            break
        lay = split_text(text, lang, budget)
        bad = over(lay)
    return lay, "source_too_long" if bad else None


def translate_items(
    items: list[list[str]],
    translator: Translator,
    cache: SegmentCache,
    qe: QEConfig,
    progress: Callable[[int, int], None] | None = None,
    *,
    reverse: Translator | None = None,
    chunk_segments: int = 1024,
    pool: WorkerPool | None = None,
) -> list[ItemResult]:
    """Translate records (each a list of texts) with QE; see the module docstring.
    progress(done, total) counts distinct segments. `reverse` (tgt->src translator) enables the
    round-trip chrF check when qe.roundtrip is set. `pool`: MT workers (fanout.py) translate the
    forward segments; `translator` then only splits texts (its tokenizer) and names the model."""
    src_lang, tgt_lang = translator.cfg.src_lang, translator.cfg.tgt_lang
    layouts: list[list[Layout]] = []
    unfit: list[set[str]] = []  # per item: layout problems (a sentence too long for the model)
    memo: dict[str, tuple[Layout, str | None]] = {}  # repeated texts (pools with duplicates) split once
    for item in items:
        fitted = [memo[t or ""] if (t or "") in memo else memo.setdefault(t or "", fit_layout(t or "", src_lang, translator))
                  for t in item]
        layouts.append([lay for lay, _ in fitted])
        unfit.append({p for _, p in fitted if p})
    # records that cannot be translated whole are not sent at all
    all_segments = [s for item, bad in zip(layouts, unfit) if not bad for lay in item for s in lay.segments]
    table, seg_problems = translate_segments(all_segments, translator, cache, progress, chunk_segments, pool)
    if len(seg_problems) <= 0.5 * len(table):  # a model that cuts most outputs (a random one) is not retried
        retry_truncated(table, seg_problems, translator, cache, chunk_segments, pool)

    back: dict[str, str] = {}
    if qe.roundtrip and reverse is not None:
        outs = list(dict.fromkeys(table[s] for s in all_segments))
        back, _ = translate_segments(outs, reverse, SegmentCache(cache.store, reverse.identity()),
                                     None, chunk_segments)

    results: list[ItemResult] = []
    for item, lays, bad in zip(items, layouts, unfit):
        if bad:
            results.append(ItemResult(None, {"segments": sum(len(lay.segments) for lay in lays),
                                             "span_problems": [], "_src": "", "_mt": ""}, sorted(bad), "quarantined"))
            continue
        texts, problems, src_segs, out_segs = [], set(), [], []
        for text, lay in zip(item, lays):
            if not lay.segments:
                texts.append(text or "")
                continue
            outs = [table[s] for s in lay.segments]
            joined, probs = lay.join(outs)
            problems.update(probs)
            problems.update(seg_problems[s] for s in lay.segments if s in seg_problems)
            texts.append(joined)
            src_segs += lay.segments
            out_segs += outs
        cols, reasons = record_qe(src_segs, out_segs, tgt_lang, qe,
                                  sorted(p for p in problems if p.startswith("protected_span")))
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
