"""Early validation of a corpus config: everything that would otherwise fail minutes or hours
into a run (a language no step supports, a missing source file, a threshold out of range) is
found before any long work starts, and reported all at once, each problem naming its field."""

from __future__ import annotations

import functools

from llammas_core.corpus.config import CorpusConfig, FiltersConfig
from llammas_core.errors import ConfigError
from llammas_core.languages import codes, find, has, lid_label_map, with_filter_defaults, word_tokenizer


@functools.lru_cache(maxsize=1)
def tokenizer_languages() -> frozenset[str]:
    """Language codes datatrove's word tokenizer knows (two-letter and three-letter codes)."""
    from datatrove.utils.word_tokenizers import load_tokenizer_assignments

    return frozenset(k for k in load_tokenizer_assignments() if "_" not in k)


@functools.lru_cache(maxsize=4)
def lid_languages(model: str | None = None, label_map: tuple[tuple[str, str], ...] = ()) -> frozenset[str]:
    """Language codes a local fastText LID model can predict, after the label map."""
    from llammas_core.corpus.langid import _load_model, _resolve_model_path

    labels = _load_model(_resolve_model_path(model)).get_labels()
    mapping = dict(label_map)
    codes = (label.removeprefix("__label__") for label in labels)
    return frozenset(mapping.get(c, c) for c in codes)


def _fraction(problems: list[str], field: str, value) -> None:
    if value is not None and not 0 <= value <= 1:
        problems.append(f"{field}: {value} is not in [0, 1]")


def _filter_problems(f: FiltersConfig, language: str, explicit: bool) -> list[str]:
    problems = []
    p = "corpus.filters"
    rep, q, fw = f.gopher_repetition, f.gopher_quality, f.fineweb_quality
    for name in ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac"):
        _fraction(problems, f"{p}.gopher_repetition.{name}", getattr(rep, name))
    for name in ("top_n_grams", "dup_n_grams"):
        for n, frac in getattr(rep, name):
            if n < 1:
                problems.append(f"{p}.gopher_repetition.{name}: n-gram size {n} < 1")
            _fraction(problems, f"{p}.gopher_repetition.{name}[{n}]", frac)
    if q.min_doc_words < 0 or q.max_doc_words < q.min_doc_words:
        problems.append(f"{p}.gopher_quality: need 0 <= min_doc_words ({q.min_doc_words}) <= max_doc_words "
                        f"({q.max_doc_words})")
    if q.min_avg_word_length < 0 or q.max_avg_word_length < q.min_avg_word_length:
        problems.append(f"{p}.gopher_quality: need 0 <= min_avg_word_length ({q.min_avg_word_length}) <= "
                        f"max_avg_word_length ({q.max_avg_word_length})")
    for name in ("max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "max_non_alpha_words_ratio"):
        _fraction(problems, f"{p}.gopher_quality.{name}", getattr(q, name))
    if q.max_symbol_word_ratio < 0:
        problems.append(f"{p}.gopher_quality.max_symbol_word_ratio: {q.max_symbol_word_ratio} < 0")
    if q.min_stop_words < 0:
        problems.append(f"{p}.gopher_quality.min_stop_words: {q.min_stop_words} < 0")
    if explicit and q.enabled and q.min_stop_words and not q.stop_words and language != "en":
        problems.append(f"{p}.gopher_quality.stop_words: empty means datatrove's English list, which would remove "
                        f"nearly every {language!r} document; give {language!r} stop words or set min_stop_words: 0")
    if fw.stop_chars is not None and (not fw.stop_chars or not all(isinstance(c, str) and c for c in fw.stop_chars)):
        problems.append(f"{p}.fineweb_quality.stop_chars: give non-empty strings (or leave it empty for the "
                        "language's list)")
    if explicit is False and language not in with_filter_defaults():
        problems.append(f"corpus.filters: no filter defaults for language {language!r} (defaults exist for: "
                        f"{', '.join(with_filter_defaults())}); set corpus.filters, with gopher_quality.stop_words "
                        "of the language")
    return problems


def config_problems(cfg: CorpusConfig) -> list[str]:
    """Every problem of the config itself (no I/O beyond loading the small LID model)."""
    problems: list[str] = []
    lang = cfg.language
    tokenizer = tokenizer_languages()
    lid: frozenset[str] | None = None
    model_is_uri = bool(cfg.lid.model) and "://" in cfg.lid.model and not cfg.lid.model.startswith("file://")
    if not model_is_uri:  # a store URI is fetched in the run; its labels are checked there
        try:
            label_map = cfg.lid.label_map or (lid_label_map(lang) if not cfg.lid.model else {})
            lid = lid_languages(cfg.lid.model.removeprefix("file://") if cfg.lid.model else None,
                                tuple(sorted(label_map.items())))
        except ConfigError as e:
            problems.append(f"corpus.lid.model: {e}")
    registry = frozenset(codes())
    words = word_tokenizer(lang) if find(lang) else lang
    missing = [what for what, known, code in (("the language registry", registry, lang), ("language ID", lid, lang),
                                              ("the word tokenizer", tokenizer, words))
               if known is not None and code not in known]
    if missing:
        known = registry & (lid if lid is not None else registry)
        supported = sorted(c for c in known if word_tokenizer(c) in tokenizer)
        problems.append(f"corpus.language: language {lang!r} is not supported by {' and '.join(missing)}; "
                        f"supported: {', '.join(supported)} (with filter defaults: "
                        f"{', '.join(with_filter_defaults())}; others need corpus.filters)")
        if "language ID" in missing and find(lang) and not cfg.lid.model and not has(lang, "lid176"):
            problems.append(f"corpus.lid.model: no lid.176 label for {lang} in the language registry; give a "
                            f"model that knows it" + (", e.g. GlotLID" if has(lang, "glotlid") else ""))
    if cfg.lid.threshold is not None:
        _fraction(problems, "corpus.lid.threshold", cfg.lid.threshold)
    if cfg.lid.min_chars < 0:
        problems.append(f"corpus.lid.min_chars: {cfg.lid.min_chars} < 0")
    if not missing:  # for an unsupported language, that is the message
        problems += _filter_problems(cfg.resolved_filters(), lang, cfg.filters is not None)
    d = cfg.dedup
    for name in ("n_grams", "num_buckets", "hashes_per_bucket"):
        if getattr(d, name) < 1:
            problems.append(f"corpus.dedup.{name}: {getattr(d, name)} < 1")
    e = cfg.executor
    if e.tasks < 1:
        problems.append(f"corpus.executor.tasks: {e.tasks} < 1")
    if e.workers == 0 or e.workers < -1:
        problems.append(f"corpus.executor.workers: {e.workers} (give -1 for all, or a count >= 1)")
    if e.cpus_per_task < 1 or e.mem_per_cpu_gb <= 0:
        problems.append("corpus.executor: cpus_per_task must be >= 1 and mem_per_cpu_gb > 0")
    if cfg.extract.timeout_seconds <= 0:
        problems.append(f"corpus.extract.timeout_seconds: {cfg.extract.timeout_seconds} <= 0")
    for name in ("max_doc_bytes", "max_shard_bytes"):
        if getattr(cfg, name) <= 0:
            problems.append(f"corpus.{name}: {getattr(cfg, name)} <= 0")
    names = [s.name for s in cfg.sources]
    if not names:
        problems.append("corpus.sources: no source given")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"corpus.sources: names must differ (quarantine and ids use them): {dupes} repeat")
    for i, s in enumerate(cfg.sources):
        if s.kind == "crawl":
            from llammas_core.corpus.crawl import check_domains, check_seeds

            try:
                check_seeds(s.crawl.seeds)
                check_domains(s.crawl.allow_domains)
            except ConfigError as err:
                problems.append(f"corpus.sources[{i}] ({s.name}).crawl: {err}")
    return problems


def validate_corpus(cfg: CorpusConfig, endpoint_url: str | None = None) -> None:
    """Raise ConfigError listing every config problem, then InputError for the first source that
    matches no file (local glob or S3 listing). Cheap: run it before any long work."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigError("corpus config: " + "; ".join(problems))
    from llammas_core.corpus import sources as src

    for s in cfg.sources:
        if s.kind != "crawl":
            src.resolve(s, endpoint_url)  # InputError naming the source and the pattern
