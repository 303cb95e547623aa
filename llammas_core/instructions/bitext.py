"""Parallel corpora for translation-task instructions: readers and OpusFilter-style cleaning.

Readers: Moses line-aligned file pairs (`corpus.en` + `corpus.et`; files of unequal length are an
InputError naming both), TSV (`src<TAB>tgt`) and JSONL (`{"en": ..., "et": ...}` or HF-style
`{"translation": {"en": ..., "et": ...}}`). Lines with an empty side, too few TSV columns or bad
JSON are quarantined with their reason, and so are lines that are not valid UTF-8 (`invalid_utf8`:
never decoded with replacement characters into the training data).

Cleaning follows the OpusFilter filters the Llammas data used (their definitions re-implemented
here because OpusFilter pins old dependencies and is not installable beside transformers 5):
length in characters and words, word-count ratio, long words, character script score, terminal
punctuation (TerminalPunctuationFilter), numerals (NonZeroNumeralsFilter), fastText LID on both
sides (the project's lid.176.ftz) and exact pair dedup. Each pair is counted under the first
filter it fails; filters run cheapest first, LID last.
"""

from __future__ import annotations

import difflib
import json
import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from llammas_core.errors import InputError
from llammas_core.instructions.config import BitextSource, CleaningConfig
from llammas_core.instructions.sources import resolve_files_any
from llammas_core.store import local_copy
from llammas_core.languages import lid_label_map, script_prefixes

TERMINAL = (".", "?", "!", "…")


@dataclass
class Pair:
    src: str
    tgt: str
    source: str
    where: str


@dataclass
class BitextStats:
    read: int = 0
    kept: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)
    keep_examples: int = 1000

    def note(self, kind: str, reason: str, pair_or_raw, where: str) -> None:
        counts = self.quarantined if kind == "quarantined" else self.removed
        counts[reason] = counts.get(reason, 0) + 1
        if len(self.examples) < self.keep_examples:
            if isinstance(pair_or_raw, Pair):
                item = {"src": pair_or_raw.src, "tgt": pair_or_raw.tgt}
            else:
                item = {"raw": str(pair_or_raw)[:2000]}
            self.examples.append({"kind": kind, "reason": reason, "where": where, **item})


# --------------------------------------------------------------------------- readers


def _lines(path: Path) -> Iterator[str | None]:
    """The lines of a file without their ends; None for a line that is not valid UTF-8."""
    with open(path, "rb") as f:
        for raw in f:
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield None


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def read_bitext(src: BitextSource, stats: BitextStats) -> Iterator[Pair]:
    """Pairs of one corpus, in order; bad lines are quarantined in `stats` (counted as read)."""
    def limit_reached() -> bool:
        return src.max_pairs is not None and stats.read >= src.max_pairs

    if src.format == "moses":
        (s_store, s_key), = resolve_files_any(src.paths[0])
        (t_store, t_key), = resolve_files_any(src.paths[1])
        with local_copy(s_store, s_key) as sp, local_copy(t_store, t_key) as tp:
            ns, nt = _count_lines(sp), _count_lines(tp)
            if ns != nt:
                raise InputError(f"bitext {src.name}: {src.paths[0]} has {ns} lines but {src.paths[1]} has {nt}: "
                                 "Moses files must be line-aligned")
            for i, (a, b) in enumerate(zip(_lines(sp), _lines(tp)), 1):
                if limit_reached():
                    return
                where = f"{src.paths[0]}:{i}"
                if a is None or b is None:
                    stats.read += 1
                    stats.note("quarantined", "invalid_utf8", f"{src.paths[0 if a is None else 1]}:{i}", where)
                    continue
                yield from _emit(Pair(a, b, src.name, where), stats)
        return
    for path in src.paths:
        for store, key in resolve_files_any(path):
            with local_copy(store, key) as local:
                for i, line in enumerate(_lines(local), 1):
                    if limit_reached():
                        return
                    where = f"{store.url(key)}:{i}"
                    if line is None:
                        stats.read += 1
                        stats.note("quarantined", "invalid_utf8", where, where)
                        continue
                    if src.format == "tsv":
                        cols = line.split("\t")
                        if len(cols) < 2:
                            stats.read += 1
                            stats.note("quarantined", "tsv_missing_column", line, where)
                            continue
                        yield from _emit(Pair(cols[0], cols[1], src.name, where), stats)
                    else:
                        if not line.strip():
                            stats.read += 1
                            stats.note("quarantined", "empty_line", line, where)
                            continue
                        try:
                            rec = json.loads(line)
                        except json.JSONDecodeError:
                            stats.read += 1
                            stats.note("quarantined", "malformed_json", line, where)
                            continue
                        if isinstance(rec, dict) and isinstance(rec.get("translation"), dict):
                            rec = rec["translation"]
                        a = rec.get(src.src_field) if isinstance(rec, dict) else None
                        b = rec.get(src.tgt_field) if isinstance(rec, dict) else None
                        if not isinstance(a, str) or not isinstance(b, str):
                            stats.read += 1
                            stats.note("quarantined", f"missing_field:{src.src_field if not isinstance(a, str) else src.tgt_field}",
                                       line, where)
                            continue
                        yield from _emit(Pair(a, b, src.name, where), stats)


def _emit(pair: Pair, stats: BitextStats) -> Iterator[Pair]:
    stats.read += 1
    pair.src, pair.tgt = " ".join(pair.src.split()), " ".join(pair.tgt.split())
    if not pair.src or not pair.tgt:
        stats.note("quarantined", "empty_line", pair, pair.where)
        return
    yield pair


# --------------------------------------------------------------------------- filters


def script_ratio(text: str, language: str) -> float:
    """Share of letters written in the language's script (the registry's `script`)."""
    script = script_prefixes(language)
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(unicodedata.name(c, "").startswith(script) for c in letters) / len(letters)


def terminal_punctuation_score(src: str, tgt: str) -> float:
    """OpusFilter TerminalPunctuationFilter: -log(1 + penalty) over counts of . ? ! … marks."""
    spun = sum(src.count(c) for c in TERMINAL)
    tpun = sum(tgt.count(c) for c in TERMINAL)
    penalty = abs(spun - tpun)
    if spun > 1:
        penalty += spun - 1
    if tpun > 1:
        penalty += tpun - 1
    if src.endswith(TERMINAL) != tgt.endswith(TERMINAL):
        penalty += 1
    return -math.log(penalty + 1)


def numerals_score(src: str, tgt: str) -> float:
    """OpusFilter NonZeroNumeralsFilter: similarity of the sequences of digits 1-9 (1.0 when neither has any)."""
    a = [c for c in src if c.isdigit() and c != "0"]
    b = [c for c in tgt if c.isdigit() and c != "0"]
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b).ratio()


class Cleaner:
    """Apply CleaningConfig to pairs, counting removals per filter into a BitextStats."""

    def __init__(self, cfg: CleaningConfig, src_lang: str, tgt_lang: str):
        self.cfg, self.src_lang, self.tgt_lang = cfg, src_lang, tgt_lang
        self.seen: set[int] = set()

    def reason(self, p: Pair) -> str | None:
        c = self.cfg
        for text in (p.src, p.tgt):
            if not c.min_chars <= len(text) <= c.max_chars:
                return "length_chars"
        ws, wt = p.src.split(), p.tgt.split()
        for words in (ws, wt):
            if not c.min_words <= len(words) <= c.max_words:
                return "length_words"
        if max(len(ws), len(wt)) / min(len(ws), len(wt)) > c.max_word_ratio:
            return "word_ratio"
        if any(len(w) > c.max_word_length for w in ws + wt):
            return "long_word"
        if script_ratio(p.src, self.src_lang) < c.min_script_ratio or script_ratio(p.tgt, self.tgt_lang) < c.min_script_ratio:
            return "script"
        if numerals_score(p.src, p.tgt) < c.numerals_threshold:
            return "numerals"
        if terminal_punctuation_score(p.src, p.tgt) < c.terminal_punctuation_threshold:
            return "terminal_punctuation"
        if c.lid:
            from llammas_core.corpus.langid import predict_scores

            for text, lang, side in ((p.src, self.src_lang, "src"), (p.tgt, self.tgt_lang, "tgt")):
                labels = None if c.lid_model else lid_label_map(lang) or None
                if predict_scores(text, c.lid_model, labels).get(lang, 0.0) < max(c.lid_min_score, 1e-9):
                    return f"lid_{side}"
        if c.dedup:
            h = hash((p.src, p.tgt))
            if h in self.seen:
                return "duplicate"
            self.seen.add(h)
        return None


def clean_bitext(sources: list[BitextSource], cfg: CleaningConfig, src_lang: str, tgt_lang: str,
                 index=None, threshold: float = 0.5, keep_examples: int = 1000) -> tuple[list[Pair], BitextStats]:
    """Read, clean and (with an NgramIndex) decontaminate every corpus; the kept pairs and the counts."""
    stats = BitextStats(keep_examples=keep_examples)
    cleaner = Cleaner(cfg, src_lang, tgt_lang)
    kept: list[Pair] = []
    for src in sources:
        for pair in read_bitext(src, stats):
            reason = cleaner.reason(pair)
            if reason is None and index is not None and (
                    index.contaminated(pair.src, threshold) or index.contaminated(pair.tgt, threshold)):
                reason = "contaminated"
            if reason is not None:
                stats.note("removed", reason, pair, pair.where)
                continue
            kept.append(pair)
    stats.kept = len(kept)
    return kept, stats
