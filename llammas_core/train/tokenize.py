"""The `tokenize` stage: CPT corpora -> fixed-size token blocks in the store, read by global index.

What it does (`run_tokenize`):
1. Every input file of every source (corpus manifest shards, or plain JSONL/Parquet files) becomes one
   task of a datatrove pipeline run on the corpus executor (local processes, Ray or Slurm; see
   llammas_core.corpus.executors): `_FileReader` (one file per rank) -> datatrove's `DocumentTokenizer`
   (no shuffling), which writes `<rank>_unshuffled.ds` + `.ds.index` per file. Task r always reads file r,
   so the result does not depend on the executor, its worker count or its kind (a test checks local == Ray).
   Each document is encoded as the model's tokenizer does with `add_special_tokens=True` (Llama: BOS
   first) followed by EOS: the stage saves the exact `tokenizer.json` it used, with a post-processor
   built to reproduce that (checked on probe texts), and its sha256 is the tokenizer fingerprint.
2. The document mixture (e.g. 75% Estonian / 25% English) is drawn here, deterministically for a seed:
   `mixture_order` replays `datasets.interleave_datasets(probabilities, seed,
   stopping_strategy="all_exhausted")` on document counts (the same draws as `cpt_data.interleave`),
   then the drawn documents are concatenated and cut into blocks of `block_size` tokens (tail dropped),
   exactly the stream that `cpt_data.pack_blocks(interleave(...))` gives, without re-tokenizing.
3. Output (`<store>/tokenize/<key>/`): `blocks/NNNNN.ds` shards holding a whole number of blocks as raw
   little-endian uint16 (uint32 for vocabularies over 65,536) tokens, `blocks/NNNNN.ds.index` (uint64
   document ends inside the shard, plus the shard end), `tokenizer.json`, and the manifest
   (`blocks`, `block_size`, `tokens`, `token_dtype`, `shards`, `documents`, `mixture`, `tokenizer`,
   `stats` with the tokenize throughput per core).

Why this format: it is datatrove's own tokenized-file format (`.ds` + `.ds.index`), which
datatrove's `DatatroveFolderDataset` and nanotron read directly (with `seq_len = block_size - 1`: they
read windows of seq_len + 1 tokens), is memory-mappable with numpy (`np.memmap`, no parsing), and
gives block b of a shard at byte offset `b * block_size * itemsize`: random access in O(1). A shard
never splits a block, so the trainer maps a global block index to (shard, offset) with one bisect.

Reading (llammas_core.train.blocks: `open_blocks`, `BlockSchedule`, `CPTBlocks`): the trainer reads sample g of the run as block
`schedule(g)`: pass e = g // n, position p = g % n over the n training blocks; with `shuffle` the
block is `permutation_e[p]`, the permutation seeded by (seed, e), else p (sequential wrap). Rank r of
W with micro-batch m reads, as its k-th sample, global sample `(k // m) * m * W + r * m + k % m`
(micro-batch j of every rank together covers samples [j*m*W, (j+1)*m*W)): ranks read disjoint slices
and a resume at optimiser step s starts rank r at k = s * accum * m, without reading anything before
it. Resume is therefore exact and O(1) at any step, including after several passes.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from llammas_core.errors import ConfigError, InputError
from llammas_core.train.blocks import (  # noqa: F401 (the reader side, re-exported)
    BlockSchedule, CPTBlocks, HeldOutBlocks, TokenBlocks, open_blocks, rank_sample)

BLOCKS_DIR = "blocks"
TOKENIZER_FILE = "tokenizer.json"
SHARD_TOKENS = 1 << 28  # ~512 MiB of uint16 per shard: few files, each mmap-able and downloadable in one go
PROBES = ["Tere hommikust! Kuidas läheb?", "The quick brown fox.", "a", "  spaced\ttext\n"]

__all__ = [
    "mixture_order",
    "block_tokenizer",
    "tokenizer_fingerprint",
    "tokenize_view",
    "run_tokenize",
    # reading the blocks (llammas_core.train.blocks), re-exported
    "TokenBlocks",
    "open_blocks",
    "BlockSchedule",
    "CPTBlocks",
    "HeldOutBlocks",
    "rank_sample",
]


# --------------------------------------------------------------------------- mixture


def mixture_order(counts: list[int], probabilities: list[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(source, document) of each drawn document, in order: the all_exhausted interleave on counts.

    Draws come from `numpy.random.default_rng(seed).choice(n, 1000, p)` batches like
    `cpt_data.interleave` / `datasets.interleave_datasets`: each draw takes the next document of the
    drawn source (restarting a source after its last one); drawing stops right after the draw that
    takes the last not-yet-taken document of the last source to finish its first pass. One source:
    its documents in order. Vectorised: O(draws) numpy work, no Python loop per document.
    """
    n = len(counts)
    if n == 0 or n != len(probabilities):
        raise ConfigError(f"mixture: {n} sources but {len(probabilities)} probabilities")
    counts_a = np.asarray(counts, dtype=np.int64)
    if np.any(counts_a <= 0):
        empty = [i for i, c in enumerate(counts) if c <= 0]
        raise InputError(f"mixture: source(s) {empty} hold no document with text")
    if n == 1:
        return np.zeros(counts[0], dtype=np.int32), np.arange(counts[0], dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    if not np.all(np.isfinite(probs)) or np.any(probs <= 0):
        raise ConfigError(f"mixture: probabilities must be > 0, got {list(probabilities)}")
    probs = probs / probs.sum()
    rng = np.random.default_rng(seed)
    chunks, seen = [], np.zeros(n, dtype=np.int64)
    while np.any(seen < counts_a):
        c = rng.choice(n, size=1000, p=probs)
        chunks.append(c.astype(np.int32))
        seen += np.bincount(c, minlength=n)
    choices = np.concatenate(chunks)
    occurrence = np.empty(len(choices), dtype=np.int64)
    last = 0
    for i in range(n):
        where = np.flatnonzero(choices == i)
        occurrence[where] = np.arange(len(where))
        last = max(last, int(where[counts[i] - 1]))
    choices, occurrence = choices[: last + 1], occurrence[: last + 1]
    return choices, occurrence % counts_a[choices]


# --------------------------------------------------------------------------- tokenizer


def block_tokenizer(hf_tokenizer):
    """A `tokenizers.Tokenizer` that encodes a document as `hf_tokenizer(text, add_special_tokens=True)`
    plus EOS (unless that already ends with EOS), for datatrove's DocumentTokenizer.

    The special-token prefix/suffix are read off the HF tokenizer (e.g. Llama: BOS first) and written
    as one TemplateProcessing post-processor; the result is checked on probe texts.
    """
    from tokenizers import Tokenizer, processors

    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError("the tokenize stage needs a fast (tokenizers) tokenizer; this model only has a slow one")
    eos = hf_tokenizer.eos_token_id
    if eos is None:
        raise ConfigError("tokenizer has no EOS token: documents cannot be separated")
    probe = PROBES[0]
    with_sp = hf_tokenizer(probe, add_special_tokens=True)["input_ids"]
    without = hf_tokenizer(probe, add_special_tokens=False)["input_ids"]
    start = next((i for i in range(len(with_sp) - len(without) + 1) if with_sp[i:i + len(without)] == without), None)
    if start is None:
        raise ConfigError("cannot locate the text inside the tokenizer's special tokens (unusual post-processor)")
    prefix, suffix = with_sp[:start], with_sp[start + len(without):]
    if not suffix or suffix[-1] != eos:
        suffix = suffix + [eos]
    names = {i: hf_tokenizer.convert_ids_to_tokens(i) for i in prefix + suffix}
    single = " ".join([f"{names[i]}:0" for i in prefix] + ["$A:0"] + [f"{names[i]}:0" for i in suffix])
    tok = Tokenizer.from_str(backend.to_str())
    tok.post_processor = processors.TemplateProcessing(single=single, special_tokens=sorted({(names[i], i) for i in names}))
    for text in PROBES:
        ref = hf_tokenizer(text, add_special_tokens=True)["input_ids"]
        ref = ref if ref and ref[-1] == eos else ref + [eos]
        if tok.encode(text).ids != ref:
            raise ConfigError(f"block tokenizer differs from the model tokenizer on {text!r}")
    return tok


def tokenizer_fingerprint(tokenizer_json: str) -> str:
    return "tokenizer:" + hashlib.sha256(tokenizer_json.encode()).hexdigest()[:20]


# --------------------------------------------------------------------------- datatrove step

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.base import PipelineStep  # noqa: E402


class _FileReader(PipelineStep):
    """Documents of one input file per task (rank r reads file r), empty texts skipped and counted."""

    name = "llammas file reader"
    type = "📖 - READER"

    def __init__(self, files: list[str], text_field: str):
        super().__init__()
        self.files, self.text_field = files, text_field

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from llammas_core.train.cpt_data import TEXT_EXTS, iter_records

        for i, rec in enumerate(iter_records(self.files[rank], TEXT_EXTS, columns=[self.text_field])):
            text = rec.get(self.text_field) if isinstance(rec, dict) else rec
            if not isinstance(text, str) or not text:
                self.stat_update("empty_text")
                continue
            self.stat_update("documents")
            yield Document(text=text, id=f"{rank}/{i}")


# --------------------------------------------------------------------------- stage


def _token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u4") if vocab_size > np.iinfo(np.uint16).max + 1 else np.dtype("<u2")


def _source_files(source: str) -> list[str]:
    from llammas_core.train.cpt_data import resolve_files

    return [store.url(key) for store, key in resolve_files(source)]


class _DocTable:
    """Documents of one source over its per-file `.ds` outputs: doc i -> (file, start, end)."""

    def __init__(self, folder: Path, ranks: list[int], dtype: np.dtype):
        self.arrays, files, starts, ends = [], [], [], []
        for j, r in enumerate(ranks):
            ds = folder / f"{r:05d}_unshuffled.ds"
            if not ds.is_file():  # a file without any text gives no output
                continue
            doc_ends = np.fromfile(f"{ds}.index", dtype="<u8").astype(np.int64)
            self.arrays.append(np.memmap(ds, dtype=dtype, mode="r") if ds.stat().st_size else np.zeros(0, dtype))
            k = len(self.arrays) - 1
            files.append(np.full(len(doc_ends), k, dtype=np.int32))
            starts.append(np.concatenate([[0], doc_ends[:-1]]))
            ends.append(doc_ends)
        self.file = np.concatenate(files) if files else np.zeros(0, np.int32)
        self.start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        self.end = np.concatenate(ends) if ends else np.zeros(0, np.int64)
        self.tokens = int((self.end - self.start).sum())

    def __len__(self) -> int:
        return len(self.end)


class _ShardWriter:
    """Writes the mixed token stream as whole blocks into blocks/NNNNN.ds (+ .ds.index)."""

    def __init__(self, out: Path, block_size: int, dtype: np.dtype, blocks_per_shard: int):
        self.out, self.block_size, self.dtype = out, block_size, dtype
        self.shard_tokens = blocks_per_shard * block_size
        self.buf = np.empty(self.shard_tokens, dtype=dtype)
        self.fill = 0
        self.doc_ends: list[int] = []
        self.shards: list[dict] = []

    def write_doc(self, tokens: np.ndarray) -> None:
        while len(tokens):
            n = min(len(tokens), self.shard_tokens - self.fill)
            self.buf[self.fill:self.fill + n] = tokens[:n]
            self.fill += n
            tokens = tokens[n:]
            if not len(tokens):
                self.doc_ends.append(self.fill)
            if self.fill == self.shard_tokens:
                self._flush(self.fill)

    def _flush(self, n_tokens: int) -> None:
        if n_tokens <= 0:
            return
        name = f"{BLOCKS_DIR}/{len(self.shards):05d}.ds"
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.buf[:n_tokens].tofile(path)
        ends = [e for e in self.doc_ends if e < n_tokens] + [n_tokens]
        np.asarray(ends, dtype="<u8").tofile(f"{path}.index")
        self.shards.append({"path": name, "blocks": n_tokens // self.block_size})
        self.fill, self.doc_ends = 0, []

    def close(self) -> int:
        """Flush whole blocks; returns the dropped tail (tokens)."""
        whole = (self.fill // self.block_size) * self.block_size
        tail = self.fill - whole
        self._flush(whole)
        return tail


def _base_tokenizer(cfg, work_dir: Path, endpoint_url: str | None = None):
    from transformers import AutoTokenizer

    from llammas_core.train.stage import resolve_base
    from llammas_core.train.modeling import resolve_model_path

    local, _ = resolve_base(cfg.model.base, cfg.model.revision, work_dir, endpoint_url)
    path = local or resolve_model_path(cfg.model.base, work_dir / "model-cache")
    try:
        return AutoTokenizer.from_pretrained(path, revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code)
    except Exception as e:  # OSError, ValueError, hub errors
        raise ConfigError(f"cannot load the tokenizer of model {cfg.model.base!r}: {type(e).__name__}: {e}") from None


def tokenize_view(cfg) -> dict:
    """What determines the token blocks besides the inputs and the tokenizer."""
    c = cfg.cpt
    return {"probabilities": list(c.probabilities), "block_size": c.block_size, "text_field": c.text_field,
            "mixture_seed": c.mixture_seed if c.mixture_seed is not None else cfg.optim_for("cpt").seed}


def run_tokenize(store, train_cfg, work_root, log: Callable[[str], None] = print, executor_cfg=None):
    """Tokenize `train_cfg.cpt.sources` with the base model's tokenizer into blocks (a committed stage).

    Key: the ordered source ids (corpus manifest ids; plain files by path/size/mtime), the tokenizer
    fingerprint (sha256 of the tokenizer.json used), block size, probabilities, text field and mixture
    seed. `executor_cfg` (llammas_core.corpus.config.ExecutorConfig, default local on all cores) runs
    the tokenizing, one task per input file (its `tasks` is not used: the file count is; `workers` is); the
    mixing and block cutting are a copy of token bytes in this process (~1 s per 100k documents). On Ray
    or Slurm the work folder must be on a filesystem the workers share, as for the corpus stage. A killed
    attempt resumes: datatrove skips the files whose task completed.
    """
    from llammas_core.corpus.config import ExecutorConfig
    from llammas_core.corpus.executors import run_pipeline
    from llammas_core.stage import run_stage
    from llammas_core.train.stage import data_inputs
    from llammas_core.train.vocab_stage import with_extended_vocab

    if not train_cfg.cpt.sources:
        raise ConfigError("tokenize: cpt.sources is empty")
    executor_cfg = executor_cfg or ExecutorConfig(kind="local", workers=-1)
    work_root = Path(work_root)
    cfg = with_extended_vocab(store, train_cfg, work_root, log)  # the extended tokenizer, when configured
    probe_dir = work_root.expanduser().resolve() / "tokenize" / "_tokenizer"
    probe_dir.mkdir(parents=True, exist_ok=True)
    hf_tok = _base_tokenizer(cfg, probe_dir, store.endpoint_url)
    tok_json = block_tokenizer(hf_tok).to_str()
    fingerprint = tokenizer_fingerprint(tok_json)
    per_source = [data_inputs([s], store.endpoint_url) for s in cfg.cpt.sources]
    manifests = [m for ms, _ in per_source for m in ms]
    source_ids = [(ms[0]["id"] if ms else extra[0]) for ms, extra in per_source]
    extra_key = [e for _, extra in per_source for e in extra] + [fingerprint]
    view = {**tokenize_view(cfg), "sources": source_ids}
    dtype = _token_dtype(len(hf_tok))
    block_size = cfg.cpt.block_size

    def body(ctx) -> dict:
        tok_path = ctx.work_dir / TOKENIZER_FILE
        tok_path.write_text(tok_json)
        files_by_source = [_source_files(s) for s in cfg.cpt.sources]
        all_files = [f for fs in files_by_source for f in fs]
        from datatrove.pipeline.tokens import DocumentTokenizer

        tokens_dir = ctx.work_dir / "tokens"
        pipeline = [
            _FileReader(all_files, cfg.cpt.text_field),
            DocumentTokenizer(output_folder=str(tokens_dir), tokenizer_name_or_path=str(tok_path),
                              shuffle_documents=False, save_final_metadata=False, batch_size=1000),
        ]
        workers = executor_cfg.workers if executor_cfg.workers > 0 else (os.cpu_count() or 1)
        log(f"[tokenize] {len(all_files)} files from {len(cfg.cpt.sources)} sources on the {executor_cfg.kind} "
            f"executor ({min(workers, len(all_files))} workers)")
        t0 = time.time()
        stats = run_pipeline(executor_cfg, "tokenize", pipeline, len(all_files), ctx.work_dir / "logs")
        tokenize_s = time.time() - t0
        step_stats = {s.get("name", ""): s.get("stats", {}) for s in stats}
        task_seconds = _task_seconds(stats)

        # mixture + blocks (in this process: a copy of token bytes)
        t1 = time.time()
        tables, rank = [], 0
        for fs in files_by_source:
            tables.append(_DocTable(tokens_dir, list(range(rank, rank + len(fs))), dtype))
            rank += len(fs)
        counts = [len(t) for t in tables]
        for sid, n in zip(source_ids, counts):
            if n == 0:
                raise InputError(f"tokenize: source {sid} holds no document with text in {cfg.cpt.text_field!r}")
        src, doc = mixture_order(counts, cfg.cpt.probabilities, view["mixture_seed"])
        writer = _ShardWriter(ctx.out_dir, block_size, dtype, max(1, SHARD_TOKENS // block_size))
        for s_i, d_i in zip(src.tolist(), doc.tolist()):
            t = tables[s_i]
            writer.write_doc(t.arrays[t.file[d_i]][t.start[d_i]:t.end[d_i]])
        tail = writer.close()
        n_blocks = sum(s["blocks"] for s in writer.shards)
        if n_blocks == 0:
            raise InputError(f"CPT data {cfg.cpt.sources} yields no block of {block_size} tokens "
                             f"({sum(t.tokens for t in tables)} tokens in all): too small a corpus")
        (ctx.out_dir / TOKENIZER_FILE).write_text(tok_json)
        merge_s = time.time() - t1
        total_tokens = sum(t.tokens for t in tables)
        drawn = np.bincount(src, minlength=len(tables)).tolist()
        log(f"[tokenize] {total_tokens:,} tokens in {sum(counts):,} documents; mixed {len(src):,} documents into "
            f"{n_blocks:,} blocks of {block_size} ({tokenize_s:.1f} s tokenizing, {merge_s:.1f} s mixing)")
        return {
            "blocks": n_blocks,
            "block_size": block_size,
            "tokens": n_blocks * block_size,
            "token_dtype": str(dtype.name),
            "format": "datatrove .ds (raw little-endian tokens) + .ds.index (uint64 document ends); whole blocks per shard",
            "shards": writer.shards,
            "dropped_tail_tokens": int(tail),
            "eos_token_id": hf_tok.eos_token_id,
            "bos_token_id": hf_tok.bos_token_id,
            "vocab_size": len(hf_tok),
            "tokenizer": {"fingerprint": fingerprint, "file": TOKENIZER_FILE},
            "mixture": {"probabilities": list(cfg.cpt.probabilities), "seed": view["mixture_seed"],
                        "stopping": "all_exhausted", "documents_drawn": int(len(src))},
            "documents": [{"source": sid, "files": len(fs), "documents": n, "tokens": t.tokens, "drawn": d}
                          for sid, fs, n, t, d in zip(source_ids, files_by_source, counts, tables, drawn)],
            "stats": {
                "executor": executor_cfg.kind, "tasks": len(all_files), "tokenize_seconds": round(tokenize_s, 2),
                "mix_seconds": round(merge_s, 2), "source_tokens": total_tokens,
                "task_cpu_seconds": round(task_seconds, 2) if task_seconds else None,
                "tokens_per_s_per_core": round(total_tokens / task_seconds) if task_seconds else None,
                "empty_texts": int(step_stats.get(_FileReader.name, {}).get("empty_text", {}).get("total", 0))
                if isinstance(step_stats.get(_FileReader.name, {}).get("empty_text"), dict) else 0,
            },
        }

    result = run_stage(store, "tokenize", view, manifests, body, work_root, extra_key=extra_key)
    log(f"[tokenize] {'reused' if result.skipped else 'committed'} {result.manifest_uri}")
    return result


def _task_seconds(stats: list[dict]) -> float | None:
    """Seconds spent in the tokenizer step summed over tasks (~ core-seconds: one task = one process)."""
    for s in stats:
        if "Writer" in s.get("name", "") or "TOKENIZER" in s.get("name", ""):
            t = s.get("time_stats") or {}
            total = t.get("total") if isinstance(t, dict) else None
            if total:
                return float(total)
    return None
