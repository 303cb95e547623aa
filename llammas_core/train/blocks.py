"""Reading the tokenize stage's blocks: memory-mapped shards, block b by index, the per-pass schedule,
and one rank's slice of a run's samples (see llammas_core.train.tokenize for the format and the
global-index arithmetic)."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Iterator

import numpy as np

from llammas_core.errors import InputError

class TokenBlocks:
    """The committed blocks of a tokenize stage, memory-mapped: blocks[b] -> np.ndarray[block_size]."""

    def __init__(self, folder: str | Path, manifest: dict, paths: list[Path] | None = None):
        self.folder = Path(folder)
        self.manifest = manifest
        self.block_size = int(manifest["block_size"])
        self.dtype = np.dtype(manifest["token_dtype"]).newbyteorder("<")
        self.shards = manifest["shards"]
        self.paths = paths or [self.folder.parent / s["path"] for s in self.shards]
        self.offsets = np.cumsum([0] + [s["blocks"] for s in self.shards]).tolist()
        self._maps: dict[int, np.memmap] = {}

    def __len__(self) -> int:
        return self.offsets[-1]

    def _map(self, i: int) -> np.memmap:
        m = self._maps.get(i)
        if m is None:
            m = np.memmap(self.paths[i], dtype=self.dtype, mode="r")
            self._maps[i] = m
        return m

    def __getitem__(self, b: int) -> np.ndarray:
        if not 0 <= b < len(self):
            raise IndexError(f"block {b} outside [0, {len(self)})")
        i = bisect.bisect_right(self.offsets, b) - 1
        k = b - self.offsets[i]
        return self._map(i)[k * self.block_size:(k + 1) * self.block_size]

    def __getstate__(self):  # DataLoader workers re-open their own maps
        return {**self.__dict__, "_maps": {}}


def open_blocks(manifest_uri: str, cache_dir: str | Path | None = None) -> TokenBlocks:
    """The blocks of a committed tokenize stage, each shard's size and sha256 checked against the manifest
    (llammas_core.stage.committed_file): read in place from a local store, or downloaded once into
    `cache_dir` under a file lock, so the processes of one node share one verified copy."""
    from filelock import FileLock

    from llammas_core.stage import committed_file, open_manifest

    store, manifest = open_manifest(manifest_uri)
    if manifest.get("stage") != "tokenize" or "shards" not in manifest:
        raise InputError(f"{manifest_uri} is not a tokenize stage manifest")
    cache = Path(cache_dir or Path.cwd() / ".llammas-token-cache")
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / (manifest["id"].replace("/", "-") + ".lock"))):
        paths = [committed_file(store, manifest, s["path"], cache) for s in manifest["shards"]]
    return TokenBlocks(paths[0].parent, manifest, paths)


class BlockSchedule:
    """Global sample index -> block index over `n` training blocks, pass after pass (see module doc)."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        if n <= 0:
            raise InputError("no training blocks (all held out for validation, or an empty tokenize stage)")
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self._epoch, self._perm = -1, None

    def __call__(self, g: int) -> int:
        epoch, pos = divmod(int(g), self.n)
        if not self.shuffle:
            return pos
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._epoch = epoch
        return int(self._perm[pos])


def rank_sample(k: int, rank: int, world: int, micro: int) -> int:
    """The global sample index of rank `rank`'s k-th sample (micro-batches interleaved over ranks)."""
    j, i = divmod(k, micro)
    return j * micro * world + rank * micro + i


class CPTBlocks:
    """One rank's view of the run's samples as a map-style dataset: item k is this rank's (start + k)-th
    sample, as {"input_ids", "labels"} (labels = input_ids: loss on every token)."""

    def __init__(self, blocks: TokenBlocks, schedule: BlockSchedule, rank: int, world: int, micro: int,
                 start: int, length: int):
        self.blocks, self.schedule = blocks, schedule
        self.rank, self.world, self.micro = rank, world, micro
        self.start, self.length = start, length

    def __len__(self) -> int:
        return self.length

    def global_index(self, k: int) -> int:
        return rank_sample(self.start + k, self.rank, self.world, self.micro)

    def __getitem__(self, k: int) -> dict:
        import torch

        if not 0 <= k < self.length:
            raise IndexError(k)
        ids = torch.from_numpy(self.blocks[self.schedule(self.global_index(k))].astype(np.int64))
        return {"input_ids": ids, "labels": ids.clone()}


class HeldOutBlocks:
    """Blocks [first, first + n) as a map-style dataset (the validation slice)."""

    def __init__(self, blocks: TokenBlocks, first: int, n: int):
        self.blocks, self.first, self.n = blocks, first, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> dict:
        import torch

        if not 0 <= k < self.n:
            raise IndexError(k)
        ids = torch.from_numpy(self.blocks[self.first + k].astype(np.int64))
        return {"input_ids": ids, "labels": ids.clone()}


def iter_stream_blocks(blocks: TokenBlocks) -> Iterator[list[int]]:
    """The blocks in stream order, as lists (tests, inspection)."""
    for b in range(len(blocks)):
        yield blocks[b].tolist()
