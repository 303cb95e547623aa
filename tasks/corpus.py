"""Prefect tasks of the corpus flow: thin wrappers over llammas_core.corpus."""

from __future__ import annotations

from prefect import task

from llammas_core.config import StoreConfig
from llammas_core.corpus.config import CorpusConfig, SourceConfig
from llammas_core.corpus.stage import corpus_base_key, crawl_stage_id, run_corpus, run_crawl
from tasks.common import (
    RETRIES,
    RETRY_DELAYS,
    identity_key,
    one_line_errors,
    publish_stage_artifacts,
    remember_result,
    retry_transient_only,
    run_log,
    cache_key_over,
)


def _crawl_identity(store: StoreConfig, source: SourceConfig) -> str:
    return identity_key("crawl", store.uri, crawl_stage_id(source))


def _corpus_identity(store: StoreConfig, base_key: str) -> str:
    return identity_key("corpus", store.uri, base_key)


def _listed_corpus_identity(store: StoreConfig, corpus: CorpusConfig) -> str:
    # source fingerprints enter the base key: a grown dump is a new identity
    return _corpus_identity(store, corpus_base_key(corpus, store.endpoint_url)[0])


_crawl_key = cache_key_over(_crawl_identity, "source")
_corpus_key = cache_key_over(_listed_corpus_identity, "corpus")


@task(name="crawl", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_crawl_key, persist_result=True, task_run_name="crawl-{source.name}")
@one_line_errors
def crawl_task(store: StoreConfig, source: SourceConfig) -> str:
    result = run_crawl(store.open(), source, store.work_path, run_log())
    publish_stage_artifacts(f"crawl-{source.name}", result.manifest_uri, result.manifest, result.skipped)
    remember_result(store, _crawl_identity(store, source), result.manifest_uri)
    return result.manifest_uri


@task(name="curate-corpus", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS,
      retry_condition_fn=retry_transient_only, cache_key_fn=_corpus_key, persist_result=True,
      task_run_name="corpus-{corpus.language}")
@one_line_errors
def corpus_task(store: StoreConfig, corpus: CorpusConfig) -> str:
    result = run_corpus(store.open(), corpus, store.work_path, store.endpoint_url, run_log())
    publish_stage_artifacts(f"corpus-{corpus.language}", result.manifest_uri, result.manifest, result.skipped)
    # the manifest carries the base key: no second listing of the sources
    remember_result(store, _corpus_identity(store, result.manifest["base_key"]), result.manifest_uri)
    return result.manifest_uri
