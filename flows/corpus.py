"""Corpus flow: raw web data in, a clean deduplicated target-language corpus in the store."""

from __future__ import annotations

from prefect import flow

from llammas_core.config import StoreConfig
from llammas_core.corpus.config import CorpusConfig
from llammas_core.refs import remember
from tasks.common import one_line_errors, run_namer, tagged
from tasks.corpus import corpus_task, crawl_task


@flow(name="corpus", log_prints=True, flow_run_name=run_namer("corpus", "corpus.language"))
@one_line_errors
def corpus_flow(corpus: CorpusConfig, store: StoreConfig = StoreConfig()) -> str:
    """Crawl the configured seed URLs, then read, extract, identify, filter, dedup and write the corpus.
    Returns the URI of the corpus manifest."""
    for source in corpus.sources:
        if source.kind == "crawl":  # committed WARC stages; the corpus stage then finds them done
            tagged(crawl_task, "crawl", corpus.language)(store, source)
    uri = tagged(corpus_task, "corpus", corpus.language)(store, corpus)
    remember(store.open(), "corpus", corpus, uri)  # `@corpus` / `@english_corpus` for a later flow run
    return uri
