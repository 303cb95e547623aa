"""Machine translation fanned out over N workers (`translator.workers`), each holding one model and,
on a GPU machine, one GPU.

The unit of work is a chunk: `translator.chunk_segments` distinct segments, cut from the segments
still missing from the cache in the same order as with one worker (mt.translate_segments). A worker
translates a chunk whole, writes it to the segment cache in the store as its own shard (writer tag
`w<i>`: no two workers write the same shard name) and only then takes the next chunk. Hence:
- the output is byte-identical to one worker: every chunk is translated by the same model in the
  same batches whichever worker takes it, and the parent reads every translation back from the cache;
- a worker killed mid-chunk loses that chunk only: the pool stops with a TransientError (the
  orchestrator retries) and the rerun finds every flushed chunk in the cache;
- the workers share nothing but the store, so they run wherever the store is reachable.

Two launchers run the same `ChunkWorker`:
- local processes (default): a spawn-context ProcessPoolExecutor; worker i sees one GPU through
  CUDA_VISIBLE_DEVICES (GPUs round-robin when there are more workers than GPUs). No daemon to start:
  the simplest way to use the GPUs of one machine.
- Ray actors (`translator.ray_address`: "auto", "host:port", or "local" for a Ray started here):
  one GPU each through Ray's `num_gpus`, on any node of the cluster; the store must then be one all
  nodes reach (S3, or a shared file system).
The parent keeps its own translator for splitting texts (the tokenizer) and for the cache identity;
it is loaded on the CPU (mt_parent_config) so the GPUs stay the workers'.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, wait
from typing import Callable, Iterator

from llammas_core.errors import ConfigError, TransientError
from llammas_core.instructions.cache import SegmentCache
from llammas_core.instructions.translate.config import TranslatorConfig
from llammas_core.store import Store

__all__ = ["ChunkWorker", "WorkerPool", "start_workers", "mt_parent_config"]


def mt_parent_config(cfg: TranslatorConfig) -> TranslatorConfig:
    """The config of the parent's translator: with workers, a local model loads on the CPU (it only
    splits texts and names the model; the identity does not depend on the device)."""
    if cfg.workers > 1 and cfg.backend != "openai":
        return cfg.model_copy(update={"device": "cpu"})
    return cfg


def store_spec(store: Store) -> dict:
    """What a worker needs to open the same store (a Store object itself does not pickle: boto3)."""
    spec = {"uri": store.uri}
    if getattr(store, "endpoint_url", None):
        spec["endpoint_url"] = store.endpoint_url
    if getattr(store, "region", None):
        spec["region"] = store.region
    if getattr(store, "umask", None) is not None:
        spec["umask"] = store.umask
    return spec


class ChunkWorker:
    """One model; translates chunks into the shared segment cache, one shard per chunk."""

    def __init__(self, cfg: dict, spec: dict, identity: dict, index: int, gpu: str | None = None):
        from llammas_core.instructions.translate import make_translator
        from llammas_core.store import open_store

        if gpu is not None:  # before the backend initialises CUDA
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        tcfg = TranslatorConfig.model_validate(cfg)
        if gpu is not None and tcfg.device.startswith("cuda:"):
            tcfg = tcfg.model_copy(update={"device": "cuda"})  # the one GPU this worker sees
        self.index = index
        self.translator = make_translator(tcfg)
        if self.translator.identity() != identity:
            raise RuntimeError(f"MT worker {index} loaded a different model than the parent "
                               f"({self.translator.identity()} != {identity})")
        self.cache = SegmentCache(open_store(**spec), identity, writer=f"w{index}", write_only=True)

    def run(self, chunk: list[str]) -> int:
        outs = self.translator.translate_checked(chunk)
        if len(outs) != len(chunk):
            raise RuntimeError(f"translator returned {len(outs)} translations for {len(chunk)} segments")
        self.cache.put_many({s: t for s, (t, _) in zip(chunk, outs)}, {s: p for s, (_, p) in zip(chunk, outs) if p})
        return self.cache.flush()

    def pid(self) -> int:
        return os.getpid()


# --------------------------------------------------------------------------- local processes

_worker: ChunkWorker | None = None
_barrier = None


def _init_local(cfg: dict, spec: dict, identity: dict, slots, barrier) -> None:
    global _worker, _barrier
    index, gpu = slots.get()
    _worker, _barrier = ChunkWorker(cfg, spec, identity, index, gpu), barrier


def _ready() -> int:
    """Run once by each worker at start: none returns before all have loaded their model (so one
    that loads first cannot take every chunk, and every worker exists when work begins)."""
    _barrier.wait(timeout=READY_TIMEOUT_S)
    return os.getpid()


def _run_local(chunk: list[str]) -> int:
    return _worker.run(chunk)


READY_TIMEOUT_S = 1800


def _gpus(cfg: TranslatorConfig) -> list[str]:
    """The GPUs the local workers split between them: none for the CPU or an endpoint."""
    if cfg.backend == "openai" or cfg.device == "cpu":
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


class WorkerPool:
    """N workers; `translate(chunks)` yields the segments each finished chunk flushed."""

    def __init__(self, cfg: TranslatorConfig, store: Store, identity: dict):
        self.n = cfg.workers
        self.ray = cfg.ray_address
        args = (cfg.model_dump(mode="json"), store_spec(store), identity)
        if self.ray:
            self._start_ray(cfg, args)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            ctx = multiprocessing.get_context("spawn")  # never fork a process that may hold CUDA or threads
            gpus = _gpus(cfg)
            self.gpus = [gpus[i % len(gpus)] if gpus else None for i in range(self.n)]
            slots = ctx.Queue()
            for i, g in enumerate(self.gpus):
                slots.put((i, g))
            self.executor = ProcessPoolExecutor(self.n, mp_context=ctx, initializer=_init_local,
                                                initargs=(*args, slots, ctx.Barrier(self.n)))
            # one submission each starts the n processes (spawned on demand); each runs one _ready
            self._pids = list(self._local_results([self.executor.submit(_ready) for _ in range(self.n)], "start"))

    def _start_ray(self, cfg: TranslatorConfig, args: tuple) -> None:
        import ray

        self._own_ray = not ray.is_initialized()  # started here: shut down on close
        if self._own_ray:
            ray.init(address=None if self.ray == "local" else self.ray, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        have = ray.cluster_resources()
        want_gpu = cfg.backend != "openai" and cfg.device != "cpu" and have.get("GPU", 0) > 0
        if have.get("CPU", 0) < self.n or (want_gpu and have.get("GPU", 0) < self.n):
            if self._own_ray:
                ray.shutdown()
            raise ConfigError(f"the Ray cluster at {self.ray} has {have.get('CPU', 0):g} CPUs and {have.get('GPU', 0):g} "
                              f"GPUs: too few for translator.workers {self.n} (one CPU{' and one GPU' if want_gpu else ''} "
                              "each); the actors would wait forever")
        actor = ray.remote(num_cpus=1, num_gpus=1 if want_gpu else 0)(ChunkWorker)
        self.gpus = ["ray"] * self.n if want_gpu else [None] * self.n
        self.actors = [actor.remote(*args, i) for i in range(self.n)]

    def pids(self) -> list[int]:
        """Process ids of the workers (Ray: of its actors)."""
        if self.ray:
            import ray

            return ray.get([a.pid.remote() for a in self.actors])
        return list(self._pids)

    def translate(self, chunks: list[list[str]]) -> Iterator[int]:
        """Hand every chunk to a free worker; yield as each chunk is in the store. A dead worker
        stops the pool with a TransientError (the chunks flushed so far stay in the cache)."""
        if self.ray:
            yield from self._translate_ray(chunks)
            return
        yield from self._local_results([self.executor.submit(_run_local, c) for c in chunks], "translate")

    def _local_results(self, futures: list, what: str) -> Iterator:
        from concurrent.futures.process import BrokenProcessPool

        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        except BrokenProcessPool as exc:
            if what == "start":
                raise RuntimeError(f"an MT worker failed to start (see its error above): {exc}") from None
            raise TransientError(f"an MT worker died (killed or out of memory): {exc}; the chunks it flushed "
                                 "are in the segment cache and a rerun translates only the rest") from None
        finally:
            for f in pending:
                f.cancel()

    def _translate_ray(self, chunks: list[list[str]]) -> Iterator[int]:
        import ray
        from ray.exceptions import RayActorError

        todo, busy = list(reversed(chunks)), {}
        free = list(self.actors)
        try:
            while todo or busy:
                while todo and free:
                    a = free.pop()
                    busy[a.run.remote(todo.pop())] = a
                ready, _ = ray.wait(list(busy), num_returns=1)
                for ref in ready:
                    free.append(busy.pop(ref))
                    yield ray.get(ref)
        except RayActorError as exc:
            raise TransientError(f"an MT worker (Ray actor) died: {type(exc).__name__}; the chunks it flushed are "
                                 "in the segment cache and a rerun translates only the rest") from None

    def close(self) -> None:
        if self.ray:
            import ray

            for a in self.actors:
                ray.kill(a)
            if self._own_ray:
                ray.shutdown()
        else:
            self.executor.shutdown(wait=True, cancel_futures=True)


def start_workers(cfg: TranslatorConfig, store: Store, identity: dict,
                  log: Callable[[str], None] = print) -> WorkerPool | None:
    """The worker pool of `cfg` (None for one worker: the parent translates itself, as always)."""
    if cfg.workers <= 1:
        return None
    pool = WorkerPool(cfg, store, identity)
    where = f"Ray actors at {cfg.ray_address}" if cfg.ray_address else "local processes"
    gpus = ", ".join(g for g in pool.gpus if g) or "none"
    log(f"[translate] {cfg.workers} MT workers ({where}); GPUs: {gpus}; {cfg.chunk_segments} segments a chunk")
    return pool
