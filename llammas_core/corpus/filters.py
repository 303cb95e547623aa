"""Quality filters from datatrove, configured per language, each with its own exclusion folder."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path
from typing import Callable

import fsspec.compression
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates
from datatrove.pipeline.writers import JsonlWriter
from datatrove.data import Document
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION, split_into_words

from llammas_core.corpus.config import FiltersConfig
from llammas_core.corpus.words import word_splitter
from llammas_core.languages import find, word_tokenizer


# Where a sentence may end before the line does: datatrove's TERMINAL_PUNCTUATION has the stops of many
# scripts but no "…", and a line counts only if its very last character is one; the language registry
# adds a language's extra stops and the closing quotes/brackets that may follow a stop (corpus.extra_stops,
# corpus.closers; for et measured on UD Estonian documents in web layouts, tests/test_filters_et.py).
CORE_STOPS = [".", "!", "?", "…"]
REPRODUCIBLE_GZIP = "gzip-mtime0"


def terminal_punctuation(language: str) -> list[str]:
    """Line endings that count as the end of a sentence for `language`: datatrove's terminal
    punctuation, the language's extra stops, and a stop followed by up to two closing quotes or
    brackets (`.“`, `?»`, `.")`)."""
    lang = find(language)
    extra, closers = (lang.corpus.extra_stops, lang.corpus.closers) if lang else ([], [])
    stops = set(TERMINAL_PUNCTUATION) | set(extra)
    core = CORE_STOPS + list(extra)
    ends = {s + c for s in core for c in closers} | {s + c + d for s in core for c in closers for d in closers}
    ends |= {s + " " + c for s in core for c in closers if c not in "'‘"}  # spaced quotes: `pimesi. ”`
    return sorted(stops | ends)


class GopherQuality(GopherQualityFilter):
    """datatrove's Gopher quality filter, optionally with the alpha-word rule over words only.

    Gopher's rule ("80% of words contain an alphabetic character") was defined on whitespace
    words, where "tekst." is one alphabetic word. datatrove splits punctuation off (spaCy for
    Estonian), so every comma, stop, quote and bracket is a non-alphabetic "word": 9% of UD
    Estonian documents in web layouts fall below FineWeb-2's 0.722 that way, none once
    punctuation-only tokens are left out, while tables and code stay far below
    (tests/test_filters_et.py). The threshold itself is unchanged.
    """

    def __init__(self, *args, alpha_words_exclude_punctuation: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha_exclude_punct = alpha_words_exclude_punctuation
        self.alpha_ratio = self.max_non_alpha_words_ratio
        if alpha_words_exclude_punctuation:
            self.max_non_alpha_words_ratio = None  # judged below instead

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        verdict = super().filter(doc)
        if verdict is not True or not (self.alpha_exclude_punct and self.alpha_ratio):
            return verdict
        words = [w for w in split_into_words(doc.text, self.language) if any(c not in PUNCTUATION_SET for c in w)]
        if words and sum(any(c.isalpha() for c in w) for w in words) / len(words) < self.alpha_ratio:
            return False, "gopher_below_alpha_threshold"
        return True


def _joined_ngrams(words: list[str], n: int, sep: str) -> list[str]:
    return list(map(sep.join, zip(*(words[i:] for i in range(n)))))


def top_ngram_chars(words: list[str], n: int) -> int | None:
    """datatrove's find_top_duplicate(get_n_grams(words, n)) (None without n-grams): characters of
    the most frequent n-gram times its count, the first one seen winning a tie."""
    grams = _joined_ngrams(words, n, " ")
    if not grams:
        return None
    (gram, count), = Counter(grams).most_common(1)
    return len(gram) * count


def repeated_ngram_chars(words: list[str], n: int) -> int:
    """datatrove's find_all_duplicate(words, n): characters in repeated n-grams (joined without a
    space, as datatrove does), a repeat skipping its n words. Nothing repeats in most documents,
    which one set of all n-grams shows."""
    grams = _joined_ngrams(words, n, "")
    if len(set(grams)) == len(grams):
        return 0
    seen: set[str] = set()
    repeated, idx = 0, 0
    while idx < len(grams):
        if grams[idx] in seen:
            repeated += len(grams[idx])
            idx += n
        else:
            seen.add(grams[idx])
            idx += 1
    return repeated


class GopherRepetition(GopherRepetitionFilter):
    """datatrove's Gopher repetition filter, the same decisions (tests/test_words.py), its n-gram
    counting done with C-level joins, Counter and sets instead of a Python loop per n-gram."""

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text = doc.text
        if not text:
            return False, "empty"
        paragraphs = self.paragraph_exp.split(text.strip())
        for parts, frac, char_frac, what in ((paragraphs, self.dup_para_frac, self.dup_para_char_frac, "para"),
                                             (None, self.dup_line_frac, self.dup_line_char_frac, "line")):
            parts = parts if parts is not None else self._line_splitter.split(text)
            dups, dup_chars = find_duplicates(parts)
            if frac and dups / len(parts) > frac:
                return False, f"dup_{what}_frac"
            if char_frac and dup_chars / len(text) > char_frac:
                return False, f"dup_{what}_char_frac"
        words = split_into_words(text, self.language)
        for n, n_frac in self.top_n_grams:
            top = top_ngram_chars(words, n)
            if top is not None and top / len(text) > n_frac:
                return False, f"top_{n}_gram"
        for n, n_frac in self.dup_n_grams:
            if repeated_ngram_chars(words, n) / len(text) > n_frac:
                return False, f"duplicated_{n}_n_grams"
        return True


def _gzip_without_mtime(infile, mode: str = "rb", **kwargs):
    return gzip.GzipFile(fileobj=infile, mode=mode, mtime=0, **kwargs)


# gzip writes the time into its header, so the same removed documents would differ in bytes run
# to run; a committed stage's files must depend on its key only
fsspec.compression.register_compression(REPRODUCIBLE_GZIP, _gzip_without_mtime, [], force=True)


class RemovedWriter(JsonlWriter):
    """datatrove's JSONL writer, optionally keeping only the first `max_examples` documents per
    reason (its first `:` field: `lid`, `gopher_short_doc`...) and source file. The exact
    number each step removed stays in its stats (`dropped`, the manifest's `removed`).
    A class of this module, so a worker that unpickles it has registered REPRODUCIBLE_GZIP."""

    def __init__(self, *args, max_examples: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_examples = max_examples
        self._seen: dict[tuple, int] = {}

    def write(self, document: Document, rank: int = 0, **kwargs):
        if self.max_examples is not None:
            meta = document.metadata
            key = (rank, str(meta.get("filter_reason", "")).split(":")[0], meta.get("file_path"))
            self._seen[key] = n = self._seen.get(key, 0) + 1
            if n > self.max_examples:
                return
        super().write(document, rank, **kwargs)


def removed_writer(removed_dir: Path, name: str, max_examples: int | None = None) -> JsonlWriter:
    """Removed documents of one step, with datatrove's `filter_reason` in their metadata."""
    return RemovedWriter(str(removed_dir / name), output_filename="${rank}.jsonl.gz", compression=REPRODUCIBLE_GZIP,
                         max_examples=max_examples)


def quality_filters(cfg: FiltersConfig, language: str, removed_dir: Path, removed_examples: int | None = None) -> list:
    """The enabled filters in FineWeb-2's order: repetition, quality, FineWeb, then optional C4.
    They split words with `word_splitter` (datatrove's tokens, faster) for the code the registry
    builds datatrove's word tokenizer for (`words`), passed as the datatrove steps' `language`,
    which takes a word tokenizer too."""
    stops = terminal_punctuation(language)
    words = word_splitter(word_tokenizer(language))
    steps: list = []
    add: Callable[[str], JsonlWriter] = lambda name: removed_writer(removed_dir, name, removed_examples)  # noqa: E731
    rep = cfg.gopher_repetition
    if rep.enabled:
        steps.append(GopherRepetition(
            dup_line_frac=rep.dup_line_frac, dup_para_frac=rep.dup_para_frac,
            dup_line_char_frac=rep.dup_line_char_frac, dup_para_char_frac=rep.dup_para_char_frac,
            top_n_grams=tuple(rep.top_n_grams), dup_n_grams=tuple(rep.dup_n_grams),
            exclusion_writer=add("gopher_repetition"), language=words,
        ))
    q = cfg.gopher_quality
    if q.enabled:
        steps.append(GopherQuality(
            alpha_words_exclude_punctuation=q.alpha_words_exclude_punctuation, min_doc_words=q.min_doc_words, max_doc_words=q.max_doc_words,
            min_avg_word_length=q.min_avg_word_length, max_avg_word_length=q.max_avg_word_length,
            max_symbol_word_ratio=q.max_symbol_word_ratio, max_bullet_lines_ratio=q.max_bullet_lines_ratio,
            max_ellipsis_lines_ratio=q.max_ellipsis_lines_ratio,
            max_non_alpha_words_ratio=q.max_non_alpha_words_ratio,
            min_stop_words=q.min_stop_words, stop_words=q.stop_words,
            exclusion_writer=add("gopher_quality"), language=words,
        ))
    fw = cfg.fineweb_quality
    if fw.enabled:
        steps.append(FineWebQualityFilter(
            line_punct_thr=fw.line_punct_thr, line_punct_exclude_zero=fw.line_punct_exclude_zero,
            stop_chars=tuple(fw.stop_chars if fw.stop_chars is not None else stops),
            short_line_thr=fw.short_line_thr,
            char_duplicates_ratio=fw.char_duplicates_ratio, new_line_ratio=fw.new_line_ratio,
            exclusion_writer=add("fineweb_quality"), language=words,
        ))
    c4 = cfg.c4
    if c4.enabled:
        steps.append(C4QualityFilter(
            **c4.model_dump(exclude={"enabled"}), exclusion_writer=add("c4_quality"), language=words,
        ))
    return steps
