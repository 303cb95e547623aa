"""Corpus flow: raw web data in, a clean deduplicated target-language corpus in the store."""

from __future__ import annotations

from prefect import flow

from llammas_core.config import StoreConfig
from llammas_core.corpus.config import CorpusConfig
from tasks.corpus import corpus_task, crawl_task


@flow(name="corpus", log_prints=True)
def corpus_flow(corpus: CorpusConfig, store: StoreConfig = StoreConfig()) -> str:
    """Crawl the configured seed URLs, then read, extract, identify, filter, dedup and write the corpus.
    Returns the URI of the corpus manifest."""
    for source in corpus.sources:
        if source.kind == "crawl":
            crawl_task(store, source)  # committed WARC stages; the corpus stage then finds them done
    return corpus_task(store, corpus)
