"""The corpus stage body: read -> extract -> LID -> quality filters -> dedup -> PII -> Parquet.

Each group of steps is a datatrove pipeline run by the configured executor with its own
logging folder (completion markers, stats) under the stage's scratch folder, so a killed
attempt resumes at the first unfinished task of the first unfinished group.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pyarrow as pa
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

from llammas_core.corpus.config import CorpusConfig
from llammas_core.corpus.dedup import DedupPlan
from llammas_core.corpus.executors import run_pipeline
from llammas_core.corpus.extract import ExtractText
from llammas_core.corpus.filters import quality_filters, removed_writer
from llammas_core.corpus.langid import FastTextLID
from llammas_core.corpus.pii import PIIFormatter
from llammas_core.corpus.report import readable_step_name
from llammas_core.errors import InputError
from llammas_core.corpus.readers import (
    QuarantiningJsonlReader,
    QuarantiningParquetReader,
    quarantine_counts,
)
from llammas_core.corpus.warc_reader import QuarantiningWarcReader

HTML_KINDS = {"warc", "arc", "crawl"}

OUTPUT_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("text", pa.string()),
    ("url", pa.string()),
    ("source", pa.string()),
    ("language", pa.string()),
    ("language_score", pa.float64()),
    ("duplicate_cluster_size", pa.int64()),
    ("metadata", pa.string()),  # everything else the source had, as JSON
])

KNOWN_META = {"url", "source", "language", "language_score", "minhash_cluster_size", "duplicate_count"}


def output_row(self, doc) -> dict:
    """Parquet row of a kept document (datatrove writer adapter)."""
    meta = doc.metadata
    # a MinHash cluster's size already counts every member's exact copies (dedup.weight_cluster_sizes)
    minhash = int(meta.get("minhash_cluster_size", 1))
    cluster = minhash if minhash > 1 else 1 + int(meta.get("duplicate_count", 0))
    rest = {k: v for k, v in meta.items() if k not in KNOWN_META}  # file_path: the source file's URI
    return {
        "id": str(doc.id), "text": doc.text, "url": meta.get("url"), "source": meta.get("source"),
        "language": meta.get("language"), "language_score": meta.get("language_score"),
        "duplicate_cluster_size": cluster, "metadata": json.dumps(rest, ensure_ascii=False, default=str),
    }


def _reader(kind: str, folder: Path, name: str, cfg: CorpusConfig, quarantine: Path, text_field: str, id_field: str,
            file_uris: dict[str, str] | None = None):
    common = dict(quarantine_folder=str(quarantine), max_doc_bytes=cfg.max_doc_bytes, source_name=name,
                  max_examples=cfg.quarantine_examples, file_uris=file_uris, split_bytes=cfg.split_bytes)
    if kind in ("warc", "wet", "arc", "crawl"):
        return QuarantiningWarcReader(str(folder), **common)
    if kind == "jsonl":
        return QuarantiningJsonlReader(str(folder), text_key=text_field, id_key=id_field, **common)
    return QuarantiningParquetReader(str(folder), text_key=text_field, id_key=id_field, **common)


def build_filter_steps(cfg: CorpusConfig, staged: list[tuple], out: Path, filtered: Path, lid_model: str | None) -> list:
    """Readers of HTML archives go before the extractor and readers of text after it, so only HTML
    is extracted; then LID and the quality filters; survivors go to a scratch JSONL folder.

    `staged`: (name, kind, folder, text_field, id_field[, {file name in folder: source URI}])."""
    removed, quarantine = out / "removed", out / "quarantine"
    readers = [(s[1], _reader(s[1], s[2], s[0], cfg, quarantine, s[3], s[4], s[5] if len(s) > 5 else None))
               for s in staged]
    html = [r for k, r in readers if k in HTML_KINDS]
    text = [r for k, r in readers if k not in HTML_KINDS]
    steps = list(html)
    if html:
        steps.append(ExtractText(cfg.extract.timeout_seconds, cfg.extract.favour_precision,
                                 exclusion_writer=removed_writer(removed, "extract", cfg.removed_examples)))
    steps += text
    steps.append(FastTextLID(language=cfg.language, threshold=cfg.lid.threshold, model=lid_model,
                             label_map=cfg.lid.label_map or None, min_chars=cfg.lid.min_chars,
                             exclusion_writer=removed_writer(removed, "language", cfg.removed_examples)))
    steps += quality_filters(cfg.resolved_filters(), cfg.language, removed, cfg.removed_examples)
    steps.append(JsonlWriter(str(filtered), output_filename="${rank}.jsonl.gz"))
    return steps


def run_corpus_pipeline(cfg: CorpusConfig, staged: list[tuple], work: Path, out: Path,
                        run_name: str, lid_model: str | None, log: Callable[[str], None] = print) -> dict:
    """Run every step group; returns manifest extras (counts and per-step statistics)."""
    tasks = max(1, cfg.executor.tasks)
    logs, filtered = work / "logs", work / "filtered"
    stats: dict[str, list] = {}
    removed: dict[str, int] = {}

    def run(name: str, pipeline: list, n: int) -> None:
        log(f"corpus: {name} ({n} task{'s' * (n > 1)}, {cfg.executor.kind})")
        stats[name] = run_pipeline(cfg.executor, name, pipeline, n, logs)
        removed.update(removed_counts(pipeline, stats[name]))

    run("filter", build_filter_steps(cfg, staged, out, filtered, lid_model), tasks)
    if not any(filtered.glob("*.jsonl.gz")):  # datatrove's dedup readers would fail on "No files found"
        raise InputError(nothing_kept_message(cfg, stats["filter"], removed, out))
    plan = DedupPlan(cfg.dedup, cfg.language, work, out / "index", run_name)
    for name, pipeline, n in plan.groups(filtered, tasks):
        run(name, pipeline, n)
        plan.after_group(name)
    final = [plan.reader(filtered)]
    final += plan.final_filters(removed_writer(out / "removed", "exact_dedup", cfg.removed_examples),
                                removed_writer(out / "removed", "minhash_dedup", cfg.removed_examples))
    if cfg.pii.enabled:
        p = cfg.pii
        final.append(PIIFormatter(mask_emails=p.emails, mask_ips=p.ips, mask_id_codes=p.id_codes, mask_phones=p.phones))
    final.append(ParquetWriter(str(out / "data"), output_filename="${rank}.parquet", adapter=output_row,
                               schema=OUTPUT_SCHEMA, max_file_size=cfg.max_shard_bytes, batch_size=1000))
    run("write", final, tasks)
    if cfg.dedup.minhash:
        plan.publish_minhash_index()
    return summarize(stats, removed, out)


def nothing_kept_message(cfg: CorpusConfig, filter_stats: list[dict], removed: dict[str, int], out: Path) -> str:
    read = sum(int(_total(s.get("stats", {}).get("documents"))) for s in filter_stats if "READER" in s.get("name", ""))
    quarantined = quarantine_counts(str(out / "quarantine")) if (out / "quarantine").exists() else {}
    why = lambda counts: ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"  # noqa: E731
    return (f"corpus ({cfg.language}): no document passed the filters: {read:,} read; removed: {why(removed)}; "
            f"quarantined: {why(quarantined)}. Check corpus.language and the sources; the removed documents "
            f"and their reasons are in {out / 'removed'}")


def _total(value) -> float:
    """datatrove stats hold plain numbers or {total, n, mean...} dicts."""
    return float(value.get("total", 0) if isinstance(value, dict) else value or 0)


def removed_counts(pipeline: list, group_stats: list[dict]) -> dict[str, int]:
    """Documents each step sent to its exclusion folder, from the step's own `dropped` count
    (datatrove names a step's stats str(step)): no second pass over the removed files."""
    by_name = {s["name"]: s.get("stats", {}) for s in group_stats}
    counts = {}
    for step in pipeline:
        writer = getattr(step, "exclusion_writer", None)
        dropped = int(_total(by_name.get(str(step), {}).get("dropped"))) if writer is not None else 0
        if dropped:
            counts[Path(writer.output_folder.path).name] = dropped
    return counts


def summarize(stats: dict[str, list], removed: dict[str, int], out: Path) -> dict:
    """Documents and bytes in and out, and time, per step; plus totals the manifest shows."""
    table = []
    for group, steps in stats.items():
        for step in steps:
            s = step.get("stats", {})
            table.append({
                "group": group, "step": step.get("name"), "name": readable_step_name(step.get("name")),
                "docs_in": int(_total(s.get("total"))),
                "docs_out": int(_total(s.get("forwarded", s.get("documents")))),  # readers count `documents`
                "docs_dropped": int(_total(s.get("dropped"))), "bytes_out": int(_total(s.get("doc_len"))),
                "seconds": round(_total(step.get("time_stats")), 3),
            })
    quarantined = quarantine_counts(str(out / "quarantine")) if (out / "quarantine").exists() else {}
    documents = sum(pq_rows(p) for p in sorted((out / "data").glob("*.parquet")))
    (out / "stats.json").write_text(json.dumps({"steps": table, "removed": removed, "quarantined": quarantined},
                                               indent=2))
    return {"records": documents, "removed": removed, "quarantined": quarantined, "steps": table}


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows
