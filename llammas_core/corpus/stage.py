"""The corpus stage: crawl (if configured), then curate, as content-addressed stages.

Incremental refreshes: every committed corpus of a language is recorded in the store's
lineage file `refs/corpus-<language>.jsonl`. A new run dedups against the index files of all
of them, so it admits only new documents; its manifest `includes` the latest earlier increment (which
includes its own predecessors), so a reader of the corpus (tokenize, tiny base) reads them together:
the corpus to date. The same config over the same unchanged sources is
recognised by its base key (config + source fingerprints + code version) and skipped.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Callable

from llammas_core import __version__
from llammas_core.corpus import sources as src
from llammas_core.corpus.config import CorpusConfig, SourceConfig
from llammas_core.corpus.crawl import crawl, explain_empty_crawl
from llammas_core.corpus.pipeline import run_corpus_pipeline
from llammas_core.corpus.readers import display_path
from llammas_core.corpus.validate import validate_corpus
from llammas_core.errors import ConfigError, InputError, TransientError
from llammas_core.stage import (
    MANIFEST,
    StageContext,
    StageResult,
    committed_files,
    read_manifest,
    run_stage,
    stage_key,
)
from llammas_core.store import Store


def lineage_key(language: str) -> str:
    return f"refs/corpus-{language}.jsonl"


def read_lineage(store: Store, language: str) -> list[dict]:
    key = lineage_key(language)
    if not store.exists(key):
        return []
    with store.open_read(key) as f:
        return [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]


def append_lineage(store: Store, language: str, entry: dict) -> None:
    """Read-modify-write of a small file: fine for one scheduled writer per language."""
    entries = read_lineage(store, language)
    if any(e["id"] == entry["id"] for e in entries):
        return
    entries.append(entry)
    with store.open_write(lineage_key(language)) as f:
        f.write("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries).encode())


def refresh_period(now: dt.datetime | None = None) -> str:
    """A crawl is redone once per ISO week: the week enters the crawl stage key."""
    year, week, _ = (now or dt.datetime.now(dt.timezone.utc)).isocalendar()
    return f"{year}-W{week:02d}"


def run_crawl(store: Store, source: SourceConfig, work_root: Path, log: Callable[[str], None]) -> StageResult:
    def body(ctx: StageContext) -> dict:
        stats = crawl(source.crawl, ctx.out_dir / "warc")
        log(f"crawl {source.name}: {stats}")
        if not stats.written:  # never commit an empty crawl: it would stand for the whole week
            message, transient = explain_empty_crawl(f"{source.name!r} ({crawl_stage_id(source)})", stats)
            raise (TransientError if transient else InputError)(message)
        return {"records": stats.written, "crawl_stats": stats.__dict__}

    return run_stage(store, "crawl", source.crawl, [], body, work_root, extra_key=[f"period:{refresh_period()}"])


def _local_files_of(store: Store, manifest: dict, prefix: str, dest: Path) -> list[Path]:
    """Files of a committed stage under `prefix`, as local paths, size and sha256 verified."""
    return committed_files(store, manifest, prefix, dest)


def _link(files: list[Path], src_root: str, dest_root: Path, rename: Callable[[Path], str] | None = None) -> list[str]:
    """Symlinks to `files` under dest_root; returns their paths relative to dest_root."""
    names = []
    for f in files:
        rel = f.as_posix().split(src_root, 1)[1]
        names.append(rename(f) if rename else rel)
        target = dest_root / names[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(f)
    return names


def crawl_stage_id(source: SourceConfig) -> str:
    """The id the crawl stage of a source will have this period (known before crawling)."""
    return f"crawl/{stage_key('crawl', source.crawl, [f'period:{refresh_period()}'], __version__)}"


def corpus_view(cfg: CorpusConfig) -> dict:
    """The config as the stage's identity. Where it runs does not change the output (the executor's
    shard count does), so a corpus computed locally is reused on Slurm or Ray and vice versa."""
    view = cfg.model_dump(mode="json")
    view["executor"] = {"tasks": cfg.executor.tasks}
    return view


def corpus_base_key(cfg: CorpusConfig, endpoint_url: str | None = None) -> tuple[str, list[str], dict]:
    """(base key, source fingerprints, resolved files): the identity of a corpus run without its
    lineage. Orchestrators use it as a cache key; it changes when a source gains files."""
    fingerprints, resolved, crawl_ids = [], {}, []
    for s in cfg.sources:
        if s.kind == "crawl":
            crawl_ids.append(crawl_stage_id(s))
        else:
            resolved[s.name] = src.resolve(s, endpoint_url)
            fingerprints.append(src.fingerprint(s.name, resolved[s.name]))
    return stage_key("corpus", corpus_view(cfg), crawl_ids + fingerprints, __version__), fingerprints, resolved


def run_corpus(store: Store, cfg: CorpusConfig, work_root: Path, endpoint_url: str | None = None,
               log: Callable[[str], None] = print) -> StageResult:
    work_root = Path(work_root).expanduser()
    validate_corpus(cfg, endpoint_url)  # seconds, before anything long (crawl, LID, dedup)
    base_key, fingerprints, resolved = corpus_base_key(cfg, endpoint_url)
    lineage = read_lineage(store, cfg.language)
    for entry in lineage:
        if entry.get("base_key") == base_key and store.exists(f"{entry['id']}/{MANIFEST}"):
            uri = store.url(f"{entry['id']}/{MANIFEST}")  # where it is now, not where the lineage saw it
            log(f"corpus: unchanged config and sources, reusing {uri}")
            return StageResult(uri, store.read_json(f"{entry['id']}/{MANIFEST}"), True)
    crawled = {s.name: run_crawl(store, s, work_root, log).manifest for s in cfg.sources if s.kind == "crawl"}
    crawl_manifests = list(crawled.values())
    prior = [read_manifest(e["uri"], endpoint_url) for e in lineage] if cfg.dedup.against_previous else []
    check_index_compatible(cfg, prior)

    def body(ctx: StageContext) -> dict:
        staged = []
        for s in cfg.sources:
            folder = ctx.work_dir / "sources" / s.name
            if s.kind == "crawl":
                m = crawled[s.name]
                names = _link(_local_files_of(store, m, "warc/", ctx.work_dir / "downloads" / m["key"]), "/warc/",
                              folder)
                uris = {n: store.url(f"{m['id']}/warc/{n}") for n in names}
            else:
                uris = src.stage_locally(resolved[s.name], folder, endpoint_url)
            # records name the source URI, not the scratch link: same bytes in any work dir
            staged.append((s.name, s.kind, folder, s.text_field, s.id_field, uris))
        for m in prior:  # earlier runs' dedup indexes, one file name per run so they never collide
            files = _local_files_of(store, m, "index/", ctx.work_dir / "downloads" / m["key"])
            _link([f for f in files if "/index/exact/" in f.as_posix()], "/index/exact/",
                  ctx.work_dir / "prior_index" / "exact", rename=lambda f, k=m["key"]: f"{k}-{f.name}")
            _link([f for f in files if "/index/minhash/" in f.as_posix()], "/index/minhash/",
                  ctx.work_dir / "prior_index" / "minhash")
        lid_model = _resolve_model(cfg.lid.model, ctx.work_dir, endpoint_url)
        extra = run_corpus_pipeline(cfg, staged, ctx.work_dir, ctx.out_dir, f"run-{ctx.key}", lid_model, log)
        source_files = {n: sorted(display_path(f.uri) for f in files) for n, files in resolved.items()}
        # a refresh admits only new documents; with the increments it was deduplicated against it is the
        # corpus. The latest one includes its own predecessors, and a run without `against_previous` (a
        # fresh start, no prior) includes nothing: a chain, never a document twice.
        includes = [prior[-1]["id"]] if prior else []
        return {**extra, "language": cfg.language, "base_key": base_key, "source_files": source_files,
                "includes": includes}

    result = run_stage(store, "corpus", corpus_view(cfg), crawl_manifests + prior, body, work_root, extra_key=fingerprints)
    append_lineage(store, cfg.language, {"id": result.manifest["id"], "uri": result.manifest_uri,
                                         "base_key": base_key, "records": result.manifest.get("records")})
    return result


MINHASH_PARAMS = ("n_grams", "num_buckets", "hashes_per_bucket")


def check_index_compatible(cfg: CorpusConfig, prior: list[dict]) -> None:
    """MinHash signatures of different parameters never match: deduping against such an index
    would silently re-admit everything it holds, so refuse instead."""
    ours = {k: getattr(cfg.dedup, k) for k in MINHASH_PARAMS}
    for m in prior:
        dedup = m.get("config", {}).get("dedup", {})
        theirs = {k: dedup.get(k) for k in MINHASH_PARAMS}
        if cfg.dedup.minhash and dedup.get("minhash", True) and theirs != ours:
            raise ConfigError(
                f"corpus {m['id']} (in refs/corpus-{cfg.language}.jsonl) was deduplicated with MinHash {theirs}, "
                f"this config uses {ours}: use the same parameters, or start a new lineage with "
                "dedup.against_previous: false")


def _resolve_model(model: str | None, work_dir: Path, endpoint_url: str | None) -> str | None:
    """A LID model given as a store URI is fetched once into the scratch folder; paths pass through."""
    if not model or "://" not in model or model.startswith("file://"):
        return model.removeprefix("file://") if model else None
    from llammas_core.store import open_uri

    model_store, key = open_uri(model, endpoint_url)
    return str(model_store.get_file(key, work_dir / "models" / Path(key).name))
