"""Content-addressed cache of translated segments in the store.

Layout: `cache/mt/<id>/identity.json` and `cache/mt/<id>/shards/<time>-<random>.jsonl`, where
<id> is the sha256 of the translator identity (backend, model + revision/fingerprint, decoding
settings, language pair): two configs that share those share the cache, whatever else differs.
Each line of a shard is {"k": sha256(source segment), "t": translation}, plus "p": the problem
the backend reported (output_truncated, source_truncated) when there was one, so a resumed run
quarantines the same records without translating them again. Shards are only ever
added, one per flush, each written atomically by the store (it appears whole or not at all), so
a run killed at any moment leaves a readable cache and the rerun translates only what is missing.
Concurrent writers never clash: a shard name holds the writer's tag (the MT worker's number, see
fanout.py) and random bytes; a key present twice has the same value. A writer-only cache (the
fan-out workers') never reads the shards: the parent that split the work reads them once, after.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from llammas_core.stage import canonical_json
from llammas_core.store import Store

__all__ = ["SegmentCache", "identity_hash", "segment_key"]

PREFIX = "cache/mt"


def identity_hash(identity: dict) -> str:
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:24]


def segment_key(segment: str) -> str:
    return hashlib.sha256(segment.encode("utf-8")).hexdigest()


class SegmentCache:
    def __init__(self, store: Store, translator_identity: dict, writer: str = "", write_only: bool = False):
        self.store = store
        self.writer = "".join(c for c in writer if c.isalnum() or c in "_.")  # goes into shard names
        self.identity = translator_identity
        self.id = identity_hash(translator_identity)
        self.prefix = f"{PREFIX}/{self.id}"
        self.write_only = write_only
        self._data: dict[str, str] | None = {} if write_only else None
        self._pending: dict[str, str] = {}
        self._problems: dict[str, str] = {}  # segment key -> reported problem (flushed and pending)
        self.hits = 0
        self.misses = 0

    def _load(self) -> dict[str, str]:
        if self._data is None:
            data: dict[str, str] = {}
            for key, _ in self.store.list(f"{self.prefix}/shards"):
                if not key.endswith(".jsonl"):
                    continue
                with self.store.open_read(key) as f:
                    # one flush's worth (small); read whole: an S3 body iterates in chunks, not lines
                    for line in f.read().decode("utf-8").splitlines():
                        if line.strip():
                            rec = json.loads(line)
                            data[rec["k"]] = rec["t"]
                            if rec.get("p"):
                                self._problems[rec["k"]] = rec["p"]
            self._data = data
            if not self.store.exists(f"{self.prefix}/identity.json"):
                self.store.write_json(f"{self.prefix}/identity.json", self.identity)
        return self._data

    def __len__(self) -> int:
        return len(self._load()) + len(self._pending)

    def reload(self) -> None:
        """Forget what was read: the next lookup reads every shard again (those other writers added)."""
        if self._pending:
            raise RuntimeError("SegmentCache.reload with unflushed translations")
        self._data = None

    def get_many(self, segments: list[str], count: bool = True) -> dict[str, str]:
        """{segment: translation} for the segments already translated (flushed or pending);
        count=False leaves the hit/miss counters alone."""
        data = self._load()
        out = {}
        for s in segments:
            k = segment_key(s)
            t = self._pending.get(k, data.get(k))
            if t is not None:
                out[s] = t
        if count:
            self.hits += len(out)
            self.misses += len(set(segments)) - len(out)
        return out

    def problems(self, segments: list[str]) -> dict[str, str]:
        """{segment: problem} for the translated segments the backend reported a problem for."""
        self._load()
        return {s: p for s in segments if (p := self._problems.get(segment_key(s)))}

    def put_many(self, pairs, problems: dict[str, str] | None = None) -> None:
        """Add (segment, translation) pairs, with {segment: problem} for those the backend flagged;
        they reach the store at the next flush()."""
        items = pairs.items() if isinstance(pairs, dict) else pairs
        for s, t in items:
            self._pending[segment_key(s)] = t
        for s, p in (problems or {}).items():
            self._problems[segment_key(s)] = p

    def flush(self) -> int:
        """Write the pending pairs as one new shard (atomically); returns how many were written."""
        if not self._pending:
            return 0
        data = self._load()
        tag = f"{self.writer}-" if self.writer else ""
        name = f"{self.prefix}/shards/{time.time_ns():020d}-{tag}{os.urandom(4).hex()}.jsonl"
        with self.store.open_write(name) as f:
            for k, t in self._pending.items():
                rec = {"k": k, "t": t, "p": self._problems[k]} if k in self._problems else {"k": k, "t": t}
                f.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
        n = len(self._pending)
        if not self.write_only:
            data.update(self._pending)
        self._pending = {}
        return n
