"""The stock-datatrove baseline of benchmarks/corpus_throughput.py: the corpus curation llammas
runs, written as a datatrove user would write it, from datatrove's own steps run by datatrove's
LocalPipelineExecutor, with llammas' thresholds (corpus config), the same LID model file, the
same exact and MinHash dedup settings and the same PII rules.

Step groups (each a LocalPipelineExecutor run, in order):
  filter        JsonlReader -> LanguageFilter (fastText lid.176, the local model file llammas uses,
                never downloaded) -> GopherRepetitionFilter -> GopherQualityFilter -> FineWebQualityFilter
                -> JsonlWriter. Words are split by datatrove's default tokenizer for the language
                (spaCy for et). Gopher quality is llammas' GopherQuality: datatrove's filter plus the
                Estonian alpha-word rule over words (corpus.filters.gopher_quality.
                alpha_words_exclude_punctuation, datatrove's own word split); without it a stock
                filter would drop ~9% more Estonian documents and the kept sets would not compare.
  exact_*       ExactDedupSignature / ExactFindDedups (the normalised-text content getter llammas uses)
  minhash_*     JsonlReader -> ExactDedupFilter -> MinhashDedupSignature; MinhashDedupBuckets;
                MinhashDedupCluster
  write         JsonlReader -> ExactDedupFilter -> MinhashDedupFilter -> PIIFormatter (datatrove:
                emails, IPv4) -> llammas' PIIFormatter for Estonian ID codes and phone numbers only
                (the one custom step) -> ParquetWriter
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable


def lid_step(model_path: str, language: str, threshold: float):
    """datatrove's LanguageFilter reading a local fastText model: its FT176LID fetches MODEL_URL
    into datatrove's asset cache, and a file:// URL there is a local copy, not a download."""
    from datatrove.pipeline.filters import LanguageFilter

    step = LanguageFilter(languages=[language], language_threshold=threshold)
    step.model.MODEL_URL = f"file://{Path(model_path).resolve()}"
    return step


def stock_groups(cfg, input_dir: Path, work: Path, out: Path, lid_model: str) -> list[tuple[str, list, int]]:
    """(group name, pipeline, tasks) of the stock-datatrove curation with `cfg`'s settings."""
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.exact_dedup import ExactDedupFilter, ExactDedupSignature, ExactFindDedups
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.formatters import PIIFormatter as StockPII
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    from llammas_core.corpus.dedup import exact_config, minhash_config
    from llammas_core.corpus.filters import GopherQuality, terminal_punctuation
    from llammas_core.corpus.langid import default_threshold
    from llammas_core.corpus.pii import PIIFormatter

    lang, f, tasks = cfg.language, cfg.resolved_filters(), max(1, cfg.executor.tasks)
    threshold = cfg.lid.threshold if cfg.lid.threshold is not None else default_threshold(lang)
    rep, q, fw = f.gopher_repetition, f.gopher_quality, f.fineweb_quality
    filtered, ec, mc = work / "filtered", exact_config(), minhash_config(cfg.dedup)
    reader: Callable[[], JsonlReader] = lambda: JsonlReader(str(filtered), glob_pattern="*.jsonl.gz")  # noqa: E731
    exact_filter = lambda: ExactDedupFilter(str(work / "exact/dups"), ec)  # noqa: E731
    filters = [
        JsonlReader(str(input_dir), glob_pattern="*.jsonl"),
        lid_step(lid_model, lang, threshold),
        GopherRepetitionFilter(dup_line_frac=rep.dup_line_frac, dup_para_frac=rep.dup_para_frac,
                               dup_line_char_frac=rep.dup_line_char_frac, dup_para_char_frac=rep.dup_para_char_frac,
                               top_n_grams=tuple(map(tuple, rep.top_n_grams)),
                               dup_n_grams=tuple(map(tuple, rep.dup_n_grams)), language=lang),
        GopherQuality(alpha_words_exclude_punctuation=q.alpha_words_exclude_punctuation,
                      min_doc_words=q.min_doc_words, max_doc_words=q.max_doc_words,
                      min_avg_word_length=q.min_avg_word_length, max_avg_word_length=q.max_avg_word_length,
                      max_symbol_word_ratio=q.max_symbol_word_ratio, max_bullet_lines_ratio=q.max_bullet_lines_ratio,
                      max_ellipsis_lines_ratio=q.max_ellipsis_lines_ratio,
                      max_non_alpha_words_ratio=q.max_non_alpha_words_ratio, min_stop_words=q.min_stop_words,
                      stop_words=q.stop_words, language=lang),
        FineWebQualityFilter(line_punct_thr=fw.line_punct_thr, line_punct_exclude_zero=fw.line_punct_exclude_zero,
                             stop_chars=tuple(fw.stop_chars or terminal_punctuation(lang)),
                             short_line_thr=fw.short_line_thr, char_duplicates_ratio=fw.char_duplicates_ratio,
                             new_line_ratio=fw.new_line_ratio, language=lang),
        JsonlWriter(str(filtered), output_filename="${rank}.jsonl.gz"),
    ]
    p = cfg.pii
    return [
        ("filter", filters, tasks),
        ("exact_signatures", [reader(), ExactDedupSignature(str(work / "exact/sigs"), ec)], tasks),
        ("exact_find", [ExactFindDedups(str(work / "exact/sigs"), str(work / "exact/dups"), ec)], 1),
        ("minhash_signatures", [reader(), exact_filter(),
                                MinhashDedupSignature(str(work / "minhash/sigs"), mc, language=lang)], tasks),
        ("minhash_buckets", [MinhashDedupBuckets(str(work / "minhash/sigs"), str(work / "minhash/buckets"),
                                                 config=mc)], mc.num_buckets),
        ("minhash_cluster", [MinhashDedupCluster(str(work / "minhash/buckets"), str(work / "minhash/clusters"),
                                                 config=mc)], 1),
        ("write", [reader(), exact_filter(), MinhashDedupFilter(str(work / "minhash/clusters")),
                   StockPII(remove_emails=p.emails, remove_ips=p.ips),
                   PIIFormatter(mask_emails=False, mask_ips=False, mask_id_codes=p.id_codes, mask_phones=p.phones),
                   ParquetWriter(str(out / "data"), output_filename="${rank}.parquet")], tasks),
    ]


def run_stock(cfg, input_dir: Path, run_dir: Path, lid_model: str, on_group: Callable[[str], None]) -> list[dict]:
    """Run every group with datatrove's LocalPipelineExecutor (forkserver, like llammas' local
    executor); `on_group(name)` is called before each group (and with "" at the end). Returns the
    per-step stats of all groups, in llammas' manifest "steps" format."""
    from datatrove.executor import LocalPipelineExecutor

    from llammas_core.corpus.executors import _merged_stats
    from llammas_core.corpus.pipeline import summarize

    work, out = run_dir / "work", run_dir / "out"
    workers = cfg.executor.workers if cfg.executor.workers > 0 else cfg.executor.tasks
    stats = {}
    for name, pipeline, tasks in stock_groups(cfg, input_dir, work, out, lid_model):
        on_group(name)
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(tasks, workers),
                              logging_dir=str(work / "logs" / name), start_method="forkserver").run()
        stats[name] = _merged_stats(work / "logs" / name)
    on_group("")
    return summarize(stats, {}, out)["steps"]
