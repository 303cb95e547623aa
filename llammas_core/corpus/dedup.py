"""Exact and MinHash deduplication with datatrove, within a run and against earlier runs.

Earlier runs' admitted documents are represented by their dedup index files (datatrove's
ExactDedupBuildIndex / MinhashDedupBuckets(create_index_name=...)), published with each corpus
and gathered here into one local index folder per method. Matching an index entry removes the
new document; within-run duplicates keep one survivor with the cluster size.
"""

from __future__ import annotations

import dataclasses
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.dedup import MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupSignature
import heapq
import struct

from datatrove.pipeline.dedup.exact_dedup import (
    ExactDedupBuildIndex,
    ExactDedupConfig,
    ExactDedupFilter,
    ExactDedupSignature,
    ExactFindDedups,
    read_sigs,
)
from datatrove.utils.typeshelper import ExtensionHelperSD
from datatrove.pipeline.dedup.minhash import MinhashDedupFilter
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import JsonlReader
from datatrove.utils.hashing import HashConfig
from datatrove.utils.text import TextNormConfig, simplify_text as datatrove_simplify_text

from llammas_core.corpus.config import DedupConfig
from llammas_core.corpus.words import word_splitter


def normalized_text(doc: Document) -> str:
    """Exact-dedup key: case and whitespace differences don't make a new document."""
    return " ".join(doc.text.lower().split())


def exact_config() -> ExactDedupConfig:
    return ExactDedupConfig(content_getter=normalized_text, hash_config=HashConfig(precision=64),
                            only_dedup_in_index=False)


def minhash_config(cfg: DedupConfig) -> MinhashConfig:
    return MinhashConfig(n_grams=cfg.n_grams, num_buckets=cfg.num_buckets, hashes_per_bucket=cfg.hashes_per_bucket,
                         hash_config=HashConfig(precision=64))


@lru_cache(maxsize=1)
def _nonspacing_marks() -> dict[int, None]:
    """str.translate table deleting every character of Unicode category Mn (Python's unicodedata)."""
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "Mn"}


@lru_cache(maxsize=8)
def _without_diacritics(settings: tuple) -> TextNormConfig:
    return dataclasses.replace(TextNormConfig(**dict(settings)), norm_unicode_diacritics=False)


def simplify_text(text: str, config: TextNormConfig) -> str:
    """datatrove's simplify_text, the same output; its last step (NFD, then drop category-Mn
    characters, a Python generator per character) done with one str.translate."""
    if not config.norm_unicode_diacritics:
        return datatrove_simplify_text(text, config)
    text = datatrove_simplify_text(text, _without_diacritics(tuple(vars(config).items())))
    return unicodedata.normalize("NFD", text).translate(_nonspacing_marks()).strip()


class MinhashSignature(MinhashDedupSignature):
    """datatrove's MinHash signature step, the same shingles and signatures, shingles made with
    C-level joins and hashing over the whole document (no per-n-gram Python loop)."""

    def get_shingles(self, text: str) -> np.ndarray:
        words = self.word_tokenizer.word_tokenize(simplify_text(text, self.config.norm_config))
        grams = map(" ".join, zip(*(words[i:] for i in range(self.config.n_grams))))
        return np.fromiter(map(self._hash_func, grams), dtype=np.uint64).reshape((-1, 1))


class ExactDedupIndex(ExactDedupBuildIndex):
    """datatrove 0.10.1's ExactDedupBuildIndex calls next() without a default on every signature
    file and crashes when a task got no documents (an empty file); same logic, empty files skipped."""

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        assert world_size == 1, "the index is built by a single task"
        with self.stats.time_stats:
            files = self.data_folder.list_files(glob_pattern="*/*" + ExtensionHelperSD.stage_1_signature)
            readers = [read_sigs(f, i, self.config.hash_config, lines_to_buffer=self.lines_to_buffer)
                       for i, f in enumerate(self.data_folder.open_files(files))]
            pq = [sig for sig in (next(r, None) for r in readers) if sig is not None]
            heapq.heapify(pq)
            fmt = f"<{self.config.hash_config.struct_format}"
            with self.output_folder.open(f"{self.index_name}{ExtensionHelperSD.index}", mode="wb") as out:
                last = None
                while pq:
                    v = heapq.heappop(pq)
                    if last != v.hash_value:
                        out.write(struct.pack(fmt, v.hash_value))
                    last = v.hash_value
                    if (nxt := next(readers[v.file_id], None)) is not None:
                        heapq.heappush(pq, nxt)


class DuplicateWeights(PipelineStep):
    """Records, per task, how many exact copies each document stands for (datatrove's
    `duplicate_count`), by its index in the stream MinHash signs, so cluster sizes can count them.
    Written once the stream is read to its end: a resumed task that skips signing keeps the file."""

    type = "🫂 - DEDUP"
    name = "exact copies per document"

    def __init__(self, output_folder: Path):
        super().__init__()
        self.output_folder = Path(output_folder)

    def run(self, data, rank: int = 0, world_size: int = 1):
        weights = []
        for idx, doc in enumerate(data):
            if count := int(doc.metadata.get("duplicate_count", 0)):
                weights.append(struct.pack("<II", idx, count))
            yield doc
        self.output_folder.mkdir(parents=True, exist_ok=True)
        tmp = self.output_folder / f"{rank:06d}.weights.tmp"
        tmp.write_bytes(b"".join(weights))
        tmp.replace(self.output_folder / f"{rank:06d}.weights")


def _pairs(path: Path) -> list[tuple[int, int]]:
    data = path.read_bytes()
    return list(struct.iter_unpack("<II", data)) if data else []


def weight_cluster_sizes(clusters: Path, weights: Path) -> None:
    """Rewrite MinHash cluster sizes so each member counts with the exact copies folded into it.

    datatrove counts a cluster's members; a member that absorbed k exact copies before MinHash
    stood for k + 1 documents, and when MinHash then removed it, those copies were lost from the
    survivor's duplicate_cluster_size. Idempotent (computed from .clusters and .weights)."""
    counts = {}
    for f in sorted(weights.glob("*.weights")):
        rank = int(f.name.split(".")[0])
        counts.update({(rank, idx): n for idx, n in _pairs(f)})
    members: dict[str, list[tuple[int, int]]] = {}
    size: dict[int, int] = {}
    for f in sorted(clusters.glob("*.clusters")):
        rank = int(f.name.split(".")[0])
        members[f.name.split(".")[0]] = pairs = _pairs(f)
        for idx, cid in pairs:
            size[cid] = size.get(cid, 0) + 1 + counts.get((rank, idx), 0)
    for stem, pairs in members.items():
        tmp = clusters / f"{stem}.sizes.tmp"
        tmp.write_bytes(b"".join(struct.pack("<II", idx, size[cid]) for idx, cid in pairs))
        tmp.replace(clusters / f"{stem}.sizes")


class DedupPlan:
    """Folders and step groups of the dedup part of a corpus stage."""

    def __init__(self, cfg: DedupConfig, language: str, work: Path, index_out: Path, run_name: str):
        self.cfg, self.language, self.work, self.index_out, self.run_name = cfg, language, work, index_out, run_name
        self.prior_exact = work / "prior_index" / "exact"
        self.prior_minhash = work / "prior_index" / "minhash"
        for d in (self.prior_exact, self.prior_minhash):
            d.mkdir(parents=True, exist_ok=True)

    def reader(self, folder: Path) -> JsonlReader:
        return JsonlReader(str(folder), glob_pattern="*.jsonl.gz")

    def groups(self, filtered: Path, tasks: int) -> list[tuple[str, list, int]]:
        """(name, pipeline, tasks) to run in order before the final filtering pass."""
        groups = []
        w = self.work
        if self.cfg.exact:
            ec = exact_config()
            groups += [
                ("exact_signatures", [self.reader(filtered), ExactDedupSignature(str(w / "exact/sigs"), ec)], tasks),
                ("exact_find", [ExactFindDedups(str(w / "exact/sigs"), str(w / "exact/dups"), ec,
                                                index_folder=str(self.prior_exact))], 1),
                ("exact_index", [ExactDedupIndex(str(w / "exact/sigs"), str(self.index_out / "exact"),
                                                      index_name=self.run_name, config=ec)], 1),
            ]
        if self.cfg.minhash:
            mc = minhash_config(self.cfg)
            sig_steps = [self.reader(filtered)] + self.exact_filter(writer=None)
            if self.cfg.exact:
                sig_steps.append(DuplicateWeights(w / "minhash/weights"))
            groups += [
                ("minhash_signatures", sig_steps + [MinhashSignature(str(w / "minhash/sigs"), mc,
                                                                          language=word_splitter(self.language))],
                 tasks),
                ("minhash_buckets", [MinhashDedupBuckets(str(w / "minhash/sigs"), str(w / "minhash/buckets"),
                                                         index_folder=str(self.prior_minhash), config=mc,
                                                         only_dedup_in_index=False,
                                                         create_index_name=self.run_name)], mc.num_buckets),
                ("minhash_cluster", [MinhashDedupCluster(str(w / "minhash/buckets"), str(w / "minhash/clusters"),
                                                         config=mc, save_cluster_size=True,
                                                         save_cluster_id=True)], 1),
            ]
        return groups

    def after_group(self, name: str) -> None:
        """Work between step groups: exact copies counted into MinHash cluster sizes."""
        if name == "minhash_cluster" and self.cfg.exact:
            weight_cluster_sizes(self.work / "minhash/clusters", self.work / "minhash/weights")

    def exact_filter(self, writer) -> list:
        return [ExactDedupFilter(str(self.work / "exact/dups"), exact_config(), exclusion_writer=writer)] \
            if self.cfg.exact else []

    def final_filters(self, exact_writer, minhash_writer) -> list:
        """The steps of the final pass that drop duplicates and annotate survivors with cluster sizes."""
        steps = self.exact_filter(exact_writer)
        if self.cfg.minhash:
            steps.append(MinhashDedupFilter(str(self.work / "minhash/clusters"), exclusion_writer=minhash_writer,
                                            load_cluster_sizes=True))
        return steps

    def publish_minhash_index(self) -> None:
        """Move this run's new index files (written into the prior-index folder) to the output."""
        for f in sorted(self.prior_minhash.glob(f"bucket_*/{self.run_name}_*.minhash.index")):
            dest = self.index_out / "minhash" / f.parent.name / f.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                dest.hardlink_to(f)
