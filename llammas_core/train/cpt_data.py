"""Continued-pretraining data readers and the reference semantics of the CPT stream.

The trainer no longer reads text: the `tokenize` stage (llammas_core.train.tokenize) turns the corpora
into token blocks once, and the trainer reads blocks by index. This module keeps what that stage reads
with (`iter_records`, `resolve_files`, `iter_texts`; also used for SFT data) and the streaming reference
of the stream it must reproduce (`interleave`, `pack_blocks`): tests check that the tokenize stage's
blocks equal `pack_blocks(interleave(...))` exactly.

The Llammas recipe: Estonian/English documents interleaved 75/25 with
`datasets.interleave_datasets(..., stopping_strategy="first_exhausted")` semantics (a streamed prefix of
each source, never a repeated document), each document
tokenized with the tokenizer's own special tokens (Llama adds BOS) and followed by EOS, all
concatenated and cut into fixed `block_size` blocks (tail dropped), loss on every token.

Everything streams: corpus shards are read row-group by row-group.

Sources (`iter_texts`):
- a corpus manifest URI (`file://.../manifest.json`, `s3://.../manifest.json`) or its stage folder:
  the manifest's `data/*.parquet` (also `data/*.jsonl[.gz]`) shards, in manifest order;
- a plain `.parquet` / `.jsonl` / `.jsonl.gz` file (local path, file:// or s3://), or a folder /
  S3 prefix holding such files (sorted by key, searched recursively).
Files in a non-local store are copied to a temporary file one at a time (bounded disk, no memory
blow-up), then deleted.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import urlparse

from llammas_core.errors import ConfigError, InputError
from llammas_core.stage import MANIFEST, committed_file, open_manifest
from llammas_core.store import LocalStore, Store, local_copy, open_uri

TEXT_EXTS = (".parquet", ".jsonl", ".jsonl.gz")
TOKENIZE_BATCH = 256
PARQUET_BATCH_ROWS = 1024

__all__ = [
    "iter_texts",
    "iter_records",
    "resolve_files",
    "interleave",
    "pack_blocks",
]


# --------------------------------------------------------------------------- file resolution


def _has_ext(key: str, exts: tuple[str, ...]) -> bool:
    return key.lower().endswith(exts)


def _manifest_files(manifest_uri: str, exts: tuple[str, ...]) -> list[tuple[Store, str]]:
    """(store, key) of each data/ shard of a committed stage, in manifest order, after the shards of
    the stages it `includes` (a corpus refresh includes the earlier increments it was deduplicated
    against: together they are the corpus). Each shard's size and sha256 are checked (committed_file):
    in place for a local store, as a verified copy in the cache folder for a remote one."""
    store, manifest = open_manifest(manifest_uri)
    cache = Path(os.environ.get("LLAMMAS_CACHE_DIR", Path.home() / ".cache" / "llammas")) / "verified"
    out: list[tuple[Store, str]] = []
    seen: set[str] = set()

    def add(m: dict) -> None:
        if m["id"] in seen:
            return
        seen.add(m["id"])
        for included in m.get("includes", []):
            add(store.read_json(f"{included}/{MANIFEST}"))
        for f in m.get("files", []):
            if f["path"].startswith("data/") and _has_ext(f["path"], exts):
                path = committed_file(store, m, f["path"], cache)
                out.append((LocalStore(path.parent), path.name))

    add(manifest)
    return out


def resolve_files(source: str, exts: tuple[str, ...] = TEXT_EXTS) -> list[tuple[Store, str]]:
    """The readable files behind a source, in reading order; InputError when there are none."""
    if not source:
        raise InputError("empty data source")
    parsed = urlparse(source)
    if parsed.scheme not in ("", "file", "s3"):
        raise InputError(f"unsupported data source scheme {parsed.scheme!r} in {source!r} (use a path, file:// or s3://)")
    found: list[tuple[Store, str]]
    if source.rstrip("/").endswith("/" + MANIFEST) or source.rstrip("/") == MANIFEST:
        found = _manifest_files(source, exts)
    elif parsed.scheme == "s3":
        store, key = open_uri(source)
        key = key.rstrip("/")
        if _has_ext(key, exts):
            found = [(store, key)] if store.exists(key) else []
        elif store.exists(f"{key}/{MANIFEST}" if key else MANIFEST):
            found = _manifest_files(source, exts)
        else:
            found = [(store, k) for k, _ in store.list(key + "/" if key else "") if _has_ext(k, exts)]
    else:
        path = Path(parsed.path if parsed.scheme == "file" else source).expanduser()
        if path.is_file():
            found = [(LocalStore(path.parent), path.name)] if _has_ext(path.name, exts) else []
            if not found:
                raise InputError(f"{source}: unsupported file type (expected one of {', '.join(exts)})")
        elif path.is_dir():
            if (path / MANIFEST).is_file():
                found = _manifest_files(path.resolve().as_uri(), exts)
            else:
                store = LocalStore(path)
                found = [(store, k) for k, _ in store.list("") if _has_ext(k, exts)]
        else:
            raise InputError(f"data source {source} does not exist")
    if not found:
        raise InputError(f"no readable data files ({', '.join(exts)}) in {source}")
    return found


def _iter_jsonl(path: Path, url: str) -> Iterator:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{url}:{lineno}: invalid JSON ({e.msg})") from None


def _iter_parquet(path: Path, url: str, columns: list[str] | None) -> Iterator[dict]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid / OSError for broken files
        raise InputError(f"{url}: not a readable Parquet file ({e})") from None
    names = pf.schema_arrow.names
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise InputError(f"{url}: no column {missing[0]!r} (columns: {', '.join(names)})")
    # Row group by row group (iter_batches never reads more than one row group at a time).
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns):
        yield from batch.to_pylist()


def _iter_json_list(path: Path, url: str) -> Iterator:
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise InputError(f"{url}: invalid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, list):
        raise InputError(f"{url}: expected a JSON list of records, got {type(data).__name__}")
    yield from data


def iter_records(
    source: str, exts: tuple[str, ...] = TEXT_EXTS, columns: list[str] | None = None
) -> Iterator:
    """Every record (a dict, or a bare JSON value in JSONL) of every file behind `source`, in order.

    Resolution happens at call time (errors surface immediately), reading lazily.
    """
    files = resolve_files(source, exts)

    def gen():
        for store, key in files:
            url = store.url(key)
            with local_copy(store, key) as path:
                low = key.lower()
                if low.endswith(".parquet"):
                    yield from _iter_parquet(path, url, columns)
                elif low.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
                    yield from _iter_jsonl(path, url)
                elif low.endswith(".json"):
                    yield from _iter_json_list(path, url)
                else:  # pragma: no cover - filtered by resolve_files
                    raise InputError(f"{url}: unsupported file type")

    return gen()


def iter_texts(source: str, text_field: str = "text") -> Iterator[str]:
    """Stream the non-empty `text_field` strings of a corpus manifest, file or folder, in order.

    Raises InputError at call time when the source has no readable file, and while iterating for
    a shard without the text column or when the whole source held no text.
    """
    records = iter_records(source, TEXT_EXTS, columns=[text_field])

    def gen():
        n = 0
        for rec in records:
            text = rec.get(text_field) if isinstance(rec, dict) else rec
            if isinstance(text, str) and text:
                n += 1
                yield text
        if n == 0:
            raise InputError(f"{source}: no non-empty {text_field!r} values")

    return gen()


# --------------------------------------------------------------------------- mixing


_UNSET, _END = object(), object()

StreamSource = Callable[[], Iterable[str]] | Iterable[str]


def _open(stream: StreamSource) -> Iterator[str]:
    """An iterator over a stream given as a zero-arg callable, an iterable or an iterator."""
    return iter(stream()) if callable(stream) and not hasattr(stream, "__iter__") else iter(stream)


def interleave(
    streams: list[StreamSource], probabilities: list[float], seed: int
) -> Iterator[str]:
    """Sample documents from streams by probability until the first stream runs out: no repeats.

    Same semantics as `datasets.interleave_datasets(..., probabilities, seed,
    stopping_strategy="first_exhausted")`: at each step a stream is drawn with the given
    probabilities (numpy Generator seeded with `seed`, drawn in batches of 1000); iteration stops
    right after the last document of the first stream to end has been taken. A prefix of each stream
    is used, each document at most once. Deterministic for a seed.

    Each stream is a zero-argument callable returning a fresh iterator (e.g. `lambda: iter_texts(uri)`),
    a re-iterable (list, ...) or a one-shot iterator. Every probability must be > 0 (ConfigError). An
    empty stream ends the interleave when it is first drawn.
    """
    import numpy as np

    if len(streams) != len(probabilities):
        raise ConfigError(f"interleave: {len(streams)} streams but {len(probabilities)} probabilities")
    if not streams:
        raise ConfigError("interleave: no streams")
    probs = np.asarray(probabilities, dtype=np.float64)
    if not np.all(np.isfinite(probs)) or np.any(probs <= 0):
        raise ConfigError(f"interleave: probabilities must be > 0, got {list(probabilities)}")
    probs = probs / probs.sum()

    def gen():
        rng = np.random.default_rng(seed)
        n = len(streams)
        iterators = [_open(s) for s in streams]
        # One example of look-ahead per stream, as datasets does: a stream counts as exhausted as soon
        # as its last example has been taken, so iteration stops right after it.
        nexts: list = [_UNSET] * n
        while True:
            for i in rng.choice(n, size=1000, p=probs):
                i = int(i)
                if nexts[i] is _UNSET:
                    nexts[i] = next(iterators[i], _END)
                result = nexts[i]
                nexts[i] = next(iterators[i], _END)
                if result is not _END:
                    yield result
                if nexts[i] is _END:
                    return

    return gen()


# --------------------------------------------------------------------------- packing


def _batched(items: Iterable[str], n: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def pack_blocks(
    texts: Iterable[str], tokenizer, block_size: int, batch_size: int = TOKENIZE_BATCH
) -> Iterator[list[int]]:
    """Tokenize documents streaming and cut their concatenation into fixed blocks (tail dropped).

    Each document is encoded with the tokenizer's own special tokens (`add_special_tokens=True`:
    a Llama tokenizer puts BOS at the document start, nothing else) and followed by EOS unless
    the tokenizer already ended it with EOS. So consecutive documents are separated by EOS (and
    BOS where the tokenizer adds one); blocks may start or end mid-document, as in the recipe.
    Texts are tokenized `batch_size` at a time (fast tokenizer batch encode).
    """
    if block_size < 2:
        raise ConfigError(f"block_size must be >= 2, got {block_size}")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ConfigError("tokenizer has no EOS token: documents cannot be separated")

    def gen():
        buf: list[int] = []
        for batch in _batched(texts, batch_size):
            batch = [t for t in batch if t]
            if not batch:
                continue
            enc = tokenizer(batch, add_special_tokens=True, return_attention_mask=False, verbose=False)
            for ids in enc["input_ids"]:
                buf.extend(ids)
                if not ids or ids[-1] != eos:
                    buf.append(eos)
            if len(buf) >= block_size:
                n_full = len(buf) // block_size
                for b in range(n_full):
                    yield buf[b * block_size:(b + 1) * block_size]
                buf = buf[n_full * block_size:]

    return gen()
