"""Quality filters from datatrove, configured per language, each with its own exclusion folder."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.writers import JsonlWriter

from llammas_core.corpus.config import FiltersConfig


def removed_writer(removed_dir: Path, name: str) -> JsonlWriter:
    """Removed documents of one step, with datatrove's `filter_reason` in their metadata."""
    return JsonlWriter(str(removed_dir / name), output_filename="${rank}.jsonl.gz")


def quality_filters(cfg: FiltersConfig, language: str, removed_dir: Path) -> list:
    """The enabled filters in FineWeb-2's order: repetition, quality, FineWeb, then optional C4."""
    steps: list = []
    add: Callable[[str], JsonlWriter] = lambda name: removed_writer(removed_dir, name)  # noqa: E731
    rep = cfg.gopher_repetition
    if rep.enabled:
        steps.append(GopherRepetitionFilter(
            dup_line_frac=rep.dup_line_frac, dup_para_frac=rep.dup_para_frac,
            dup_line_char_frac=rep.dup_line_char_frac, dup_para_char_frac=rep.dup_para_char_frac,
            top_n_grams=tuple(rep.top_n_grams), dup_n_grams=tuple(rep.dup_n_grams),
            exclusion_writer=add("gopher_repetition"), language=language,
        ))
    q = cfg.gopher_quality
    if q.enabled:
        steps.append(GopherQualityFilter(
            min_doc_words=q.min_doc_words, max_doc_words=q.max_doc_words,
            min_avg_word_length=q.min_avg_word_length, max_avg_word_length=q.max_avg_word_length,
            max_symbol_word_ratio=q.max_symbol_word_ratio, max_bullet_lines_ratio=q.max_bullet_lines_ratio,
            max_ellipsis_lines_ratio=q.max_ellipsis_lines_ratio,
            max_non_alpha_words_ratio=q.max_non_alpha_words_ratio,
            min_stop_words=q.min_stop_words, stop_words=q.stop_words,
            exclusion_writer=add("gopher_quality"), language=language,
        ))
    fw = cfg.fineweb_quality
    if fw.enabled:
        steps.append(FineWebQualityFilter(
            line_punct_thr=fw.line_punct_thr, short_line_thr=fw.short_line_thr,
            char_duplicates_ratio=fw.char_duplicates_ratio, new_line_ratio=fw.new_line_ratio,
            exclusion_writer=add("fineweb_quality"), language=language,
        ))
    c4 = cfg.c4
    if c4.enabled:
        steps.append(C4QualityFilter(
            **c4.model_dump(exclude={"enabled"}), exclusion_writer=add("c4_quality"), language=language,
        ))
    return steps
